/// Computations that run as one pass (or one algorithm of its device's choosing) where a device
/// implements them, and as a reference composition of the basic `Primitives` and GEMM where it
/// does not (MLX's `fast::` ops with their fallbacks): a new device inherits every one of them and
/// trains every model from the basic set alone, then replaces those that dominate its profile. The
/// compositions live in `Primitives/Compositions/` as `Composed.<name>`, which any caller (the
/// self-test, a device that wants the reference for some shapes) may run directly; the self-test
/// checks each device's fused form against the float64 reference and its composed form against the
/// same (`ComposedDevice`).
///
/// Buffer rules are those of `Primitives`.
public protocol FusedPrimitives {
    // Convolution (`convolution.cl`): x [N, C, H, W], weight [O, C/groups, kh, kw], y and dy
    // [N, O, OH, OW]. Each backend owns its algorithm; the composition is im2col + GEMM + col2im.

    /// y = conv(x, weight) + bias. Returns what the device keeps for `conv2dWeightGradient` when
    /// `keep` is set (the composition keeps its im2col matrix when it is small), or nil.
    func conv2dForward(_ x: Buffer, weight: Buffer, bias: Buffer?, _ y: Buffer, geometry: ConvGeometry, keep: Bool) throws -> Buffer?
    /// dx = the adjoint of the convolution applied to dy.
    func conv2dInputGradient(_ dy: Buffer, weight: Buffer, _ dx: Buffer, geometry: ConvGeometry) throws
    /// dw = Σ over images of dy · im2col(x)ᵀ, and, when `biasGradient` is given, the bias gradient
    /// (dy summed over images and pixels). `saved` is what `conv2dForward` returned, or nil.
    func conv2dWeightGradient(_ x: Buffer, _ dy: Buffer, _ dw: Buffer, biasGradient: Buffer?, geometry: ConvGeometry,
                              saved: Buffer?) throws
    /// col [C·kh·kw, N·OH·OW] from x [N, C, H, W] (zero outside the padded image).
    func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws
    /// x [N, C, H, W] = sum of the col entries that read each pixel (the adjoint of im2col).
    func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws

    /// y [batch, channels, inner] += bias[c], in place (a convolution's or a linear layer's bias,
    /// with a linear layer's ReLU when `relu`: y = max(y + bias, 0); `elementwise.cl`).
    func addChannelBias(_ y: Buffer, bias: Buffer, batch: Int, channels: Int, inner: Int, relu: Bool) throws
    /// The backward of `addChannelBias` with `relu`: dz = dy where y > 0, else 0 (y the forward's
    /// output), and sums[c] = Σ over images and positions of dz (the bias gradient), in one pass
    /// where the device can (`reduce.cl`).
    func gatedChannelSums(_ dy: Buffer, gate y: Buffer, _ dz: Buffer, sums: Buffer, batch: Int, channels: Int, inner: Int) throws
    /// y[c] = Σ over images and positions of x [batch, channels, inner] (a bias gradient), in one
    /// pass where the device can (`reduce.cl`).
    func channelSums(_ x: Buffer, _ y: Buffer, batch: Int, channels: Int, inner: Int) throws

    // Multi-task kernels (`attention_gate.cl`, `cross_stitch.cl`).

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

    // Classification losses (`losses.cl`): what a training step's loss costs in launches when
    // written with basic ops (about twenty per task for the forward and as many for the backward).

