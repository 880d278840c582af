/// Losses of the multi-task models: classification (NLL, cross-entropy) over [N, C] or dense
/// [N, C, spatial...] predictions, and regression (MSE, masked L1). Every loss is a mean over the
/// elements that count, with the count taken on the device (no host round trip): an element is
/// left out by an ignored or missing label, a zero in a mask, or a NaN target. When nothing counts
/// the loss is 0 (and so is its gradient), so a batch without labels for one task is harmless.
///
/// The NLL loss is a fused primitive (`FusedPrimitives.nllLoss`, composed in
/// `Primitives/Compositions/Losses+Composition.swift` from `gatherClass`, `scatterClass` and
/// element-wise ops; `TandemCPU/CPULosses.swift`, `Kernels/losses.cl`); the regression losses are
/// written with other ops.
extension Tensor {
    // MARK: Class gathers

    /// Checks that `target` [N, spatial...] indexes the class axis 1 of self [N, C, spatial...].
    func checkClassTarget(_ op: String, _ target: Tensor) throws {
        try Tensor.checkSameDevice(op, self, target)
        guard rank >= 2, target.shape == [shape[0]] + shape[2...] else {
            throw TandemError.invalidArgument(
                op: op, message: "needs predictions [N, C, spatial...] and targets [N, spatial...], got \(shape) and \(target.shape) (on \(device.info.selector))")
        }
    }

    /// The element of the class each target names: `y[n, s] = self[n, target[n, s], s]` for self
    /// [N, C, spatial...] and target [N, spatial...] holding class indices as exact floats. Targets
    /// outside 0..<C (−1, −100, NaN) give 0 and pass no gradient. The target gets no gradient.
    public func gatherClass(target: Tensor) throws -> Tensor {
        try checkClassTarget("gatherClass", target)
        let y = try Tensor.empty(target.shape, on: device)
        try device.gatherClass(storage, target: target.storage, y.storage,
                               batch: shape[0], classes: shape[1], inner: shape[2...].reduce(1, *))
        return record(y, op: "gatherClass", inputs: [self]) { g in [try g.scatterClass(target: target, classes: self.shape[1])] }
    }

    /// The adjoint of `gatherClass`: self [N, spatial...] placed at each target's class of a zero
    /// tensor [N, classes, spatial...].
    func scatterClass(target: Tensor, classes: Int) throws -> Tensor {
        let x = try Tensor.empty([shape[0], classes] + shape[1...], on: device)
        try device.scatterClass(storage, target: target.storage, x.storage,
                                batch: shape[0], classes: classes, inner: shape[1...].reduce(1, *))
        return record(x, op: "scatterClass", inputs: [self]) { g in [try g.gatherClass(target: target)] }
    }

    /// `Σ values / max(Σ valid, 1)`: the mean over the elements that count, with `values` already 0
    /// elsewhere.
    static func meanOverValid(_ values: Tensor, _ valid: Tensor) throws -> Tensor {
        try values.sum() / valid.sum().clamp(min: 1)
    }

    // MARK: Classification

