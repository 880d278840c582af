// swift-tools-version: 6.0
import PackageDescription

let systemLibraries: [Target] = [
    .systemLibrary(name: "COpenCL", path: "Sources/COpenCL",
                   providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]),
    .systemLibrary(name: "CCLBlast", path: "Sources/CCLBlast",
                   providers: [.apt(["libclblast-dev"])]),
    .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                   providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
]

let package = Package(
    name: "Tandem",
    products: [
        .library(name: "Tandem", targets: ["Tandem"]),
        .executable(name: "tandem", targets: ["TandemCLI"]),
        // The C API: libCTandem.so (scripts/make-libtandem.sh renames it libtandem.so), header include/tandem.h.
        .library(name: "CTandem", type: .dynamic, targets: ["CTandem"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
    ],
    targets: systemLibraries + [
        // Build time: Kernels/*.cl and Sources/TandemABI become the ABI header, the embedded
        // sources and one typed Swift launch per kernel (Sources/KernelGenerator).
        .executableTarget(name: "KernelGenerator", dependencies: ["TandemABI"], path: "Sources/KernelGenerator"),
        .plugin(name: "EmbedKernels", capability: .buildTool(), dependencies: ["KernelGenerator"],
                path: "Plugins/EmbedKernels"),
        .target(name: "TandemKernels", dependencies: ["TandemCore"], path: "Kernels", plugins: ["EmbedKernels"]),

        // The Swift ↔ OpenCL C contract (op codes, flags, parameter blocks); no dependencies.
        .target(name: "TandemABI"),
        // Tensors, the graph and autodiff, the ops (shape rules and gradients), the primitive
        // protocols and their reference compositions, optimizers. No device code, no Foundation.
        .target(name: "TandemCore", dependencies: ["TandemABI"]),
        // The backends: the CPU (OpenBLAS) and OpenCL (CLBlast, Kernels/*.cl).
        .target(name: "TandemCPU", dependencies: ["TandemCore", "CBLAS"]),
        .target(name: "TandemOpenCL", dependencies: ["TandemCore", "COpenCL", "CCLBlast", "TandemKernels"]),
        // JSON reading and writing for reports, configurations and file headers.
        .target(name: "TandemSupport"),
        .target(name: "TandemNN", dependencies: ["TandemCore"]),
        .target(name: "TandemData", dependencies: ["TandemCore", "TandemSupport", "CZlib"]),
        // Collectives between ranks (MPI, loaded at run time) for data-parallel training.
        .target(name: "TandemDistributed", dependencies: ["TandemCore"]),
        .target(name: "TandemMTL", dependencies: ["TandemCore", "TandemNN", "TandemData", "TandemSupport", "TandemDistributed"]),
        .target(name: "Tandem", dependencies: ["TandemCore", "TandemCPU", "TandemOpenCL", "TandemSupport", "TandemNN",
                                               "TandemData", "TandemMTL", "TandemDistributed"]),
        // A run's metrics as it trains (metrics.jsonl, metrics.csv, a TensorBoard event file) and its
        // report picture (SVG). Not a core module: SwiftProtobuf brings Foundation, so neither the
        // `Tandem` umbrella nor the C API depends on it; the CLI and the tests do.
        .target(name: "TandemRunLog", dependencies: [
            "TandemCore", "TandemMTL", "TandemSupport",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["tensorboard_event.proto"]),
        // The C API: include/tandem.h as a module, so that @c @implementation checks every function against it.
        .systemLibrary(name: "CTandemHeader", path: "include"),
        .target(name: "CTandem", dependencies: ["Tandem", "CTandemHeader"]),
        .executableTarget(name: "TandemCLI", dependencies: [
            "Tandem", "TandemRunLog",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Kernel lab and library baselines (not tests: `swift run -c release tandem-gemm-bench`).
        .executableTarget(name: "GemmBench", dependencies: ["Tandem", "CBLAS", "CCLBlast", "COpenCL"],
                          path: "Benchmarks/GemmBench"),
        .executableTarget(name: "ConvBench", dependencies: ["Tandem"], path: "Benchmarks/ConvBench"),
        .executableTarget(name: "FusedBench", dependencies: ["Tandem"], path: "Benchmarks/FusedBench"),

        // Runs a command and writes its peak resident memory (for the reader memory tests).
        .executableTarget(name: "PeakMemory", path: "Tests/PeakMemory"),
        .testTarget(name: "TandemTests", dependencies: ["Tandem", "TandemOpenCL", "TandemCPU", "TandemCore", "TandemABI",
                                                    "TandemKernels", "TandemCLI", "TandemMTL", "TandemSupport", "TandemData", "CZlib", "PeakMemory",
                                                    "TandemRunLog", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
