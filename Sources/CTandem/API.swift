// The C API of include/tandem.h. Every function is `@c @implementation`: the compiler checks its
// signature against the header. Each body runs inside `guarded`, which turns every Swift error into a
// status code and a per-thread message; arguments are validated before anything is read through them.
import CTandemHeader
import Tandem

// MARK: Errors and version

@c @implementation
public func tandem_last_error() -> UnsafePointer<CChar>? { LastError.current }

@c @implementation
public func tandem_status_name(_ status: Int32) -> UnsafePointer<CChar>? { cString(Status.name(status)) }

@c @implementation
public func tandem_version() -> UnsafePointer<CChar>? { cString(tandemVersion) }

// MARK: Devices

/// A device as the JSON object of `tandem_device_info_json`.
func deviceJSON(_ index: Int, _ info: DeviceInfo) -> JSON {
    .object([
        ("index", .number(Double(index))),
        ("selector", .string(info.selector)),
        ("kind", .string(info.kind.rawValue)),
        ("type", .string(info.type.rawValue)),
        ("name", .string(info.name)),
        ("platform", .string(info.platform)),
        ("driver", .string(info.driver)),
        ("compute_units", .number(Double(info.computeUnits))),
        ("global_memory_bytes", .number(Double(info.globalMemoryBytes))),
        ("max_work_group_size", .number(Double(info.maxWorkGroupSize))),
        ("local_memory_bytes", .number(Double(info.localMemoryBytes))),
    ])
}

/// The device list, read under the library lock (discovery opens OpenCL once per process).
func deviceList() -> [DeviceInfo] {
    registry.withLock { _ in Devices.all }
}

@c @implementation
public func tandem_device_count(_ count: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("tandem_device_count") {
        guard let count else { throw APIError.null("tandem_device_count", "count") }
        count.pointee = deviceList().count
    }
}

@c @implementation
public func tandem_device_info_json(_ index: Int, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                                    _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    let function = "tandem_device_info_json"
    return guarded(function) {
        guard capacity >= 0 else { throw APIError.invalid(function, "capacity \(capacity) is negative (a size_t above SIZE_MAX/2)") }
        let devices = deviceList()
        guard index >= 0, index < devices.count else {
            throw APIError.invalid(function, "device index \(index) out of range: there are \(devices.count) devices")
        }
        try deliver(deviceJSON(index, devices[index]).compact(), to: buffer, capacity: capacity, length: length, function: function)
    }
}

@c @implementation
public func tandem_devices_json(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int, _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    let function = "tandem_devices_json"
    return guarded(function) {
        guard capacity >= 0 else { throw APIError.invalid(function, "capacity \(capacity) is negative (a size_t above SIZE_MAX/2)") }
        let json = JSON.array(deviceList().enumerated().map { deviceJSON($0.offset, $0.element) })
        try deliver(json.compact(), to: buffer, capacity: capacity, length: length, function: function)
    }
}

// MARK: Models

@c @implementation
public func tandem_model_create(_ configJSON: UnsafePointer<CChar>?, _ model: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    let function = "tandem_model_create"
    return guarded(function) {
        guard let configJSON else { throw APIError.null(function, "config_json") }
        guard let model else { throw APIError.null(function, "model") }
        let config = try ModelConfig.parsed(String(cString: configJSON))
        let handle = try registry.withLock { (registry: inout Registry) throws -> UInt in
            do {
                return registry.add(try ModelState(config))
            } catch {
                throw APIError.from(error, in: function, configContext: true)
            }
        }
        model.pointee = OpaquePointer(bitPattern: handle)
    }
}

@c @implementation
public func tandem_model_free(_ model: OpaquePointer?) -> Int32 {
    let function = "tandem_model_free"
    return guarded(function) {
        // The state leaves the registry under the lock and is released there too, so that device
        // buffers return to their pools before another call runs.
        try registry.withLock { (registry: inout Registry) throws -> Void in
            _ = try lookup(registry, model, function)
            let key = UInt(bitPattern: Int(bitPattern: model.map(UnsafeRawPointer.init)))
            registry.models[key] = nil
        }
    }
}

@c @implementation
public func tandem_model_live_count(_ count: UnsafeMutablePointer<Int>?) -> Int32 {
    guarded("tandem_model_live_count") {
        guard let count else { throw APIError.null("tandem_model_live_count", "count") }
        count.pointee = registry.withLock { $0.models.count }
    }
}

