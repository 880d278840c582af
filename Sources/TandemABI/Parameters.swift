/// Parameter blocks of the kernels, passed by value as C structs of the same names and fields
/// (`tandem_abi.h`, generated). Kernels read them as `p.field`, so no geometry travels as
/// anonymous vector lanes. The OpenCL device fills them from the geometry types of TandemCore.

/// A 2-D convolution (`Kernels/convolution.cl`): NCHW input, [O, C/groups, kh, kw] weights.
public struct ConvolutionParameters: KernelParameters, Equatable {
    public var batch: Int32 = 0, channels: Int32 = 0, height: Int32 = 0, width: Int32 = 0
    public var outChannels: Int32 = 0, kernelH: Int32 = 0, kernelW: Int32 = 0, groups: Int32 = 0
    public var strideH: Int32 = 0, strideW: Int32 = 0, padH: Int32 = 0, padW: Int32 = 0
    public var dilationH: Int32 = 0, dilationW: Int32 = 0, outHeight: Int32 = 0, outWidth: Int32 = 0
    public init() {}
}

/// 2-D pooling over planes of N·C images (`Kernels/pooling.cl`).
public struct PoolingParameters: KernelParameters, Equatable {
    public var planes: Int32 = 0, height: Int32 = 0, width: Int32 = 0, outHeight: Int32 = 0, outWidth: Int32 = 0
    public var kernelH: Int32 = 0, kernelW: Int32 = 0, strideH: Int32 = 0, strideW: Int32 = 0
    public var padH: Int32 = 0, padW: Int32 = 0
    public init() {}
}

/// A bilinear or nearest-neighbour resize of planes [planes, height, width] to [outHeight, outWidth].
public struct ResizeParameters: KernelParameters, Equatable {
    public var planes: Int32 = 0, height: Int32 = 0, width: Int32 = 0, outHeight: Int32 = 0, outWidth: Int32 = 0
    /// 1: corners aligned (PyTorch's `align_corners=True`).
    public var alignCorners: Int32 = 0
    public init() {}
}

/// One (strided-batched) row-major GEMM, C = alpha·op(A)·op(B) + beta·C (`Kernels/matmul.cl`).
public struct GEMMParameters: KernelParameters, Equatable {
    public var m: Int32 = 0, n: Int32 = 0, k: Int32 = 0
    /// 1 when op(A) = Aᵀ, op(B) = Bᵀ.
    public var transposeA: Int32 = 0, transposeB: Int32 = 0
    public var lda: Int32 = 0, ldb: Int32 = 0, ldc: Int32 = 0
    public var offsetA: Int32 = 0, offsetB: Int32 = 0, offsetC: Int32 = 0
    public var strideA: Int32 = 0, strideB: Int32 = 0, strideC: Int32 = 0
    public var alpha: Float = 0, beta: Float = 0
    public init() {}
}

/// One SGD step (`Kernels/optimizer.cl`): momentum, dampening, Nesterov, L2 weight decay.
public struct SGDParameters: KernelParameters, Equatable {
    public var lr: Float = 0, momentum: Float = 0, dampening: Float = 0, weightDecay: Float = 0
    /// 1 for Nesterov momentum; 1 on the first step (the momentum buffer starts as the gradient).
    public var nesterov: Int32 = 0, first: Int32 = 0
    public init() {}
}

/// One Adam or AdamW step, bias corrections precomputed on the host: stepSize = lr/(1 − β₁ᵗ),
/// correction2 = √(1 − β₂ᵗ), decay = 1 − lr·weightDecay (AdamW).
public struct AdamParameters: KernelParameters, Equatable {
    public var beta1: Float = 0, beta2: Float = 0, epsilon: Float = 0, weightDecay: Float = 0
    public var stepSize: Float = 0, correction2: Float = 0, decay: Float = 0
    /// 1 for AdamW (decoupled weight decay).
    public var decoupled: Int32 = 0
    public init() {}
}

/// A classification loss over log-probabilities x [batch, classes, inner] at float class indices
/// target [batch, inner] (`Kernels/losses.cl`).
public struct ClassLossParameters: KernelParameters, Equatable {
    public var batch: Int32 = 0, classes: Int32 = 0, inner: Int32 = 0
    /// A label equal to this one does not count (when it names a class).
    public var ignoreIndex: Int32 = 0
    /// 0: no mask; 1: a mask per sample [batch]; 2: a mask per element [batch, inner].
    public var maskKind: Int32 = 0
    public init() {}
}
