/// A data set with one task added: `name`, whose labels are each sample's own input, flattened
/// (regression targets of the input's size). Trained as an auxiliary task it makes the shared
/// layers an autoencoder's encoder (input reconstruction, Ruder 2017 Sec. 7's auxiliary tasks).
public struct ReconstructionTask: MultiTaskDataset {
    public let base: any MultiTaskDataset
    public let taskName: String

    /// `base` with the task `name` added last.
    public init(_ base: any MultiTaskDataset, name: String = "reconstruction") {
        self.base = base
        self.taskName = name
    }

    public var name: String { base.name }
    public var count: Int { base.count }
    public var inputShape: [Int] { base.inputShape }
    public var tasks: [DatasetTask] { base.tasks + [DatasetTask(taskName, .regression, labelShape: [base.inputCount])] }

    public func batch(_ indices: [Int]) -> HostBatch {
        var batch = base.batch(indices)
        batch.labels.append(batch.inputs)
        batch.masks.append(nil)
        return batch
    }

    public func labelledMask(task: Int) -> [Bool]? { task < base.tasks.count ? base.labelledMask(task: task) : nil }
}
