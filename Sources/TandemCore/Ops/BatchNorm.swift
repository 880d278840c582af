/// Batch normalisation over the channel axis 1 of [N, C] (1-d) or [N, C, H, W] (2-d) input,
/// composed from reductions and broadcasting ops, so its gradient comes from theirs.
extension Tensor {
    /// Normalises with batch statistics when `training` (and updates `runningMean`/`runningVar` in
    /// place: `running = (1 − momentum)·running + momentum·batch`, the variance unbiased, as PyTorch
    /// does), else with the running statistics. `weight` and `bias` ([C]) scale and shift.
    public func batchNorm(runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
                          training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5) throws -> Tensor {
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
        let axes = rank == 2 ? [0] : [0, 2, 3]
        let broadcastShape = rank == 2 ? [1, channels] : [1, channels, 1, 1]
        let mean: Tensor, variance: Tensor
        if training {
            let n = axes.map { shape[$0] }.reduce(1, *)
            guard n > 1 else {
                throw TandemError.invalidArgument(op: "batchNorm", message: "training needs more than one value per channel, got input \(shape)")
            }
            mean = try self.mean(axes: axes, keepDims: true)
            variance = try (self - mean).square().mean(axes: axes, keepDims: true)
            try Tensor.withoutGradient {
                if let runningMean {
                    try runningMean.assign(try runningMean * (1 - momentum) + mean.detach().reshape([channels]) * momentum)
                }
                if let runningVar {
                    let unbiased = try variance.detach().reshape([channels]) * (Float(n) / Float(n - 1))
                    try runningVar.assign(try runningVar * (1 - momentum) + unbiased * momentum)
                }
            }
        } else {
            guard let runningMean, let runningVar else {
                throw TandemError.invalidArgument(op: "batchNorm", message: "evaluation mode needs running statistics")
            }
            mean = try runningMean.reshape(broadcastShape)
            variance = try runningVar.reshape(broadcastShape)
        }
        var y = try (self - mean) / (variance + epsilon).sqrt()
        if let weight { y = try y * weight.reshape(broadcastShape) }
        if let bias { y = try y + bias.reshape(broadcastShape) }
        return y
    }
}
