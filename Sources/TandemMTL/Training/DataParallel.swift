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
///   weighted by their share nᵣ/b (Σᵣ nᵣ/b·gᵣ is the gradient of the whole batch's mean loss) in
///   buckets of about `bucketBytes`, each all-reduced as soon as the backward has completed its
///   gradients (`GradientBuckets`).
/// - Per-task gradient methods (PCGrad, MGDA, GradNorm, ...): the [T, P] matrix of task gradients is
///   combined the same way inside `TaskGradients` before any Gram matrix or projection, so every
///   rank combines the whole batch's task gradients and takes the same decision.
/// - State: parameters, buffers and the weighting's parameters are broadcast from rank 0 when
///   training starts (or resumes); batch-norm buffers, which each rank updates from its own part,
///   are broadcast from rank 0 at the end of every epoch (as PyTorch's DDP broadcasts buffers), so
///   validation, checkpoints and the next epoch start from rank 0's.
///
/// - Losses: before the weighting sees them, each task's loss takes the global batch's value while
///   keeping this rank's gradient (`globalLosses`), so methods that are not linear in the losses
///   or read their values stay exact.
///
/// Equivalent to one rank with the global batch, up to float rounding, for every weighting (tested
/// for all of them but GradDrop, which needs rep_grad). Batch norm uses each rank's statistics by
/// default (a model with batch norm is then equivalent only in the limit of large parts), the whole
/// batch's with `synchronizesBatchNorm`.
/// Gradients at the shared representation (rep_grad, and GradDrop, which needs it) are per sample and
/// are refused.
public final class DataParallel: ReplicaSums, @unchecked Sendable {
    /// The ranks and their collectives.
    public let communicator: any Communicator
    /// This rank's share nᵣ/b of the current step's batch (the trainer sets it every step).
    public var share = 1.0
    /// Whether the replicas have been made identical since training (re)started.
    var synchronized = false
    /// Global batches skipped because they had fewer samples than ranks.
    public internal(set) var skippedBatches = 0

    /// Whether batch norm normalises with the statistics of the whole global batch (an exchange per
    /// batch-norm layer each way; `SynchronizedBatchNorm`) instead of each rank's part's.
    public var synchronizesBatchNorm = false

    /// Sums over the ranks (synchronised batch norm's statistics).
    public func sumOverReplicas(_ values: [Double]) throws -> [Double] {
        var sums = values
        try communicator.allReduce(&sums, .sum)
        return sums
    }

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

