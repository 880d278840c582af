import TandemCore

/// A data set whose inputs and labels are held in host arrays: the user's `.npz`/`.npy` data, and
/// the generated mmoe-synth and gradnorm-toy sets.
///
/// Missing labels: a NaN anywhere in a sample's label, or a negative class for a classification or
/// segmentation task given per sample, marks that sample's label missing for that task; the batch then
/// holds −1 (classes) or 0 (real values) there and the task's mask is 0 for that sample.
public struct ArrayDataset: MultiTaskDataset {
    /// The data set's name for messages.
    public let name: String
    /// The number of samples.
    public let count: Int
    /// The shape of one input.
    public let inputShape: [Int]
    /// The tasks, in label order.
    public let tasks: [DatasetTask]
    /// Inputs [count, inputShape...].
    public let inputs: [Float]
    /// Per task: labels [count, labelShape...] as given (missing ones still NaN or −1).
    public let labels: [[Float]]
    /// Per task: whether each sample's label is missing; nil when none is.
    let missing: [[Bool]?]

    /// A data set of `count` samples. Throws when an array's length does not match `count` times its
    /// per-sample shape, naming the array.
    public init(name: String, inputs: [Float], inputShape: [Int], tasks: [DatasetTask], labels: [[Float]]) throws {
        let op = "dataset \(name)"
        let inputCount = inputShape.reduce(1, *)
        guard inputCount > 0, inputs.count % inputCount == 0 else {
            throw TandemError.invalidArgument(op: op, message: "inputs of \(inputs.count) values are not whole samples of shape \(inputShape)")
        }
        let count = inputs.count / inputCount
        guard tasks.count == labels.count, !tasks.isEmpty else {
            throw TandemError.invalidArgument(op: op, message: "\(tasks.count) tasks but \(labels.count) label arrays")
        }
        var missing: [[Bool]?] = []
        for (task, values) in zip(tasks, labels) {
            guard values.count == count * task.labelCount else {
                throw TandemError.invalidArgument(
                    op: op, message: "labels of task '\(task.name)' hold \(values.count / max(1, task.labelCount)) samples but the inputs hold \(count)")
            }
            var flags = [Bool](repeating: false, count: count)
            var any = false
            let per = task.labelCount
            let classesPerSample: Bool
            switch task.kind {
            case .classification: classesPerSample = true
            default: classesPerSample = false
            }
            for i in 0..<count {
                for j in 0..<per {
                    let v = values[i * per + j]
                    if v.isNaN || (classesPerSample && v < 0) { flags[i] = true; any = true; break }
                }
            }
            missing.append(any ? flags : nil)
        }
        self.name = name
        self.count = count
        self.inputShape = inputShape
        self.tasks = tasks
        self.inputs = inputs
        self.labels = labels
        self.missing = missing
    }

    /// The samples at `indices`.
    public func batch(_ indices: [Int]) -> HostBatch {
        let n = inputCount
        var x = [Float](repeating: 0, count: indices.count * n)
        x.withUnsafeMutableBufferPointer { out in
            inputs.withUnsafeBufferPointer { source in
                for (b, i) in indices.enumerated() {
                    out.baseAddress!.advanced(by: b * n).update(from: source.baseAddress!.advanced(by: i * n), count: n)
                }
            }
        }
        var batchLabels: [[Float]] = []
        var masks: [[Float]?] = []
        for (t, task) in tasks.enumerated() {
            let per = task.labelCount
            let source = labels[t]
            var y = [Float](repeating: 0, count: indices.count * per)
            let fill: Float
            switch task.kind {
            case .classification, .segmentation: fill = -1
            default: fill = 0
            }
            var mask: [Float]? = nil
            for (b, i) in indices.enumerated() {
                if let flags = missing[t], flags[i] {
                    if mask == nil { mask = [Float](repeating: 1, count: indices.count) }
                    mask![b] = 0
                    for j in 0..<per { y[b * per + j] = fill }
                } else {
                    for j in 0..<per {
                        let v = source[i * per + j]
                        // Per-element gaps inside dense labels: ignored class or zero target.
                        y[b * per + j] = v.isNaN ? fill : v
                    }
                }
            }
            batchLabels.append(y)
            masks.append(mask)
        }
        return HostBatch(indices: indices, inputs: x, inputShape: [indices.count] + inputShape, labels: batchLabels, masks: masks)
    }

    /// The samples at `indices` as a new data set (for a held-out split).
    /// Per sample, whether task `task` has its label; nil when none is missing.
    public func labelledMask(task: Int) -> [Bool]? { missing[task].map { $0.map { !$0 } } }

    public func subset(_ indices: [Int], name: String) throws -> ArrayDataset {
        let b = batch(indices)
        // Keep the original markers of missing labels so the subset reports them the same way.
        let raw = tasks.indices.map { t -> [Float] in
            let per = tasks[t].labelCount
            var out = [Float](repeating: 0, count: indices.count * per)
            for (k, i) in indices.enumerated() { for j in 0..<per { out[k * per + j] = labels[t][i * per + j] } }
            return out
        }
        return try ArrayDataset(name: name, inputs: b.inputs, inputShape: inputShape, tasks: tasks, labels: raw)
    }
}
