/// Batch normalisation over the channel axis 1 of [N, C] (1-d) or [N, C, H, W] (2-d) input as one
/// fused primitive each way (`Primitives.batchNormForward`, `batchNormBackward`;
/// `TandemCPU/CPUBatchNorm.swift`, `Kernels/batch_norm.cl`): statistics, normalisation, scale and shift in
/// one call, the running statistics updated by the same call, and the gradients of x, weight and
/// bias from the saved mean and 1/σ in one more.
extension Tensor {
    /// Normalises with batch statistics when `training` (and updates `runningMean`/`runningVar` in
    /// place: `running = (1 − momentum)·running + momentum·batch`, the variance unbiased, as PyTorch
    /// does), else with the running statistics. `weight` and `bias` ([C]) scale and shift. Gradients
    /// reach x, weight and bias (each independently); the running statistics are buffers and get none.
    /// With `relu`, returns `relu(batchNorm(x))` from the same pass: no normalised tensor is kept for
    /// the ReLU's backward, which gates the gradient with the output instead.
    public func batchNorm(runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
                          training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5, relu: Bool = false) throws -> Tensor {
        let x = self
        let (y, saved) = try normalized(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                        training: training, momentum: momentum, epsilon: epsilon, relu: relu)
        let inputs = [x] + [weight, bias].compactMap { $0 }
        return record(y, op: relu ? "batchNorm+relu" : "batchNorm", inputs: inputs) { output in
            // ReLU's gradient: the output is positive exactly where the normalised value was.
            let g = relu ? try Tensor.binary(.gate, output, y, gradient: nil) : output
            return try x.batchNormGradients(g, saved, weight: weight, bias: bias)
        }
    }

    /// What a batch norm's backward needs besides x: the batch (or running) mean and 1/σ it used.
    struct BatchNormSaved {
        let mean: Tensor, invstd: Tensor
        let geometry: BatchNormGeometry
    }

    /// The forward without graph: checks, the fused primitive, and the statistics it used.
    func normalized(runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?, training: Bool,
                    momentum: Float, epsilon: Float, relu: Bool) throws -> (Tensor, BatchNormSaved) {
        guard rank == 2 || rank == 4 else {
            throw TandemError.invalidArgument(op: "batchNorm", message: "expects [N, C] or [N, C, H, W], got \(shape) on \(device.info.selector)")
        }
        let channels = shape[1]
        for (name, t) in [("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias)] {
            guard let t else { continue }
            try Tensor.checkSameDevice("batchNorm", self, t)
            guard t.shape == [channels] else {
                throw TandemError.invalidArgument(op: "batchNorm", message: "\(name) has shape \(t.shape), expected [\(channels)] for input \(shape)")
            }
        }
        let batch = shape[0], inner = rank == 2 ? 1 : shape[2] * shape[3]
        if training {
            guard batch * inner > 1 else {
                throw TandemError.invalidArgument(op: "batchNorm", message: "training needs more than one value per channel, got input \(shape)")
            }
        } else if runningMean == nil || runningVar == nil {
            throw TandemError.invalidArgument(op: "batchNorm", message: "evaluation mode needs running statistics")
        }
        let geometry = BatchNormGeometry(batch: batch, channels: channels, inner: inner, training: training,
                                         momentum: momentum, epsilon: epsilon, relu: relu)
        let y = try Tensor.empty(shape, on: device, op: "batchNorm")
        let mean = try Tensor.empty([channels], on: device), invstd = try Tensor.empty([channels], on: device)
        // Training updates the running statistics in place; evaluation reads them.
        try device.batchNormForward(storage, y.storage, weight: weight?.storage, bias: bias?.storage,
                                    mean: mean.storage, invstd: invstd.storage,
                                    runningMean: runningMean?.storage, runningVar: runningVar?.storage, geometry: geometry)
        return (y, BatchNormSaved(mean: mean, invstd: invstd, geometry: geometry))
    }

    /// The normalised values again (no ReLU), from the saved statistics in evaluation form: one pass,
    /// equal to the forward's up to the rounding of 1/σ (variance = 1/invstd² − ε).
    func renormalized(_ saved: BatchNormSaved, weight: Tensor?, bias: Tensor?) throws -> Tensor {
        var geometry = saved.geometry
        (geometry.training, geometry.relu) = (false, false)
        let variance = try saved.invstd.square().reciprocal() - geometry.epsilon
        let y = try Tensor.empty(shape, on: device)
        let mean = try Tensor.empty(saved.mean.shape, on: device), invstd = try Tensor.empty(saved.mean.shape, on: device)
        try device.batchNormForward(storage, y.storage, weight: weight?.storage, bias: bias?.storage, mean: mean.storage,
                                    invstd: invstd.storage, runningMean: saved.mean.storage, runningVar: variance.storage,
                                    geometry: geometry)
        return y
    }

    /// The gradients of x, weight and bias (those that need one, in that order, nil-padded) for the
    /// gradient `g` of the normalised values.
    func batchNormGradients(_ g: Tensor, _ saved: BatchNormSaved, weight: Tensor?, bias: Tensor?) throws -> [Tensor?] {
        let channels = saved.geometry.channels
        let dx = requiresGrad ? try Tensor.empty(shape, on: device) : nil
        let dweight = weight?.requiresGrad == true ? try Tensor.empty([channels], on: device) : nil
        let dbias = bias?.requiresGrad == true ? try Tensor.empty([channels], on: device) : nil
        try device.batchNormBackward(storage, g.storage, weight: weight?.storage, mean: saved.mean.storage,
                                     invstd: saved.invstd.storage, dx: dx?.storage, dweight: dweight?.storage,
                                     dbias: dbias?.storage, geometry: saved.geometry)
        var grads: [Tensor?] = [dx]
        if weight != nil { grads.append(dweight) }
        if bias != nil { grads.append(dbias) }
        return grads
    }
}