@c @implementation
public func tandem_model_info_json(_ model: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                                   _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    let function = "tandem_model_info_json"
    return guarded(function) {
        guard capacity >= 0 else { throw APIError.invalid(function, "capacity \(capacity) is negative (a size_t above SIZE_MAX/2)") }
        try withModel(model, function) { state in
            try deliver(state.infoJSON.compact(), to: buffer, capacity: capacity, length: length, function: function)
        }
    }
}

@c @implementation
public func tandem_model_task_count(_ model: OpaquePointer?, _ count: UnsafeMutablePointer<Int>?) -> Int32 {
    let function = "tandem_model_task_count"
    return guarded(function) {
        try withModel(model, function) { state in
            guard let count else { throw APIError.null(function, "count") }
            count.pointee = state.taskCount
        }
    }
}

@c @implementation
public func tandem_model_input_size(_ model: OpaquePointer?, _ size: UnsafeMutablePointer<Int>?) -> Int32 {
    let function = "tandem_model_input_size"
    return guarded(function) {
        try withModel(model, function) { state in
            guard let size else { throw APIError.null(function, "size") }
            size.pointee = state.inputSize
        }
    }
}

/// Checks a task index.
func checkTask(_ task: Int, _ state: ModelState, _ function: String) throws {
    guard task >= 0, task < state.taskCount else {
        throw APIError.invalid(function, "task index \(task) out of range: the model has \(state.taskCount) tasks")
    }
}

@c @implementation
public func tandem_model_label_size(_ model: OpaquePointer?, _ task: Int, _ size: UnsafeMutablePointer<Int>?) -> Int32 {
    let function = "tandem_model_label_size"
    return guarded(function) {
        try withModel(model, function) { state in
            guard let size else { throw APIError.null(function, "size") }
            try checkTask(task, state, function)
            size.pointee = state.labelSizes[task]
        }
    }
}

@c @implementation
public func tandem_model_output_size(_ model: OpaquePointer?, _ task: Int, _ size: UnsafeMutablePointer<Int>?) -> Int32 {
    let function = "tandem_model_output_size"
    return guarded(function) {
        try withModel(model, function) { state in
            guard let size else { throw APIError.null(function, "size") }
            try checkTask(task, state, function)
            size.pointee = state.outputSizes[task]
        }
    }
}

@c @implementation
public func tandem_model_progress(_ model: OpaquePointer?, _ epoch: UnsafeMutablePointer<Int64>?,
                                  _ step: UnsafeMutablePointer<Int64>?) -> Int32 {
    let function = "tandem_model_progress"
    return guarded(function) {
        try withModel(model, function) { state in
            epoch?.pointee = Int64(state.trainer.epoch)
            step?.pointee = Int64(state.trainer.step)
        }
    }
}

// MARK: Training and evaluation

/// Checks a per-task output array: NULL is allowed, else it needs one slot per task.
func checkLosses<T>(_ pointer: UnsafeMutablePointer<T>?, _ length: Int, _ state: ModelState, _ function: String) throws {
    guard pointer != nil else { return }
    guard length >= state.taskCount else {
        throw APIError.invalid(function, "losses_length is \(length), the model has \(state.taskCount) tasks")
    }
}

@c @implementation
public func tandem_train_step(_ model: OpaquePointer?,
                              _ inputs: UnsafePointer<Float>?, _ inputsLength: Int, _ samples: Int,
                              _ labels: UnsafePointer<UnsafePointer<Float>?>?, _ labelLengths: UnsafePointer<Int>?,
                              _ masks: UnsafePointer<UnsafePointer<Float>?>?, _ maskLengths: UnsafePointer<Int>?,
                              _ losses: UnsafeMutablePointer<Float>?, _ lossesLength: Int) -> Int32 {
    let function = "tandem_train_step"
    return guarded(function) {
        try withModel(model, function) { state in
            try checkLosses(losses, lossesLength, state, function)
            try HostData.checkInputs(state, inputs, inputsLength, samples, function)
            try state.checkStepFits(samples: samples)
            let data = try HostData(state, function: function, inputs: inputs, inputsLength: inputsLength, samples: samples,
                                    labels: labels, labelLengths: labelLengths, masks: masks, maskLengths: maskLengths)
            let values = try state.trainer.trainStep(try data.batch(Array(0..<samples), state))
            if let losses { for (t, value) in values.enumerated() { losses[t] = value } }
        }
    }
}

