/// The scratch memory a device takes from its pool while it runs one pass of a convolution, beyond
/// the tensors the op makes: what a dry run (`DryRunDevice`) charges for the pass, since it does not
/// run the device's algorithm. A convolution's scratch is the largest transient memory of most
/// image models (the im2col matrix is kernel-area times the input), so an estimate without it is
/// short. Each device describes its own (`Device.convolutionScratch`); the default is that of the
/// reference composition (`Composed.conv2dForward` and the others): the batch's whole im2col matrix.
public struct ConvolutionScratch: Sendable, Equatable {
    /// The three passes of a convolution (`FusedPrimitives`).
    public enum Pass: Sendable, Equatable {
        /// `conv2dForward`, with its `keep` argument.
        case forward(keep: Bool)
        /// `conv2dInputGradient`.
        case inputGradient
        /// `conv2dWeightGradient`; `saved` when the forward kept a buffer for it.
        case weightGradient(saved: Bool)
    }

    /// Floats of each buffer the pass holds at once while it runs.
    public var buffers: [Int]
    /// Whether the forward keeps its first buffer for the weight gradient (returns it as `saved`),
    /// so that it lives until the backward.
    public var keepsFirst: Bool

    public init(buffers: [Int], keepsFirst: Bool = false) {
        self.buffers = buffers
        self.keepsFirst = keepsFirst
    }
}