    /// y = x − log Σ exp(x) along the middle axis of x [outer, extent, inner], computed after
    /// subtracting the maximum (no overflow).
    func logSoftmax(_ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws
    /// dx = dy − exp(y)·Σ dy along the axis, from the forward's output y.
    func logSoftmaxBackward(_ y: Buffer, _ dy: Buffer, _ dx: Buffer, outer: Int, extent: Int, inner: Int) throws
    /// The negative log-likelihood of log-probabilities x at `target` (`ClassLossGeometry` says
    /// which labels count): loss[0] = −Σ x[n, target, s] over the labels that count / max(W, 1),
    /// weight[0] = W, the sum of their weights. `mask` is [batch] or [batch, inner] as the
    /// geometry says, or nil.
    func nllLoss(_ x: Buffer, target: Buffer, mask: Buffer?, loss: Buffer, weight: Buffer, geometry: ClassLossGeometry) throws
    /// dx [batch, classes, inner] = −dloss[0] / max(weight[0], 1) at each counted label's class, 0
    /// elsewhere.
    func nllLossBackward(target: Buffer, mask: Buffer?, weight: Buffer, _ dloss: Buffer, _ dx: Buffer,
                         geometry: ClassLossGeometry) throws

    // Optimizer updates (`optimizer.cl`), in place, PyTorch's semantics.
    func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws
    func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws
    /// Every parameter's SGD update of an optimizer step, in as few passes as the device can (a
    /// launch per tensor costs a GPU step more host time than the update itself); the default runs
    /// `sgdUpdate` for each.
    func sgdUpdates(_ updates: [SGDUpdate]) throws
    /// Every parameter's Adam update of a step, batched as `sgdUpdates` is.
    func adamUpdates(_ updates: [AdamUpdate]) throws
}

/// Every fused primitive a device does not implement runs its reference composition, and is
/// counted in `Composed.defaults(of:)`.
extension FusedPrimitives where Self: Device {
    public func conv2dForward(_ x: Buffer, weight: Buffer, bias: Buffer?, _ y: Buffer, geometry: ConvGeometry,
                              keep: Bool) throws -> Buffer? {
        Composed.countDefault(self, "conv2dForward")
        return try Composed.conv2dForward(on: self, x, weight: weight, bias: bias, y, geometry: geometry, keep: keep)
    }

    public func conv2dInputGradient(_ dy: Buffer, weight: Buffer, _ dx: Buffer, geometry: ConvGeometry) throws {
        Composed.countDefault(self, "conv2dInputGradient")
        return try Composed.conv2dInputGradient(on: self, dy, weight: weight, dx, geometry: geometry)
    }

    public func conv2dWeightGradient(_ x: Buffer, _ dy: Buffer, _ dw: Buffer, biasGradient: Buffer?, geometry: ConvGeometry,
                                     saved: Buffer?) throws {
        Composed.countDefault(self, "conv2dWeightGradient")
        return try Composed.conv2dWeightGradient(on: self, x, dy, dw, biasGradient: biasGradient, geometry: geometry, saved: saved)
    }

    public func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws {
        Composed.countDefault(self, "im2col")
        return try Composed.im2col(on: self, x, col, geometry: geometry)
    }

    public func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws {
        Composed.countDefault(self, "col2im")
        return try Composed.col2im(on: self, col, x, geometry: geometry)
    }

    public func addChannelBias(_ y: Buffer, bias: Buffer, batch: Int, channels: Int, inner: Int, relu: Bool) throws {
        Composed.countDefault(self, "addChannelBias")
        return try Composed.addChannelBias(on: self, y, bias: bias, batch: batch, channels: channels, inner: inner, relu: relu)
    }

    public func gatedChannelSums(_ dy: Buffer, gate y: Buffer, _ dz: Buffer, sums: Buffer, batch: Int, channels: Int,
                                 inner: Int) throws {
        Composed.countDefault(self, "gatedChannelSums")
        return try Composed.gatedChannelSums(on: self, dy, gate: y, dz, sums: sums, batch: batch, channels: channels, inner: inner)
    }

    public func channelSums(_ x: Buffer, _ y: Buffer, batch: Int, channels: Int, inner: Int) throws {
        Composed.countDefault(self, "channelSums")
        return try Composed.channelSums(on: self, x, y, batch: batch, channels: channels, inner: inner)
    }

    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws {
        Composed.countDefault(self, "attentionGate")
        return try Composed.attentionGate(on: self, z, f, y, count: count)
    }

    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws {
        Composed.countDefault(self, "attentionGateBackward")
        return try Composed.attentionGateBackward(on: self, z, f, dy, dz: dz, df: df, count: count)
    }

