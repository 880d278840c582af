/// The geometry and hyper-parameter types that primitives take (`Primitives`, `FusedPrimitives`).

/// Geometry of a 2-D convolution over NCHW input and [O, C/groups, kh, kw] weights.
public struct ConvGeometry: Sendable, Equatable {
    public var batch, channels, height, width: Int
    public var outChannels, kernelH, kernelW: Int
    public var strideH, strideW, padH, padW, dilationH, dilationW: Int
    public var groups: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, kernelH: Int, kernelW: Int,
                strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int, groups: Int) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.outChannels = outChannels; self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW; self.padH = padH; self.padW = padW
        self.dilationH = dilationH; self.dilationW = dilationW; self.groups = groups
    }

    public var outHeight: Int { (height + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    public var outWidth: Int { (width + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW + 1 }
    /// Rows of the im2col matrix: channels · kh · kw.
    public var colRows: Int { channels * kernelH * kernelW }
    /// Columns of the im2col matrix: batch · outHeight · outWidth.
    public var colCols: Int { batch * outHeight * outWidth }
}

/// Geometry of 2-D pooling over NCHW input (`planes` = N·C).
public struct PoolGeometry: Sendable, Equatable {
    public var planes, height, width: Int
    public var kernelH, kernelW, strideH, strideW, padH, padW: Int
    public var outHeight: Int { (height + 2 * padH - kernelH) / strideH + 1 }
    public var outWidth: Int { (width + 2 * padW - kernelW) / strideW + 1 }
}

/// A classification loss over log-probabilities x [batch, classes, inner] at class indices
/// target [batch, inner] (exact floats). A label counts when it names a class (0..<classes), is not
/// `ignoreIndex`, and the mask, if any, is nonzero there; its weight is the mask's value (1 without
/// a mask).
public struct ClassLossGeometry: Sendable, Equatable {
    public var batch, classes, inner: Int
    public var ignoreIndex: Int
    /// Whether the mask holds one value per sample [batch] rather than one per element [batch, inner].
    public var maskPerSample: Bool

    public init(batch: Int, classes: Int, inner: Int, ignoreIndex: Int, maskPerSample: Bool = false) {
        self.batch = batch; self.classes = classes; self.inner = inner
        self.ignoreIndex = ignoreIndex; self.maskPerSample = maskPerSample
    }
}

/// Geometry of one batch normalisation: x viewed as [batch, channels, inner] (inner = H·W, 1 for
/// [N, C] input), normalised per channel over its `count` = batch · inner values.
public struct BatchNormGeometry: Sendable, Equatable {
    public var batch, channels, inner: Int
    /// Batch statistics (training) or the running statistics (evaluation).
    public var training: Bool
    /// Weight of the new batch statistic in the running-statistics update.
    public var momentum: Float
    public var epsilon: Float
    /// The forward writes max(y, 0): batch norm and the ReLU after it in one pass (the op gates the
    /// gradient with y before the backward).
    public var relu: Bool

    public init(batch: Int, channels: Int, inner: Int, training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5,
                relu: Bool = false) {
        self.batch = batch; self.channels = channels; self.inner = inner
        self.training = training; self.momentum = momentum; self.epsilon = epsilon; self.relu = relu
    }

    /// Values per channel, M = N·H·W.
    public var count: Int { batch * inner }
    /// Elements of x (and y, dy, dx).
    public var elements: Int { batch * channels * inner }

    /// Throws unless the buffers hold what the geometry needs: `elements` for x-shaped ones and
    /// `channels` for per-channel ones (nil ones are skipped).
    public func validate(op: String, device: String, data: [Buffer?], perChannel: [Buffer?]) throws {
        guard batch >= 0, channels >= 0, inner >= 0 else {
            throw TandemError.invalidArgument(op: op, message: "negative geometry \(self) on \(device)")
        }
        guard !training || count > 0 else {
            throw TandemError.invalidArgument(op: op, message: "training needs values in each channel, got [\(batch), \(channels), \(inner)] on \(device)")
        }
        for case let b? in data where b.count < elements {
            throw TandemError.invalidArgument(
                op: op, message: "buffer of \(b.count) elements for [\(batch), \(channels), \(inner)] on \(device)")
        }
        for case let b? in perChannel where b.count < channels {
            throw TandemError.invalidArgument(op: op, message: "per-channel buffer of \(b.count) elements for \(channels) channels on \(device)")
        }
    }
}

/// Hyper-parameters of one fused optimizer step.
public struct SGDStep: Sendable {
    public var lr, momentum, dampening, weightDecay: Float
    public var nesterov: Bool
    /// The first step initialises the momentum buffer with the gradient.
    public var first: Bool
    public init(lr: Float, momentum: Float = 0, dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false, first: Bool) {
        self.lr = lr; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov; self.first = first
    }
}

public struct AdamStep: Sendable {
    public var lr, beta1, beta2, epsilon, weightDecay: Float
    /// AdamW: decay the weights directly instead of adding `weightDecay·θ` to the gradient.
    public var decoupled: Bool
    /// 1-based step number, for bias correction.
    public var step: Int
    public init(lr: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0,
                decoupled: Bool = false, step: Int) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay; self.decoupled = decoupled; self.step = step
    }
}

/// One parameter's SGD update in a batch of updates (`FusedPrimitives.sgdUpdates`).
public struct SGDUpdate {
    public var parameter, gradient, momentum: Buffer
    public var count: Int
    public var step: SGDStep
    public init(parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) {
        self.parameter = parameter; self.gradient = gradient; self.momentum = momentum
        self.count = count; self.step = step
    }
}

/// One parameter's Adam update in a batch of updates (`FusedPrimitives.adamUpdates`).
public struct AdamUpdate {
    public var parameter, gradient, m, v: Buffer
    public var count: Int
    public var step: AdamStep
    public init(parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) {
        self.parameter = parameter; self.gradient = gradient; self.m = m; self.v = v
        self.count = count; self.step = step
    }
}
