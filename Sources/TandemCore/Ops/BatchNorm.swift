/// Batch normalisation over the channel axis 1 of [N, C] (1-d) or [N, C, H, W] (2-d) input as one
/// fused primitive each way (`Primitives.batchNormForward`, `batchNormBackward`;
/// `CPU/CPUBatchNorm.swift`, `Kernels/batchnorm.cl`): statistics, normalisation, scale and shift in
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
        let x = self
        let y = try Tensor.empty(shape, on: device)
        let mean = try Tensor.empty([channels], on: device), invstd = try Tensor.empty([channels], on: device)
        // Training updates the running statistics in place; evaluation reads them.
        try device.batchNormForward(x.storage, y.storage, weight: weight?.storage, bias: bias?.storage,
                                    mean: mean.storage, invstd: invstd.storage,
                                    runningMean: runningMean?.storage, runningVar: runningVar?.storage, geometry: geometry)
        let inputs = [x] + [weight, bias].compactMap { $0 }
        return record(y, inputs: inputs) { output in
            // ReLU's gradient: the output is positive exactly where the normalised value was.
            let g = relu ? try Tensor.binary(.gate, output, y, gradient: nil) : output
            let dx = x.requiresGrad ? try Tensor.empty(x.shape, on: x.device) : nil
            let dweight = weight?.requiresGrad == true ? try Tensor.empty([channels], on: x.device) : nil
            let dbias = bias?.requiresGrad == true ? try Tensor.empty([channels], on: x.device) : nil
            try x.device.batchNormBackward(x.storage, g.storage, weight: weight?.storage, mean: mean.storage, invstd: invstd.storage,
                                           dx: dx?.storage, dweight: dweight?.storage, dbias: dbias?.storage, geometry: geometry)
            var grads: [Tensor?] = [dx]
            if weight != nil { grads.append(dweight) }
            if bias != nil { grads.append(dbias) }
            return grads
        }
    }
}
