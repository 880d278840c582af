/// Convolution primitives of a device that runs a batch image by image (the CPU): each image's
/// im2col block is built in cache and multiplied at once, so no batch-sized column matrix is
/// written. Devices without them get im2col + one GEMM over the batch + col2im (`Ops/Convolution.swift`).
/// Layouts: x [N, C, H, W], weight [O, C/groups, kh, kw], y and dy [N, O, OH, OW].
public protocol ImageConvolution {
    /// y = conv(x, weight) + bias.
    func conv2dForward(_ x: Buffer, weight: Buffer, bias: Buffer?, _ y: Buffer, geometry: ConvGeometry) throws
    /// dx = the adjoint of the convolution applied to dy.
    func conv2dInputGradient(_ dy: Buffer, weight: Buffer, _ dx: Buffer, geometry: ConvGeometry) throws
    /// dw = Σ over images of dy · im2col(x)ᵀ, and, when `biasGradient` is given, the bias gradient
    /// (dy summed over images and pixels) from the same pass over dy.
    func conv2dWeightGradient(_ x: Buffer, _ dy: Buffer, _ dw: Buffer, biasGradient: Buffer?, geometry: ConvGeometry) throws
}