    /// The lengths of the ranks' parts of `count` samples in proportion to `weights` (one per rank,
    /// positive): largest remainders, every part at least one sample when `count` ≥ ranks.
    public static func partLengths(of count: Int, weights: [Double]) -> [Int] {
        let total = weights.reduce(0, +)
        guard total > 0, weights.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            return (0..<weights.count).map { part(of: count, rank: $0, size: weights.count).count }
        }
        let exact = weights.map { Double(count) * $0 / total }
        var lengths = exact.map { Int($0.rounded(.down)) }
        let order = exact.indices.sorted { (exact[$0] - Double(lengths[$0]), -$0) > (exact[$1] - Double(lengths[$1]), -$1) }
        for r in order.prefix(count - lengths.reduce(0, +)) { lengths[r] += 1 }
        if count >= weights.count {
            for r in lengths.indices where lengths[r] == 0 {
                let donor = lengths.indices.max { lengths[$0] < lengths[$1] }!
                lengths[donor] -= 1
                lengths[r] = 1
            }
        }
        return lengths
    }

    /// The ranks' relative speeds, the same on every rank (nil: equal parts). Set by `balance`.
    public internal(set) var weights: [Double]?
    /// Whether parts follow the ranks' measured speeds (several devices of different speed): each
    /// rank's samples per second of computation are exchanged every `balanceInterval` steps and the
    /// parts set in proportion. Any split gives the same update (shares weight the gradients).
    public var balancesLoad = false
    /// Steps between two measurements of the ranks' speeds.
    public var balanceInterval = 10
    /// Samples and seconds of computation since the last measurement (the first step, with its
    /// kernel builds, is left out).
    var measured: (samples: Int, seconds: Double, steps: Int) = (0, 0, 0)
    /// Seconds in `backwardCombining`'s buckets so far: the gradients' download, their all-reduce
    /// (with any wait for slower ranks) and upload (the cost a step pays for data parallelism).
    public var communicationSeconds = 0.0
    /// Seconds spent in collectives within the current step's backward (waiting for slower ranks is
    /// not computation).
    var waited = 0.0

    /// This rank's indices of global batch `indices`, and its share of it; nil when the batch has
    /// fewer samples than ranks.
    public func shard(_ indices: [Int]) -> (indices: [Int], share: Double)? {
        guard indices.count >= size else { return nil }
        let range: Range<Int>
        if let weights {
            let lengths = Self.partLengths(of: indices.count, weights: weights)
            let start = lengths.prefix(rank).reduce(0, +)
            range = start..<(start + lengths[rank])
        } else {
            range = Self.part(of: indices.count, rank: rank, size: size)
        }
        return (Array(indices[range]), Double(range.count) / Double(indices.count))
    }

    /// Records a step's computation on this rank (samples, seconds before the gradients were
    /// combined) and, every `balanceInterval` steps, sets `weights` from every rank's speed.
    func recordStep(samples: Int, seconds: Double, step: Int) throws {
        defer { waited = 0 }
        guard balancesLoad, step > 0 else { return }
        measured.samples += samples
        measured.seconds += Swift.max(seconds - waited, 0)
        measured.steps += 1
        guard measured.steps >= balanceInterval else { return }
        let speeds = try communicator.allGather([Double(measured.samples) / Swift.max(measured.seconds, 1e-9)]).map { $0[0] }
        weights = speeds
        measured = (0, 0, 0)
    }

    /// Seconds on the monotonic clock (the profiler's).
    static func now() -> Double { Double(Profiler.nanoseconds()) * 1e-9 }

    /// The losses as the weighting should see them: each has the value of the whole global batch's
    /// loss (the share-weighted sum over ranks) and the gradient of this rank's, L + (L_global − L)
    /// with the bracket constant. A method f(L₁, ..., L_T) then differentiates to
    /// Σᵢ ∂f/∂Lᵢ(L_global)·∇Lᵢ on each rank, and the share-weighted sum of those is exactly the
    /// global batch's gradient: loss weightings that are not linear in the losses (GLS's geometric
    /// mean, DB-MTL's and FAMO's logarithms, STCH's smooth maximum) and methods that read loss values
    /// (IMTL-L, MGDA's loss normalisation) give one rank's update with the whole batch.
    func globalLosses(_ losses: [Tensor]) throws -> [Tensor] {
        guard let device = losses.first?.device else { return losses }
        let local = try Tensor.withoutGradient { try Tensor.stack(losses.map { try $0.detach().reshape([]) }).values() }
        var global = local.map { Double($0) * share }
        try communicator.allReduce(&global, .sum)
        return try losses.indices.map { t in
            let offset = try Tensor.withoutGradient { try Tensor([Float(global[t])], shape: [], on: device) - losses[t].detach().reshape([]) }
            return try losses[t] + offset.reshape(losses[t].shape)
        }
    }

    /// Replaces `matrix` (a device tensor) with the share-weighted sum of every rank's.
    func combine(_ matrix: Tensor) throws -> Tensor {
        var values = try matrix.values()
        let weight = Float(share)
        for i in values.indices { values[i] *= weight }
        let started = Self.now()
        try communicator.allReduce(&values, .sum)
        waited += Self.now() - started
        return try Tensor(values, shape: matrix.shape, on: matrix.device)
    }

    /// Bytes of gradients per all-reduce bucket (`GradientBuckets`): about 25 MiB by default, as
    /// PyTorch's DDP. Smaller buckets start earlier in the backward and overlap more of it, at one
    /// collective's latency each.
    public var bucketBytes = 25 << 20 {
        didSet { buckets = nil }
    }
    /// The buckets of the parameters last combined (rebuilt when the parameters change).
    private var buckets: GradientBuckets?
    /// Buckets started while the backward was still running, in the last step.
    public private(set) var bucketsStartedDuringBackward = 0
    /// The number of buckets in the last step.
    public var bucketCount: Int { buckets?.count ?? 0 }

    /// Runs `backward`, which leaves this rank's gradients of `parameters` (the same list on every
    /// rank) in `.grad`, and replaces them with the share-weighted sum over the ranks. With
    /// `overlapping` (the step's gradients come from one backward, each leaf's complete when the
    /// backward reaches it), each bucket's all-reduce starts as soon as its gradients are ready;
    /// otherwise all buckets are reduced after `backward`. Returns whether every combined gradient
    /// is finite.
    public func backwardCombining(parameters: [Tensor], overlapping: Bool, _ backward: () throws -> Void) throws -> Bool {
        let buckets: GradientBuckets
        if let cached = self.buckets, cached.fits(parameters) {
            buckets = cached
        } else {
            buckets = try GradientBuckets(parameters: parameters, bucketBytes: bucketBytes)
            self.buckets = buckets
        }
        buckets.begin(share: share, communicator: communicator)
        defer {
            communicationSeconds += buckets.seconds
            waited += buckets.seconds
            bucketsStartedDuringBackward = buckets.startedDuringBackward
        }
        if overlapping {
            try GradientReadiness.$observer.withValue(buckets, operation: backward)
        } else {
            try GradientReadiness.$observer.withValue(nil, operation: backward)
        }
        return try buckets.finish()
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
