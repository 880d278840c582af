/// Sums over the replicas of data-parallel training, for statistics that must cover the whole
/// global batch. `TandemMTL.DataParallel` is one.
public protocol ReplicaSums: AnyObject, Sendable {
    /// This replica's share nᵣ/b of the current global batch (its gradients are weighted by it when
    /// the replicas' gradients are summed).
    var share: Double { get }
    /// The element-wise sums of `values` over every replica (all pass the same length).
    func sumOverReplicas(_ values: [Double]) throws -> [Double]
}

/// The replicas whose batch-norm statistics are shared during a training step (the trainer sets it
/// with data parallelism and synchronised batch norm); nil: each replica normalises with its own.
public enum SynchronizedBatchNorm {
    @TaskLocal public static var replicas: (any ReplicaSums)?
}

/// Batch normalisation whose training statistics cover every replica's part of the global batch
/// (PyTorch's SyncBatchNorm), so that N replicas normalise as one replica with the whole batch would.
extension Tensor {
    /// Batch norm in training mode over `replicas`: the per-channel mean over all replicas' values
    /// (one exchange of sums), then their variance about it (a second exchange, of squared
    /// deviations: two passes, as the fused kernel's statistics are, rather than E[x²] − E[x]²);
    /// the running statistics updated from the global ones (the variance unbiased).
    ///
    /// Backward, for replica r with share sᵣ (its gradients are later weighted by sᵣ): with x̂ the
    /// normalised input, M the global count and Σ_q over replicas,
    /// dx = γ·invstd·(dy − A/(M·sᵣ) − x̂·B/(M·sᵣ)), A = Σ_q s_q·Σdy_q, B = Σ_q s_q·Σ(dy_q·x̂_q),
    /// which weighted by sᵣ and summed is the single-replica gradient of the global batch; dγ and dβ
    /// are this replica's Σ(dy·x̂) and Σdy (summed with the other gradients).
    public func synchronizedBatchNorm(runningMean: Tensor, runningVar: Tensor, weight: Tensor?, bias: Tensor?,
                                      momentum: Float = 0.1, epsilon: Float = 1e-5, replicas: any ReplicaSums) throws -> Tensor {
        guard rank == 2 || rank == 4 else {
            throw TandemError.invalidArgument(op: "synchronizedBatchNorm", message: "expects [N, C] or [N, C, H, W], got \(shape) on \(device.info.selector)")
        }
        let x = self, channels = shape[1], device = self.device
        let axes = [0] + Array(2..<rank)
        let broadcastShape = rank == 2 ? [1, channels] : [1, channels, 1, 1]
        let count = shape.reduce(1, *) / Swift.max(channels, 1)
        for (name, t) in [("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias)] {
            guard let t else { continue }
            try Tensor.checkSameDevice("synchronizedBatchNorm", self, t)
            guard t.shape == [channels] else {
                throw TandemError.invalidArgument(op: "synchronizedBatchNorm", message: "\(name) has shape \(t.shape), expected [\(channels)] for input \(shape)")
            }
        }
        let (mean, variance, total) = try Tensor.withoutGradient { () -> ([Double], [Double], Double) in
            let plain = x.detach()
            let sums = try plain.sum(axes: axes).values().map(Double.init)
            let first = try replicas.sumOverReplicas(sums + [Double(count)])
            let total = first[channels]
            guard total > 1 else {
                throw TandemError.invalidArgument(op: "synchronizedBatchNorm", message: "training needs more than one value per channel over all replicas, got \(total) for input \(shape)")
            }
            let mean = first.prefix(channels).map { $0 / total }
            let centred = try plain - Tensor(mean.map(Float.init), shape: broadcastShape, on: device)
            let squares = try (centred * centred).sum(axes: axes).values().map(Double.init)
            let variance = try replicas.sumOverReplicas(squares).map { $0 / total }
            return (mean, variance, total)
        }
        // The running statistics, as the fused kernel updates them.
        try Tensor.withoutGradient {
            let m = Double(momentum)
            let oldMean = try runningMean.values().map(Double.init), oldVar = try runningVar.values().map(Double.init)
            try runningMean.assign(try Tensor((0..<channels).map { Float((1 - m) * oldMean[$0] + m * mean[$0]) }, shape: [channels], on: device))
            try runningVar.assign(try Tensor((0..<channels).map { Float((1 - m) * oldVar[$0] + m * variance[$0] * total / (total - 1)) },
                                             shape: [channels], on: device))
        }
        // Normalise with the global statistics: the fused primitive in its evaluation form.
        let meanTensor = try Tensor(mean.map(Float.init), shape: [channels], on: device)
        let varianceTensor = try Tensor(variance.map(Float.init), shape: [channels], on: device)
        let (y, saved) = try normalized(runningMean: meanTensor, runningVar: varianceTensor, weight: weight, bias: bias,
                                        training: false, momentum: momentum, epsilon: epsilon, relu: false)
        let inputs = [x] + [weight, bias].compactMap { $0 }
        return record(y, op: "synchronizedBatchNorm", inputs: inputs) { g in
            try Tensor.withoutGradient {
                let normalised = try x.renormalized(saved, weight: nil, bias: nil)
                let dbias = try g.sum(axes: axes)
                let dweight = try (g * normalised).sum(axes: axes)
                let share = replicas.share
                let local = try dbias.values().map { Double($0) * share } + dweight.values().map { Double($0) * share }
                let sums = try replicas.sumOverReplicas(local)
                let scale = 1 / (total * share)
                let a = try Tensor(sums.prefix(channels).map { Float($0 * scale) }, shape: broadcastShape, on: device)
                let b = try Tensor(sums.suffix(channels).map { Float($0 * scale) }, shape: broadcastShape, on: device)
                var factor = try saved.invstd.reshape(broadcastShape)
                if let weight { factor = try factor * weight.reshape(broadcastShape) }
                let dx = try factor * (g - a - normalised * b)
                var grads: [Tensor?] = [dx]
                if weight != nil { grads.append(dweight) }
                if bias != nil { grads.append(dbias) }
                return grads
            }
        }
    }
}
