import TandemCore
import TandemData
import TandemNN

/// One mini-batch of a multi-task data set: the input, one target per task (in the model's task
/// order) and, per task, an optional mask [N] saying which samples carry that task's label (1 = label
/// present, 0 = missing). A sample whose label is missing contributes nothing to that task's loss,
/// gradient or metrics; it still counts for the other tasks.
public struct TrainingBatch {
    /// The input, [N, ...], on the trainer's device.
    public var input: Tensor
    /// One target per task, each [N, ...] on the input's device.
    public var targets: [Tensor]
    /// One optional mask [N] per task; nil where every sample has the label.
    public var masks: [Tensor?]

    /// A batch of `input` with `targets` and optional `masks` (nil: every label present). Throws when
    /// the counts, leading dimensions or devices disagree.
    public init(input: Tensor, targets: [Tensor], masks: [Tensor?]? = nil) throws {
        self.input = input
        self.targets = targets
        self.masks = masks ?? [Tensor?](repeating: nil, count: targets.count)
        try validate()
    }

    /// Uploads a data set's host batch to `device`: inputs, labels (one target per task, shaped
    /// [N] + the task's `labelShape`) and masks. `tasks` are the data set's tasks, in label order.
    public init(_ batch: HostBatch, tasks: [DatasetTask], on device: any Device) throws {
        let n = batch.count
        guard n > 0, batch.labels.count == tasks.count, batch.masks.count == tasks.count else {
            throw TandemError.invalidArgument(
                op: "TrainingBatch", message: "host batch of \(n) samples with \(batch.labels.count) label sets and \(batch.masks.count) masks for \(tasks.count) tasks")
        }
        try self.init(input: Tensor(batch.inputs, shape: batch.inputShape, on: device),
                      targets: zip(batch.labels, tasks).map { try Tensor($0, shape: [n] + $1.labelShape, on: device) },
                      masks: batch.masks.map { try $0.map { try Tensor($0, shape: [n], on: device) } })
    }

    /// Number of samples, N.
    public var sampleCount: Int { input.shape.first ?? 0 }

    /// The same batch on `device` (unchanged tensors when already there).
    public func to(_ device: any Device) throws -> TrainingBatch {
        try TrainingBatch(input: input.to(device), targets: targets.map { try $0.to(device) }, masks: masks.map { try $0?.to(device) })
    }

    /// Throws unless the targets and masks match the input in count, leading dimension and device.
    func validate() throws {
        let n = sampleCount
        guard input.rank >= 1, !targets.isEmpty, masks.count == targets.count else {
            throw TandemError.invalidArgument(
                op: "TrainingBatch", message: "input \(input.shape) with \(targets.count) targets and \(masks.count) masks (need a [N, ...] input and one mask slot per target)")
        }
        for (t, target) in targets.enumerated() {
            guard target.rank >= 1, target.shape[0] == n, target.device === input.device else {
                throw TandemError.invalidArgument(
                    op: "TrainingBatch", message: "target \(t) is \(target), input is \(input): targets need the input's N and device")
            }
            if let mask = masks[t] {
                guard mask.shape == [n], mask.device === input.device else {
                    throw TandemError.invalidArgument(
                        op: "TrainingBatch", message: "mask \(t) is \(mask), needs [\(n)] on \(input.device.info.selector)")
                }
            }
        }
    }
}

extension TaskSpec {
    /// The task's loss with a per-sample `mask` [N] honoured for every task kind: for depth the mask is
    /// combined with the usual "target ≠ 0" rule, for normals with "target is a nonzero vector".
    /// Without a mask this is `loss(_:_:)`.
    public func maskedLoss(_ prediction: Tensor, _ target: Tensor, mask: Tensor?) throws -> Tensor {
        guard let mask else { return try loss(prediction, target) }
        let perSample = { (rank: Int) in try mask.reshape([mask.count] + [Int](repeating: 1, count: Swift.max(rank - 1, 0))) }
        switch kind {
        case .depth:
            return try prediction.maskedL1Loss(target: target, mask: perSample(target.rank) * target.notEqual(0))
        case .normals:
            return try prediction.normalLoss(target: target, mask: perSample(target.rank))
        case .classification, .regression, .segmentation:
            return try loss(prediction, target, mask: mask)
        }
    }
}
