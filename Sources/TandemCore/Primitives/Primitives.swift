@_exported import TandemABI

/// The closed set of computations a device implements. Every tensor op is built from these; each
/// op's shape rule and gradient live once in `Ops/`, and each device supplies the forward
/// computation (`CPU/` here, `TandemOpenCL/Ops/` with `Kernels/*.cl` for OpenCL).
///
/// A device may also adopt `ImageConvolution` (the CPU does) to run convolutions its own way; the
/// ops fall back to these primitives otherwise.
///
/// Buffers passed in always belong to the device called; outputs are fully overwritten unless a
/// method says otherwise. Integer data (indices, labels) travels as exact floats (below 2^24).
public typealias Buffer = any DeviceBuffer

/// Geometry of a 2-D convolution over NCHW input and [O, C/groups, kh, kw] weights.
public struct ConvGeometry: Sendable, Equatable {
    public var batch, channels, height, width: Int
    public var outChannels, kernelH, kernelW: Int
    public var strideH, strideW, padH, padW, dilationH, dilationW: Int
    public var groups: Int

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

/// What a device computes besides memory and GEMM. Grouped by op family; the folder names under
/// `CPU/`, `TandemOpenCL/Ops/` and `Kernels/` follow the same families.
public protocol Primitives {
    // Elementwise (`elementwise.cl`)
    func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws
    /// `y[i] = a[layout(0,i)] op b[layout(1,i)]`, y contiguous.
    func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws
    /// `y[i] = c[...] != 0 ? a[...] : b[...]` (operands 0, 1, 2 of the layout).
    func select(_ condition: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws
    /// `y[layout(1,i)] = x[layout(0,i)]`: permutes, slices, broadcasts, pads and concatenations.
    func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws

    // Reductions (`reduce.cl`): x viewed as [outer, extent, inner] → y [outer, inner].
    func reduce(_ op: ReduceOp, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws
    /// Maximum and its index along the extent axis.
    func argmax(_ x: Buffer, values: Buffer, indices: Buffer, outer: Int, extent: Int, inner: Int) throws

    // Convolution (`convolution.cl`)
    /// col [C·kh·kw, N·OH·OW] from x [N, C, H, W] (zero outside the padded image).
    func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws
    /// x [N, C, H, W] = sum of the col entries that read each pixel (the adjoint of im2col).
    func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws

    // Pooling and resampling (`pooling.cl`, `resize.cl`), over planes of N·C images. Max-pool indices are flat into
    // each H·W input plane; padding is −∞ for max and counts in the average's kh·kw divisor.
    func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry: PoolGeometry) throws
    func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws
    func avgPool2d(_ x: Buffer, _ y: Buffer, geometry: PoolGeometry) throws
    func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws
    /// y [planes, outputSize] = 0 except y[p, index[p, i]] = x[p, i] for x, index [planes, inputSize];
    /// indices outside 0..<outputSize are skipped.
    func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws
    /// y[p, i] = x[p, index[p, i]] for x [planes, inputSize], y and index [planes, outputSize]
    /// (0 where the index is outside 0..<inputSize).
    func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws
    /// Bilinear resize of x [planes, h, w] to y [planes, oh, ow] (PyTorch's formulas for both corner
    /// modes). With `backward`, x is dy [planes, oh, ow] and y is dx [planes, h, w] (a gather).
    func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                        alignCorners: Bool, backward: Bool) throws
    /// Nearest-neighbour resize (source index ⌊i·in/out⌋). With `backward`, x is dy [planes, oh, ow]
    /// and y is dx [planes, h, w], each dx element the sum of the dy elements that read it.
    func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                       backward: Bool) throws

    // Classification losses (`losses.cl`): x [N, C, S], target [N, S].
    /// y[n, s] = x[n, target, s], 0 where the target is outside 0..<C (ignored labels).
    func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws
    /// dx[n, c, s] = dy[n, s] where c == target, else 0.
    func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws

    // Random numbers (`random.cl`): a counter-based stream, identical on every device.
    /// `count` floats uniform in [0, 1) for stream `seed`, starting at position `offset`.
    func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws

    // Fused multi-task kernels (`attention_gate.cl`, `cross_stitch.cl`)
    /// MTAN gating: y = sigmoid(z) · f.
    func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws
    /// dz = dy · f · s(1 − s), df = dy · s, with s = sigmoid(z).
    func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws
    /// x [T, N, C, S], alpha [C, T, T]: y[t, n, c] = Σ_s alpha[c, t, s] · x[s, n, c] (alpha[c, s, t]
    /// when `transposed`, which is the input gradient).
    func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int,
                     transposed: Bool) throws
    /// dalpha[c, t, s] = Σ_{n, p} dy[t, n, c, p] · x[s, n, c, p].
    func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int,
                                  inner: Int) throws

    // Batch normalisation (`batch_norm.cl`) of x [N, C, S] per channel c over its M = N·S values, with
    // per-channel [C] buffers; a nil weight means 1, a nil bias 0.
    /// Writes y = (x − mean)·invstd·weight + bias and the statistics it used, which the backward reads.
    /// Training: mean[c] and invstd[c] = 1/√(biased variance + ε) are the batch statistics, and
    /// `runningMean`/`runningVar`, where given, are updated in place to (1 − momentum)·running +
    /// momentum·batch (the variance unbiased, ·M/(M − 1), as PyTorch does; M must exceed 1).
    /// Evaluation: both running buffers are required inputs; mean = runningMean and
    /// invstd = 1/√(runningVar + ε).
    func batchNormForward(_ x: Buffer, _ y: Buffer, weight: Buffer?, bias: Buffer?, mean: Buffer, invstd: Buffer,
                          runningMean: Buffer?, runningVar: Buffer?, geometry: BatchNormGeometry) throws
    /// Gradients of `batchNormForward` from dy, with x̂ = (x − mean)·invstd and the forward's saved
    /// mean and invstd: dbias[c] = Σ dy, dweight[c] = Σ dy·x̂, and dx = weight·invstd/M ·
    /// (M·dy − Σ dy − x̂·Σ dy·x̂) in training (the statistics depend on x), weight·invstd·dy in
    /// evaluation. Only the non-nil outputs are written.
    func batchNormBackward(_ x: Buffer, _ dy: Buffer, weight: Buffer?, mean: Buffer, invstd: Buffer,
                           dx: Buffer?, dweight: Buffer?, dbias: Buffer?, geometry: BatchNormGeometry) throws

    // Optimizer updates (`optimizer.cl`), in place.
    func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws
    func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws
}
