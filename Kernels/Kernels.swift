// The OpenCL C sources in this folder are embedded into `EmbeddedKernels.sources` by the
// EmbedKernels build-tool plugin; this file only makes the folder a Swift target.