@c @implementation
public func tandem_end_epoch(_ model: OpaquePointer?, _ meanLosses: UnsafeMutablePointer<Float>?, _ lossesLength: Int) -> Int32 {
    let function = "tandem_end_epoch"
    return guarded(function) {
        try withModel(model, function) { state in
            try checkLosses(meanLosses, lossesLength, state, function)
            let report = try state.trainer.endEpoch()
            if let meanLosses { for (t, value) in report.trainLosses.enumerated() { meanLosses[t] = value } }
        }
    }
}

@c @implementation
public func tandem_train_epoch(_ model: OpaquePointer?,
                               _ inputs: UnsafePointer<Float>?, _ inputsLength: Int, _ samples: Int,
                               _ labels: UnsafePointer<UnsafePointer<Float>?>?, _ labelLengths: UnsafePointer<Int>?,
                               _ masks: UnsafePointer<UnsafePointer<Float>?>?, _ maskLengths: UnsafePointer<Int>?,
                               _ meanLosses: UnsafeMutablePointer<Float>?, _ lossesLength: Int) -> Int32 {
    let function = "tandem_train_epoch"
    return guarded(function) {
        try withModel(model, function) { state in
            try checkLosses(meanLosses, lossesLength, state, function)
            try HostData.checkInputs(state, inputs, inputsLength, samples, function)
            let trainer = state.trainer
            var random = SplitMix64(seed: state.config.seed ^ (UInt64(truncatingIfNeeded: trainer.epoch) &* 0x9e37_79b9_7f4a_7c15))
            let order = Array(0..<samples).shuffled(using: &random)
            let chunks = HostData.chunks(order, size: state.config.batchSize)
            try state.checkStepFits(samples: chunks.map(\.count).max() ?? 0)
            let data = try HostData(state, function: function, inputs: inputs, inputsLength: inputsLength, samples: samples,
                                    labels: labels, labelLengths: labelLengths, masks: masks, maskLengths: maskLengths)
            for chunk in chunks {
                try trainer.trainStep(try data.batch(chunk, state))
            }
            let report = try trainer.endEpoch()
            if let meanLosses { for (t, value) in report.trainLosses.enumerated() { meanLosses[t] = value } }
        }
    }
}

@c @implementation
public func tandem_evaluate(_ model: OpaquePointer?,
                            _ inputs: UnsafePointer<Float>?, _ inputsLength: Int, _ samples: Int,
                            _ labels: UnsafePointer<UnsafePointer<Float>?>?, _ labelLengths: UnsafePointer<Int>?,
                            _ masks: UnsafePointer<UnsafePointer<Float>?>?, _ maskLengths: UnsafePointer<Int>?,
                            _ losses: UnsafeMutablePointer<Double>?, _ lossesLength: Int) -> Int32 {
    let function = "tandem_evaluate"
    return guarded(function) {
        try withModel(model, function) { state in
            try checkLosses(losses, lossesLength, state, function)
            let data = try HostData(state, function: function, inputs: inputs, inputsLength: inputsLength, samples: samples,
                                    labels: labels, labelLengths: labelLengths, masks: masks, maskLengths: maskLengths)
            let batches = try stride(from: 0, to: samples, by: state.config.batchSize).map { start in
                try data.batch(Array(start..<min(start + state.config.batchSize, samples)), state)
            }
            let result = try state.trainer.evaluate(batches)
            state.lastEvaluation = result
            if let losses { for (t, task) in result.tasks.enumerated() { losses[t] = task.loss } }
        }
    }
}

@c @implementation
public func tandem_metric(_ model: OpaquePointer?, _ task: Int, _ name: UnsafePointer<CChar>?, _ value: UnsafeMutablePointer<Double>?) -> Int32 {
    let function = "tandem_metric"
    return guarded(function) {
        try withModel(model, function) { state in
            guard let name else { throw APIError.null(function, "name") }
            guard let value else { throw APIError.null(function, "value") }
            try checkTask(task, state, function)
            guard let result = state.lastEvaluation else {
                throw APIError(Status.notReady, "\(function): no evaluation yet; call tandem_evaluate first")
            }
            let metrics = result.tasks[task]
            let key = String(cString: name)
            if key == "loss" {
                value.pointee = metrics.loss
            } else if let metric = metrics.metrics.first(where: { $0.name == key }) {
                value.pointee = metric.value
            } else {
                throw APIError.invalid(function, "task '\(metrics.task)' has no metric '\(key)'; it has: \((["loss"] + metrics.metrics.map(\.name)).joined(separator: ", "))")
            }
        }
    }
}

