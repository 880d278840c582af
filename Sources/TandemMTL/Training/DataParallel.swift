import TandemCore
import TandemDistributed
import TandemNN

/// Data-parallel training: every rank of `communicator` holds a replica of the model, trains on its
/// own part of each global batch, and all ranks apply the same update, so that N ranks train as one
/// rank would with the whole batch.
///
/// - Sharding: each global batch of b samples (the loader's, identical on every rank) is cut into
///   `size` contiguous parts whose lengths differ by at most one; rank r takes part r. A final batch
///   with fewer samples than ranks is skipped (every rank agrees, and the trainer counts it).
/// - Gradients: rank r's gradients are of its part's mean loss; the ranks' gradients are combined
///   weighted by their share nᵣ/b (Σᵣ nᵣ/b·gᵣ is the gradient of the whole batch's mean loss) in one
///   all-reduce per step, together with the per-task losses (so reports and loss-driven weightings
///   see the whole batch's).
/// - Per-task gradient methods (PCGrad, MGDA, GradNorm, ...): the [T, P] matrix of task gradients is
///   combined the same way inside `TaskGradients` before any Gram matrix or projection, so every
///   rank combines the whole batch's task gradients and takes the same decision.
/// - State: parameters, buffers and the weighting's parameters are broadcast from rank 0 when
///   training starts (or resumes); batch-norm buffers, which each rank updates from its own part,
///   are broadcast from rank 0 at the end of every epoch (as PyTorch's DDP broadcasts buffers), so
///   validation, checkpoints and the next epoch start from rank 0's.
///
/// Exactly equivalent to one rank with the global batch (up to float rounding) for weightings whose
/// update is linear in the gradients and losses of the batch (EW, fixed, UW, RLW, PCGrad, MGDA,
/// CAGrad, IMTL-G, Nash-MTL, UPGrad, Aligned-MTL, GradVac, GradNorm ...). Batch norm uses each
/// rank's statistics (a model with batch norm is then equivalent only in the limit of large parts).
/// Gradients at the shared representation (rep_grad, and GradDrop, which needs it) are per sample and
/// are refused.
public final class DataParallel: @unchecked Sendable {
    /// The ranks and their collectives.
    public let communicator: any Communicator
    /// This rank's share nᵣ/b of the current step's batch.
    var share = 1.0
    /// Whether the replicas have been made identical since training (re)started.
    var synchronized = false
    /// Global batches skipped because they had fewer samples than ranks.
    public internal(set) var skippedBatches = 0

    /// The data-parallel group of the step in progress (read by `TaskGradients`).
    @TaskLocal static var active: DataParallel?

    public init(communicator: any Communicator) {
        self.communicator = communicator
    }

    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    /// Rank `rank`'s part of a global batch of `count` samples: a range of positions, contiguous,
    /// the first `count % size` parts one longer.
    public static func part(of count: Int, rank: Int, size: Int) -> Range<Int> {
        let base = count / size, extra = count % size
        let start = rank * base + Swift.min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// This rank's indices of global batch `indices`, and its share of it; nil when the batch has
    /// fewer samples than ranks.
    public func shard(_ indices: [Int]) -> (indices: [Int], share: Double)? {
        guard indices.count >= size else { return nil }
        let range = Self.part(of: indices.count, rank: rank, size: size)
        return (Array(indices[range]), Double(range.count) / Double(indices.count))
    }

    /// Replaces `matrix` (a device tensor) with the share-weighted sum of every rank's.
    func combine(_ matrix: Tensor) throws -> Tensor {
        var values = try matrix.values()
        let weight = Float(share)
        for i in values.indices { values[i] *= weight }
        try communicator.allReduce(&values, .sum)
        return try Tensor(values, shape: matrix.shape, on: matrix.device)
    }

    /// Combines the gradients of `parameters` (those that have one; the same on every rank) and the
    /// stacked per-task `losses` across ranks, weighted by share, in one all-reduce. Returns the
    /// combined losses and whether every combined value is finite.
    func combineGradients(of parameters: [Tensor], losses: Tensor) throws -> (losses: [Float], finite: Bool) {
        let withGradient = parameters.filter { $0.grad != nil }
        let flat = try Tensor.withoutGradient { () -> [Float] in
            let pieces = try withGradient.map { try $0.grad!.reshape([$0.count]) } + [losses.reshape([losses.count])]
            return try Tensor.concat(pieces, axis: 0).values()
        }
        // The element count rides along as two last values, each below 4096 · ranks (exact in
        // float): every rank must send the same count, or the ranks disagree about which
        // parameters have gradients.
        var buffer = flat
        let weight = Float(share)
        for i in buffer.indices { buffer[i] *= weight }
        buffer += [Float(flat.count % 4096), Float(flat.count / 4096)]
        try communicator.allReduce(&buffer, .sum)
        let high = buffer.removeLast(), low = buffer.removeLast()
        guard low == Float(flat.count % 4096 * size), high == Float(flat.count / 4096 * size) else {
            throw CommunicatorError.mismatch(operation: "gradient all-reduce", message: "rank \(rank) has \(flat.count) gradient values and losses, others differ (parameters with and without gradients)")
        }
        var offset = 0
        for parameter in withGradient {
            let values = Array(buffer[offset..<(offset + parameter.count)])
            parameter.grad = try Tensor(values, shape: parameter.shape, on: parameter.device)
            offset += parameter.count
        }
        let combined = Array(buffer[offset...])
        return (combined, buffer.allSatisfy(\.isFinite))
    }

    /// Makes every rank's model state (parameters and buffers) and the weighting's parameters equal
    /// to rank 0's.
    public func broadcastState(model: any MultiTaskModel, weighting: any LossWeighting) throws {
        try broadcast(model.namedTensors().map(\.1) + weighting.parameters)
        synchronized = true
    }

    /// Makes every rank's buffers (batch-norm running statistics) equal to rank 0's.
    func broadcastBuffers(of model: any MultiTaskModel) throws {
        try broadcast(model.namedBuffers().map(\.1))
    }

    private func broadcast(_ tensors: [Tensor]) throws {
        guard size > 1, !tensors.isEmpty else { return }
        let local = try Tensor.withoutGradient { try Tensor.concat(tensors.map { try $0.detach().reshape([$0.count]) }, axis: 0).values() }
        let values = try communicator.broadcast(local, root: 0)
        guard values.count == local.count else {
            throw CommunicatorError.mismatch(operation: "state broadcast", message: "rank 0 has \(values.count) state values, rank \(rank) \(local.count): the ranks built different models")
        }
        var offset = 0
        try Tensor.withoutGradient {
            for tensor in tensors {
                try tensor.assign(try Tensor(Array(values[offset..<(offset + tensor.count)]), shape: tensor.shape, on: tensor.device))
                offset += tensor.count
            }
        }
    }
}
