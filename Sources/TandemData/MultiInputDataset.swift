import TandemCore

/// Multi-input data: each task brings its own samples (different inputs, domains or data sets per
/// task, LibMTL's multi-input mode). The parts are joined into one data set in which every sample
/// carries its own task's label only: the other tasks' labels are missing (−1 for classes, 0 for
/// real values, mask 0), so a task's loss and metrics see exactly its own data. The parts' samples
/// are interleaved in proportion to their sizes (sample i of part p sits at the position of
/// (i + ½)/nₚ among all), so the first N samples (`--limit`) keep every part's share.
///
/// `DataLoader(taskSampling:)` then draws each step's tasks by a rule and each sampled task's samples
/// from its own part only (`labelledMask`).
public struct MultiInputDataset: MultiTaskDataset {
    /// One task's data: `data`'s task `task` (by index), trained as `name`.
    public struct Part: Sendable {
        public var name: String
        public var data: any MultiTaskDataset
        public var task: Int

        public init(name: String, data: any MultiTaskDataset, task: Int = 0) {
            self.name = name
            self.data = data
            self.task = task
        }
    }

    public let name: String
    public let parts: [Part]
    /// Per sample: its part and its index in that part.
    let owner: [(part: Int32, index: Int32)]

    /// Joins `parts` (one task each, the same input shape, distinct names).
    public init(name: String, parts: [Part]) throws {
        func fail(_ message: String) -> TandemError { .invalidArgument(op: "multi-input data \(name)", message: message) }
        guard let first = parts.first else { throw fail("no parts") }
        for part in parts {
            guard part.data.tasks.indices.contains(part.task) else { throw fail("part '\(part.name)' names task \(part.task) of \(part.data.tasks.count)") }
            guard part.data.inputShape == first.data.inputShape else {
                throw fail("every task's inputs must have one shape: '\(first.name)' has \(first.data.inputShape), '\(part.name)' \(part.data.inputShape)")
            }
            guard part.data.count > 0 else { throw fail("task '\(part.name)' has no samples") }
        }
        guard Set(parts.map(\.name)).count == parts.count else { throw fail("task names repeat: \(parts.map(\.name))") }
        guard parts.reduce(0, { $0 + $1.data.count }) < Int(Int32.max) else { throw fail("too many samples") }
        self.name = name
        self.parts = parts
        var order: [(key: Double, part: Int32, index: Int32)] = []
        for (p, part) in parts.enumerated() {
            let n = Double(part.data.count)
            for i in 0..<part.data.count { order.append(((Double(i) + 0.5) / n, Int32(p), Int32(i))) }
        }
        order.sort { ($0.key, $0.part) < ($1.key, $1.part) }
        owner = order.map { ($0.part, $0.index) }
    }

    public var count: Int { owner.count }
    public var inputShape: [Int] { parts[0].data.inputShape }
    public var tasks: [DatasetTask] {
        parts.map { part in
            var task = part.data.tasks[part.task]
            task.name = part.name
            return task
        }
    }

    /// The part (task) sample `index` belongs to.
    public func part(of index: Int) -> Int { Int(owner[index].part) }

    public func batch(_ indices: [Int]) -> HostBatch {
        let tasks = self.tasks
        let inputCount = inputShape.reduce(1, *)
        var inputs = [Float](repeating: 0, count: indices.count * inputCount)
        var labels = tasks.map { task -> [Float] in
            let missing: Float
            switch task.kind {
            case .classification, .segmentation: missing = -1
            default: missing = 0
            }
            return [Float](repeating: missing, count: indices.count * task.labelCount)
        }
        var masks = tasks.map { _ in [Float](repeating: 0, count: indices.count) }
        // One batch per part, scattered to the samples' places.
        var rows: [[Int]] = parts.map { _ in [] }
        var places: [[Int]] = parts.map { _ in [] }
        for (slot, index) in indices.enumerated() {
            let (p, i) = owner[index]
            rows[Int(p)].append(Int(i))
            places[Int(p)].append(slot)
        }
        for (p, part) in parts.enumerated() where !rows[p].isEmpty {
            let sub = part.data.batch(rows[p])
            let width = tasks[p].labelCount
            let own = sub.labels[part.task]
            let ownMask = sub.masks[part.task]
            for (k, slot) in places[p].enumerated() {
                inputs.replaceSubrange((slot * inputCount)..<((slot + 1) * inputCount), with: sub.inputs[(k * inputCount)..<((k + 1) * inputCount)])
                labels[p].replaceSubrange((slot * width)..<((slot + 1) * width), with: own[(k * width)..<((k + 1) * width)])
                masks[p][slot] = ownMask?[k] ?? 1
            }
        }
        return HostBatch(indices: indices, inputs: inputs, inputShape: [indices.count] + inputShape, labels: labels, masks: masks.map { $0 })
    }

    public func labelledMask(task: Int) -> [Bool]? {
        let inner = parts[task].data.labelledMask(task: parts[task].task)
        return owner.map { Int($0.part) == task && (inner?[Int($0.index)] ?? true) }
    }
}