@c @implementation
public func tandem_metrics_json(_ model: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int,
                                _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    let function = "tandem_metrics_json"
    return guarded(function) {
        guard capacity >= 0 else { throw APIError.invalid(function, "capacity \(capacity) is negative (a size_t above SIZE_MAX/2)") }
        try withModel(model, function) { state in
            guard let result = state.lastEvaluation else {
                throw APIError(Status.notReady, "\(function): no evaluation yet; call tandem_evaluate first")
            }
            let json = JSON.object(result.tasks.map { task in
                (task.task, .object([("loss", .number(task.loss))] + task.metrics.map { ($0.name, .number($0.value)) }))
            })
            try deliver(json.compact(), to: buffer, capacity: capacity, length: length, function: function)
        }
    }
}

@c @implementation
public func tandem_predict(_ model: OpaquePointer?, _ inputs: UnsafePointer<Float>?, _ inputsLength: Int, _ samples: Int,
                           _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outputsLengths: UnsafePointer<Int>?) -> Int32 {
    let function = "tandem_predict"
    return guarded(function) {
        try withModel(model, function) { state in
            let values = try HostData.inputs(state, inputs, inputsLength, samples, function)
            guard let outputs else { throw APIError.null(function, "outputs") }
            guard let outputsLengths else { throw APIError.null(function, "outputs_lengths") }
            var targets: [UnsafeMutablePointer<Float>] = []
            for t in 0..<state.taskCount {
                guard let pointer = outputs[t] else { throw APIError.null(function, "outputs[\(t)]") }
                let needed = try HostData.product(samples, state.outputSizes[t], function)
                guard outputsLengths[t] >= needed else {
                    throw APIError.invalid(function, "outputs_lengths[\(t)] is \(outputsLengths[t]), but \(samples) predictions of task '\(state.config.tasks[t].name)' need \(needed) floats")
                }
                targets.append(pointer)
            }
            // Compute everything first: the caller's buffers are written only on success.
            let model = state.model
            let wasTraining = model.isTraining
            model.eval()
            defer { model.train(wasTraining) }
            var results = [[Float]](repeating: [], count: state.taskCount)
            let size = state.config.batchSize
            try Tensor.withoutGradient {
                for start in stride(from: 0, to: samples, by: size) {
                    let n = min(size, samples - start)
                    let input = try Tensor(Array(values[(start * state.inputSize)..<((start + n) * state.inputSize)]),
                                           shape: [n] + state.config.inputShape, on: state.device)
                    let predictions = try model.forward(input)
                    guard predictions.count == state.taskCount else {
                        throw APIError(Status.internal, "\(function): the model returned \(predictions.count) outputs")
                    }
                    for (t, prediction) in predictions.enumerated() {
                        let host = try prediction.values()
                        guard host.count == n * state.outputSizes[t] else {
                            throw APIError(Status.internal, "\(function): task \(t) predicted \(prediction.shape) for \(n) samples")
                        }
                        results[t].append(contentsOf: host)
                    }
                }
            }
            for t in 0..<state.taskCount {
                results[t].withUnsafeBufferPointer { source in
                    if let base = source.baseAddress { targets[t].update(from: base, count: source.count) }
                }
            }
        }
    }
}

// MARK: Checkpoints

@c @implementation
public func tandem_save_checkpoint(_ model: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    let function = "tandem_save_checkpoint"
    return guarded(function, io: true) {
        try withModel(model, function) { state in
            guard let path else { throw APIError.null(function, "path") }
            let file = String(cString: path)
            guard !file.isEmpty else { throw APIError.invalid(function, "path is empty") }
            try state.trainer.saveCheckpoint(to: file)
        }
    }
}

@c @implementation
public func tandem_load_checkpoint(_ model: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    let function = "tandem_load_checkpoint"
    return guarded(function, io: true) {
        try withModel(model, function) { state in
            guard let path else { throw APIError.null(function, "path") }
            let file = String(cString: path)
            guard !file.isEmpty else { throw APIError.invalid(function, "path is empty") }
            do {
                try state.trainer.loadCheckpoint(from: file)
            } catch TandemError.invalidArgument(_, let message) where message.contains("not a Tandem trainer checkpoint") {
                // A model-only file (Checkpoint.save, or PyTorch's state dict as safetensors): weights only.
                try Checkpoint.load(file, into: state.model)
            }
            state.lastEvaluation = nil
        }
    }
}
