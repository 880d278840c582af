import Tandem

/// A data set copied from the caller's arrays and checked against the model: N samples of inputs,
/// per-task labels and optional per-task masks.
struct HostData {
    var samples: Int
    var inputs: [Float]
    var labels: [[Float]]
    var masks: [[Float]?]

    /// Elements of `count` items of `size` each, or an error on overflow.
    static func product(_ count: Int, _ size: Int, _ function: String) throws -> Int {
        let (value, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow else { throw APIError.invalid(function, "\(count) samples of \(size) floats overflow") }
        return value
    }

    /// Checks the inputs' pointer and length against `samples` without reading them (so that a step
    /// can be refused before its data is copied).
    @discardableResult
    static func checkInputs(_ state: ModelState, _ pointer: UnsafePointer<Float>?, _ length: Int, _ samples: Int,
                            _ function: String) throws -> UnsafePointer<Float> {
        guard let pointer else { throw APIError.null(function, "inputs") }
        guard samples >= 1 else { throw APIError.invalid(function, "samples must be at least 1, got \(samples)") }
        let needed = try product(samples, state.inputSize, function)
        guard length == needed else {
            throw APIError.invalid(function, "inputs_length is \(length), but \(samples) samples of input shape \(state.config.inputShape) need \(needed) floats")
        }
        return pointer
    }

    /// The inputs alone (for `tandem_predict`).
    static func inputs(_ state: ModelState, _ pointer: UnsafePointer<Float>?, _ length: Int, _ samples: Int,
                       _ function: String) throws -> [Float] {
        let pointer = try checkInputs(state, pointer, length, samples, function)
        let values = Array(UnsafeBufferPointer(start: pointer, count: length))
        if let bad = LabelCheck.firstNonFinite(values) {
            let per = max(1, length / max(1, samples))
            throw APIError.invalid(function, "inputs[\(bad)] (sample \(bad / per), element \(bad % per)) is \(values[bad]); inputs must be finite")
        }
        return values
    }

    /// Copies and validates the arguments of a training or evaluation call.
    init(_ state: ModelState, function: String,
         inputs: UnsafePointer<Float>?, inputsLength: Int, samples: Int,
         labels: UnsafePointer<UnsafePointer<Float>?>?, labelLengths: UnsafePointer<Int>?,
         masks: UnsafePointer<UnsafePointer<Float>?>?, maskLengths: UnsafePointer<Int>?) throws {
        self.samples = samples
        self.inputs = try Self.inputs(state, inputs, inputsLength, samples, function)
        guard let labels else { throw APIError.null(function, "labels") }
        guard let labelLengths else { throw APIError.null(function, "label_lengths") }
        if masks != nil, maskLengths == nil { throw APIError.null(function, "mask_lengths (masks is not NULL)") }
        var allLabels: [[Float]] = []
        var allMasks: [[Float]?] = []
        for t in 0..<state.taskCount {
            let task = state.config.tasks[t]
            guard let pointer = labels[t] else { throw APIError.null(function, "labels[\(t)] (task '\(task.name)')") }
            let needed = try Self.product(samples, state.labelSizes[t], function)
            guard labelLengths[t] == needed else {
                throw APIError.invalid(function, "label_lengths[\(t)] is \(labelLengths[t]), but task '\(task.name)' needs \(needed) floats (\(samples) samples × \(state.labelSizes[t]))")
            }
            let values = Array(UnsafeBufferPointer(start: pointer, count: needed))
            // The same rules as user data files (LabelCheck); missing targets are masked here, not NaN.
            if let (bad, rule) = LabelCheck.firstInvalid(values, kind: task.labelKind, nanMarksMissing: false) {
                throw APIError.invalid(function, "labels[\(t)][\(bad)] is \(values[bad]): task '\(task.name)': \(rule)")
            }
            allLabels.append(values)
            if let masks, let maskLengths, let maskPointer = masks[t] {
                guard maskLengths[t] == samples else {
                    throw APIError.invalid(function, "mask_lengths[\(t)] is \(maskLengths[t]), but a mask has one float per sample (\(samples))")
                }
                let mask = Array(UnsafeBufferPointer(start: maskPointer, count: samples))
                if let bad = mask.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                    throw APIError.invalid(function, "masks[\(t)][\(bad)] is \(mask[bad]); masks hold 1 (label present) or 0 (missing)")
                }
                allMasks.append(mask)
            } else {
                allMasks.append(nil)
            }
        }
        self.labels = allLabels
        self.masks = allMasks
    }

    /// The samples at `indices` as a batch on the model's device.
    func batch(_ indices: [Int], _ state: ModelState) throws -> TrainingBatch {
        let n = indices.count
        func gather(_ values: [Float], _ size: Int) -> [Float] {
            var out = [Float]()
            out.reserveCapacity(n * size)
            for i in indices { out.append(contentsOf: values[(i * size)..<((i + 1) * size)]) }
            return out
        }
        let contiguous = indices.first.map { first in indices.enumerated().allSatisfy { $0.element == first + $0.offset } } ?? true
        let pick: ([Float], Int) -> [Float] = { values, size in
            if contiguous, let first = indices.first {
                return Array(values[(first * size)..<((first + n) * size)])
            }
            return gather(values, size)
        }
        let device = state.device
        return try TrainingBatch(
            input: Tensor(pick(inputs, state.inputSize), shape: [n] + state.config.inputShape, on: device),
            targets: (0..<labels.count).map { t in try Tensor(pick(labels[t], state.labelSizes[t]), shape: [n] + state.labelShapes[t], on: device) },
            masks: masks.map { mask in try mask.map { try Tensor(pick($0, 1), shape: [n], on: device) } })
    }

    /// Consecutive batches of at most `size` samples covering `order`; a last batch of one sample is
    /// merged into the one before (batch norm needs two samples in training).
    static func chunks(_ order: [Int], size: Int) -> [[Int]] {
        var result: [[Int]] = stride(from: 0, to: order.count, by: size).map { Array(order[$0..<Swift.min($0 + size, order.count)]) }
        if result.count >= 2, let last = result.last, last.count == 1 {
            result.removeLast()
            result[result.count - 1].append(contentsOf: last)
        }
        return result
    }
}