    public func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int,
                            transposed: Bool) throws {
        Composed.countDefault(self, "crossStitch")
        return try Composed.crossStitch(on: self, x, alpha: alpha, y, tasks: tasks, batch: batch, channels: channels, inner: inner,
                                 transposed: transposed)
    }

    public func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int,
                                         inner: Int) throws {
        Composed.countDefault(self, "crossStitchAlphaGradient")
        return try Composed.crossStitchAlphaGradient(on: self, x, dy, dalpha: dalpha, tasks: tasks, batch: batch, channels: channels,
                                              inner: inner)
    }

    public func batchNormForward(_ x: Buffer, _ y: Buffer, weight: Buffer?, bias: Buffer?, mean: Buffer, invstd: Buffer,
                                 runningMean: Buffer?, runningVar: Buffer?, geometry: BatchNormGeometry) throws {
        Composed.countDefault(self, "batchNormForward")
        return try Composed.batchNormForward(on: self, x, y, weight: weight, bias: bias, mean: mean, invstd: invstd,
                                      runningMean: runningMean, runningVar: runningVar, geometry: geometry)
    }

    public func batchNormBackward(_ x: Buffer, _ dy: Buffer, weight: Buffer?, mean: Buffer, invstd: Buffer,
                                  dx: Buffer?, dweight: Buffer?, dbias: Buffer?, geometry: BatchNormGeometry) throws {
        Composed.countDefault(self, "batchNormBackward")
        return try Composed.batchNormBackward(on: self, x, dy, weight: weight, mean: mean, invstd: invstd, dx: dx, dweight: dweight,
                                       dbias: dbias, geometry: geometry)
    }

    public func logSoftmax(_ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        Composed.countDefault(self, "logSoftmax")
        return try Composed.logSoftmax(on: self, x, y, outer: outer, extent: extent, inner: inner)
    }

    public func logSoftmaxBackward(_ y: Buffer, _ dy: Buffer, _ dx: Buffer, outer: Int, extent: Int, inner: Int) throws {
        Composed.countDefault(self, "logSoftmaxBackward")
        return try Composed.logSoftmaxBackward(on: self, y, dy, dx, outer: outer, extent: extent, inner: inner)
    }

    public func nllLoss(_ x: Buffer, target: Buffer, mask: Buffer?, loss: Buffer, weight: Buffer,
                        geometry: ClassLossGeometry) throws {
        Composed.countDefault(self, "nllLoss")
        return try Composed.nllLoss(on: self, x, target: target, mask: mask, loss: loss, weight: weight, geometry: geometry)
    }

    public func nllLossBackward(target: Buffer, mask: Buffer?, weight: Buffer, _ dloss: Buffer, _ dx: Buffer,
                                geometry: ClassLossGeometry) throws {
        Composed.countDefault(self, "nllLossBackward")
        return try Composed.nllLossBackward(on: self, target: target, mask: mask, weight: weight, dloss, dx, geometry: geometry)
    }

    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws {
        Composed.countDefault(self, "sgdUpdate")
        return try Composed.sgdUpdate(on: self, parameter, gradient: gradient, momentum: momentum, count: count, step: step)
    }

    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws {
        Composed.countDefault(self, "adamUpdate")
        return try Composed.adamUpdate(on: self, parameter, gradient: gradient, m: m, v: v, count: count, step: step)
    }

    public func sgdUpdates(_ updates: [SGDUpdate]) throws {
        for u in updates { try sgdUpdate(u.parameter, gradient: u.gradient, momentum: u.momentum, count: u.count, step: u.step) }
    }

    public func adamUpdates(_ updates: [AdamUpdate]) throws {
        for u in updates { try adamUpdate(u.parameter, gradient: u.gradient, m: u.m, v: u.v, count: u.count, step: u.step) }
    }
}