    /// Negative log-likelihood of log-probabilities self [N, C] or [N, C, spatial...] (a
    /// `logSoftmax` over axis 1) at class indices `target` [N] or [N, spatial...] (exact floats):
    /// `−mean log p[n, target[n, s], s]` over the elements that count.
    ///
    /// A label counts unless it is outside 0..<C (such as −1, −100 or NaN for a missing label), equals
    /// `ignoreIndex`, or `mask` (per sample [N], or per element [N, spatial...]; 1 keeps, 0 drops)
    /// is 0 there. Returns a scalar, 0 when no label counts.
    /// One fused primitive on devices that have it (`FusedPrimitives.nllLoss`): a forward and a
    /// backward launch instead of some twenty each.
    public func nllLoss(target: Tensor, ignoreIndex: Int = -100, mask: Tensor? = nil) throws -> Tensor {
        try checkClassTarget("nllLoss", target)
        var geometry = ClassLossGeometry(batch: shape[0], classes: shape[1], inner: shape[2...].reduce(1, *),
                                         ignoreIndex: ignoreIndex)
        if let mask {
            try Tensor.checkSameDevice("nllLoss", self, mask)
            if mask.shape == [shape[0]] {
                geometry.maskPerSample = true
            } else if mask.shape != target.shape {
                throw TandemError.invalidArgument(
                    op: "nllLoss", message: "mask \(mask.shape) is neither per sample [\(shape[0])] nor per element \(target.shape) (on \(device.info.selector))")
            }
        }
        let loss = try Tensor.empty([], on: device), weight = try Tensor.empty([], on: device)
        try device.nllLoss(storage, target: target.storage, mask: mask?.storage, loss: loss.storage, weight: weight.storage,
                           geometry: geometry)
        return record(loss, op: "nllLoss", inputs: [self]) { g in
            let dx = try Tensor.empty(self.shape, on: self.device)
            try self.device.nllLossBackward(target: target.storage, mask: mask?.storage, weight: weight.storage, g.storage, dx.storage,
                                            geometry: geometry)
            return [dx]
        }
    }

    /// Softmax cross-entropy of `logits` [N, C] or [N, C, spatial...] against class indices `target`:
    /// `logits.logSoftmax(axis: 1).nllLoss(target:ignoreIndex:mask:)`, with the same rules for labels
    /// that count.
    public static func crossEntropy(logits: Tensor, target: Tensor, ignoreIndex: Int = -100, mask: Tensor? = nil) throws -> Tensor {
        guard logits.rank >= 2 else {
            throw TandemError.invalidArgument(
                op: "crossEntropy", message: "needs logits [N, C, spatial...], got \(logits.shape) (on \(logits.device.info.selector))")
        }
        return try logits.logSoftmax(axis: 1).nllLoss(target: target, ignoreIndex: ignoreIndex, mask: mask)
    }

    // MARK: Regression

    /// 1 where `target` is a number and `mask` (broadcast to self's shape) is nonzero; the shapes
    /// are checked here.
    func regressionMask(_ op: String, target: Tensor, mask: Tensor?) throws -> Tensor {
        try Tensor.checkSameDevice(op, self, target)
        guard target.shape == shape else {
            throw TandemError.invalidArgument(
                op: op, message: "prediction \(shape) and target \(target.shape) differ (on \(device.info.selector))")
        }
        let present = try 1 - target.isNaN()
        guard let mask else { return present }
        try Tensor.checkSameDevice(op, self, mask)
        guard Shapes.broadcast(shape, mask.shape) == shape else {
            throw TandemError.invalidArgument(
                op: op, message: "mask \(mask.shape) does not broadcast to prediction \(shape) (on \(device.info.selector))")
        }
        return try present * mask.notEqual(0)
    }

    /// Mean squared error `mean (x − target)²` over the elements that count: those whose target is
    /// not NaN and, with a `mask` (broadcastable to self's shape), where the mask is nonzero.
    /// Returns a scalar, 0 when nothing counts.
    public func mseLoss(target: Tensor, mask: Tensor? = nil) throws -> Tensor {
        let valid = try regressionMask("mseLoss", target: target, mask: mask)
        let difference = try Tensor.where(valid, self - target, Tensor.zeros([], on: device))
        return try Tensor.meanOverValid(difference.square(), valid)
    }

    /// Mean absolute error `mean |x − target|` over the elements that count: by default those whose
    /// target is nonzero (MTAN's depth loss, where 0 marks a pixel without depth); with a `mask`
    /// (broadcastable to self's shape) those where the mask is nonzero instead. NaN targets never
    /// count. Returns a scalar, 0 when nothing counts.
    public func maskedL1Loss(target: Tensor, mask: Tensor? = nil) throws -> Tensor {
        var valid = try regressionMask("maskedL1Loss", target: target, mask: mask)
        if mask == nil { valid = try valid * target.notEqual(0) }
        let difference = try Tensor.where(valid, self - target, Tensor.zeros([], on: device))
        return try Tensor.meanOverValid(difference.abs(), valid)
    }
}
