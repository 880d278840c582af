import TandemCore

/// Some samples of another data set, in the order given: the first N samples (`--limit`), or a
/// seeded validation hold-out carved from the training data.
public struct SubsetDataset: MultiTaskDataset {
    /// The data set the samples come from.
    public let base: any MultiTaskDataset
    /// The base's indices of this subset's samples, in order.
    public let indices: [Int]
    public let name: String

    /// The samples of `base` at `indices` (each in 0..<base.count), named `name`.
    public init(_ base: any MultiTaskDataset, indices: [Int], name: String) throws {
        if let bad = indices.first(where: { $0 < 0 || $0 >= base.count }) {
            throw TandemError.invalidArgument(op: "dataset \(name)", message: "index \(bad) is outside \(base.name)'s \(base.count) samples")
        }
        self.base = base
        self.indices = indices
        self.name = name
    }

    public var count: Int { indices.count }
    public var inputShape: [Int] { base.inputShape }
    public var tasks: [DatasetTask] { base.tasks }

    public func batch(_ batchIndices: [Int]) -> HostBatch {
        var batch = base.batch(batchIndices.map { indices[$0] })
        batch.indices = batchIndices
        return batch
    }

    public func labelledMask(task: Int) -> [Bool]? {
        guard let mask = base.labelledMask(task: task) else { return nil }
        return indices.map { mask[$0] }
    }
}

extension MultiTaskDataset {
    /// The first `count` samples (all of them when there are fewer).
    public func prefix(_ count: Int) throws -> any MultiTaskDataset {
        count >= self.count ? self : try SubsetDataset(self, indices: Array(0..<Swift.max(0, count)), name: name)
    }

    /// A seeded split into (rest, held out): `fraction` of the samples (rounded, at least 1 and
    /// leaving at least 1) are held out; both keep index order. The same seed gives the same split.
    public func holdOut(fraction: Double, seed: UInt64, names: (String, String)) throws -> (any MultiTaskDataset, any MultiTaskDataset) {
        guard count >= 2 else {
            throw TandemError.invalidArgument(op: "dataset \(name)", message: "\(count) sample(s) cannot be split to hold out \(fraction) of them")
        }
        var random = DataRandom(seed: seed, stream: 0x7A1D)
        let order = random.permutation(count)
        let held = Swift.min(count - 1, Swift.max(1, Int((Double(count) * fraction).rounded())))
        return (try SubsetDataset(self, indices: Array(order[held...]).sorted(), name: names.0),
                try SubsetDataset(self, indices: Array(order[..<held]).sorted(), name: names.1))
    }
}
