import TandemCore
import TandemData
import TandemNN
import TandemSupport

/// Checkpoints in safetensors.
///
/// A model checkpoint holds the state dict under its PyTorch-style names (parameters and buffers such
/// as batch-norm statistics), so it loads into the PyTorch module of the same structure. A trainer
/// checkpoint adds, under names containing `/` (never part of a state-dict name):
/// `optimizer/<parameter index>/<slot>` (SGD momentum, Adam m and v), `weighting/parameters/<i>` and
/// `weighting/state/<key>`; and in `__metadata__` the training position (epoch, step, step in epoch,
/// seeds, the epoch's running loss sums), the optimizer's learning rate and step counts, and the
/// best epoch. Writing is atomic; loading validates everything before it changes anything.
public enum Checkpoint {
    /// `format` metadata of a trainer checkpoint.
    public static let trainerFormat = "tandem.trainer.v1"
    /// `format` metadata of a model-only checkpoint.
    public static let modelFormat = "tandem.model.v1"

    /// Writes `model`'s state dict (parameters and buffers) to `path` atomically, with `metadata`.
    public static func save(model: Module, to path: String, metadata: [String: String] = [:]) throws {
        var all = metadata
        all["format"] = modelFormat
        all["model"] = "\(type(of: model))"
        try Safetensors.write(try model.stateDict().map { Safetensors.Entry(name: $0.0, shape: $0.1.shape, values: $0.1.values) },
                              metadata: all, to: path)
    }

    /// Loads the state dict in `path` (a model or trainer checkpoint, or a PyTorch-written safetensors
    /// file of the same structure) into `model`. On any error the model is unchanged.
    public static func load(_ path: String, into model: Module) throws {
        try loadModelState(Safetensors.read(path), into: model, path: path)
    }

    /// The model part of `contents` loaded into `model`, errors naming `path`.
    static func loadModelState(_ contents: Safetensors.Contents, into model: Module, path: String) throws {
        var state: [String: SavedTensor] = [:]
        for entry in contents.tensors where !entry.name.contains("/") {
            state[entry.name] = SavedTensor(shape: entry.shape, values: entry.values)
        }
        do {
            try model.loadStateDict(state)
        } catch TandemError.invalidArgument(_, let message) {
            let source = contents.metadata["model"].map { " (a checkpoint of \($0))" } ?? ""
            throw TandemError.invalidArgument(op: "Checkpoint.load", message: "\(path)\(source): \(message)")
        }
    }

    /// The metadata of the safetensors file at `path` (a trainer checkpoint's recipe, its format).
    public static func metadata(_ path: String) throws -> [String: String] {
        try Safetensors.read(path).metadata
    }

    /// Encodes a list of integers or floats for metadata.
    static func list<T>(_ values: [T]) -> String { values.map { "\($0)" }.joined(separator: ",") }
}

extension Trainer {
    /// Saves the model, optimizer state, weighting state and training position to `path` atomically.
    /// Reads every state buffer to the host once.
    public func saveCheckpoint(to path: String) throws {
        var entries = try model.stateDict().map { Safetensors.Entry(name: $0.0, shape: $0.1.shape, values: $0.1.values) }
        var metadata = checkpointMetadata
        metadata.merge([
            "format": Checkpoint.trainerFormat,
            "model": "\(type(of: model))",
            "tasks": Checkpoint.list(model.tasks.map(\.name)),
            "epoch": "\(epoch)",
            "step": "\(step)",
            "step_in_epoch": "\(stepInEpoch)",
            "epoch_loss_sums": Checkpoint.list(epochLossSums),
            "epoch_loss_count": "\(epochLossCount)",
            "weighting": weighting.name,
            "weighting.parameters": "\(weighting.parameters.count)",
            "stopped_early": stoppedEarly ? "1" : "0",
            "history": JSON.array(history.map(\.json)).compact(),
            "skipped_steps": "\(skippedSteps)",
        ]) { _, own in own }
        for (name, tensor) in bestState ?? [] {
            entries.append(.init(name: "best/" + name, shape: tensor.shape, values: tensor.values))
        }
        switch sampling {
        case .all: metadata["sampling"] = "all"
        case .oneTaskPerStep(let seed): metadata["sampling"] = "one-task-per-step:\(seed)"
        }
        if let shuffleSeed { metadata["shuffle_seed"] = "\(shuffleSeed)" }
        if let best {
            metadata["best_epoch"] = "\(best.epoch)"
            metadata["best_score"] = "\(best.score)"
        }
        if let referenceMetrics { metadata["reference_metrics"] = Checkpoint.list(referenceMetrics) }

        if let stateful = optimizer as? any StatefulOptimizer {
            let state = try stateful.exportState()
            metadata["optimizer"] = state.kind
            metadata["optimizer.learning_rate"] = "\(state.learningRate)"
            metadata["optimizer.parameter_shapes"] = state.parameterShapes.map { "[" + Checkpoint.list($0) + "]" }.joined(separator: ";")
            metadata["optimizer.steps"] = state.steps.keys.sorted().map { "\($0):\(state.steps[$0] ?? 0)" }.joined(separator: ",")
            let shapes = state.parameterShapes
            for slot in state.slots {
                entries.append(.init(name: "optimizer/\(slot.parameter)/\(slot.name)", shape: shapes[slot.parameter], values: slot.values))
            }
        } else {
            metadata["optimizer"] = "none"
        }
        for (i, parameter) in weighting.parameters.enumerated() {
            entries.append(.init(name: "weighting/parameters/\(i)", shape: parameter.shape, values: try parameter.values()))
        }
        if let stateful = weighting as? any StatefulWeighting {
            let state = stateful.methodState()
            for key in state.keys.sorted() {
                let values = state[key] ?? []
                entries.append(.init(name: "weighting/state/\(key)", shape: [values.count], values: values))
            }
        }
        try Safetensors.write(entries, metadata: metadata, to: path)
    }

    /// Restores a checkpoint written by `saveCheckpoint` into this trainer: model, optimizer state,
    /// weighting state and training position, so that training continues exactly as it would have.
    /// A checkpoint of another model or optimizer, a missing tensor, a wrong shape or a corrupt file is
    /// an error naming the file and the problem, and leaves the model, optimizer and trainer unchanged.
    public func loadCheckpoint(from path: String) throws {
        try loadCheckpoint(try Safetensors.read(path), path: path)
    }

    /// Restores the checkpoint `contents`, read from `path` (named in errors), as `loadCheckpoint(from:)`
    /// does; the checkpoint fuzz target (Fuzz/checkpoint.swift) feeds it decoded bytes.
    public func loadCheckpoint(_ contents: Safetensors.Contents, path: String) throws {
        // Data-parallel replicas are made equal to rank 0's again at the next step.
        dataParallel?.synchronized = false
        let meta = contents.metadata
        func fail(_ message: String) -> TandemError {
            TandemError.invalidArgument(op: "Trainer.loadCheckpoint", message: "\(path): \(message)")
        }
        guard meta["format"] == Checkpoint.trainerFormat else {
            throw fail("not a Tandem trainer checkpoint (format '\(meta["format"] ?? "none")'); load model weights with Checkpoint.load(_:into:)")
        }
        let modelType = "\(type(of: model))", taskNames = Checkpoint.list(model.tasks.map(\.name))
        guard meta["model"] == modelType, meta["tasks"] == taskNames else {
            throw fail("a checkpoint of \(meta["model"] ?? "?") with tasks [\(meta["tasks"] ?? "")]; this trainer trains \(modelType) with tasks [\(taskNames)]")
        }
        // Counts far beyond any real run (2^40) are refused, so arithmetic on them cannot overflow.
        func integer(_ key: String) throws -> Int {
            guard let text = meta[key], let value = Int(text), value >= 0, value <= 1 << 40 else {
                throw fail("metadata '\(key)' is missing or not a count in 0...\(1 << 40)")
            }
            return value
        }
        let savedEpoch = try integer("epoch"), savedStep = try integer("step"), savedInEpoch = try integer("step_in_epoch")
        let lossCount = try integer("epoch_loss_count")
        let sums = (meta["epoch_loss_sums"] ?? "").split(separator: ",").compactMap { Double(String($0)) }
        guard sums.count == taskCount else { throw fail("metadata 'epoch_loss_sums' does not hold \(taskCount) numbers") }
        guard meta["weighting"] == weighting.name else {
            throw fail("trained with weighting '\(meta["weighting"] ?? "?")', this trainer uses '\(weighting.name)'")
        }
        var savedBest: (epoch: Int, score: Double)?
        if meta["best_epoch"] != nil {
            guard let score = meta["best_score"].flatMap({ Double($0) }) else { throw fail("metadata 'best_score' is not a number") }
            savedBest = (try integer("best_epoch"), score)
        }
        var reference: [Double]?
        if let text = meta["reference_metrics"] {
            let values = text.split(separator: ",").compactMap { Double(String($0)) }
            // One per primary task (the score leaves auxiliary tasks out).
            let primary = model.tasks.filter { !$0.auxiliary }.count
            guard values.count == primary else { throw fail("metadata 'reference_metrics' does not hold \(primary) numbers") }
            reference = values
        }
        let byName = Dictionary(contents.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let savedBestState = contents.tensors.filter { $0.name.hasPrefix("best/") }.map {
            (String($0.name.dropFirst(5)), SavedTensor(shape: $0.shape, values: $0.values))
        }
        let skipped = meta["skipped_steps"] == nil ? 0 : try integer("skipped_steps")

        // Optimizer state: validated now, imported after the model.
        var optimizerState: OptimizerState?
        let stateful = optimizer as? any StatefulOptimizer
        if let stateful {
            let kind = meta["optimizer"] ?? "none"
            guard kind != "none" else { throw fail("holds no optimizer state, the trainer's optimizer keeps state") }
            guard let lr = meta["optimizer.learning_rate"].flatMap({ Float($0) }), lr.isFinite, lr >= 0 else {
                throw fail("metadata 'optimizer.learning_rate' is not a finite, non-negative number ('\(meta["optimizer.learning_rate"] ?? "")')")
            }
            var shapes: [[Int]] = []
            for part in (meta["optimizer.parameter_shapes"] ?? "").split(separator: ";", omittingEmptySubsequences: true) {
                let inner = part.dropFirst().dropLast()
                let dims = inner.split(separator: ",").map { Int(String($0)) }
                guard part.first == "[", part.last == "]", dims.allSatisfy({ $0 != nil }) else {
                    throw fail("metadata 'optimizer.parameter_shapes' is malformed")
                }
                shapes.append(dims.compactMap { $0 })
            }
            var steps: [Int: Int] = [:]
            for pair in (meta["optimizer.steps"] ?? "").split(separator: ",") {
                let parts = pair.split(separator: ":").compactMap { Int(String($0)) }
                guard parts.count == 2, parts.allSatisfy({ $0 >= 0 && $0 <= 1 << 40 }) else {
                    throw fail("metadata 'optimizer.steps' is malformed (parameter:count pairs, counts in 0...\(1 << 40))")
                }
                steps[parts[0]] = parts[1]
            }
            var slots: [OptimizerState.Slot] = []
            for entry in contents.tensors where entry.name.hasPrefix("optimizer/") {
                let parts = entry.name.split(separator: "/")
                guard parts.count == 3, let index = Int(String(parts[1])) else { throw fail("tensor '\(entry.name)' is not an optimizer slot") }
                slots.append(.init(parameter: index, name: String(parts[2]), values: entry.values))
            }
            let state = OptimizerState(kind: kind, learningRate: lr, parameterShapes: shapes, slots: slots, steps: steps)
            do {
                try stateful.validateState(state)
            } catch TandemError.invalidArgument(_, let message) {
                throw fail("optimizer state does not fit: \(message)")
            }
            optimizerState = state
        }

        // Weighting parameters and state.
        let ownParameters = weighting.parameters
        guard (try integer("weighting.parameters")) == ownParameters.count else {
            throw fail("weighting had \(meta["weighting.parameters"] ?? "?") parameters, this one has \(ownParameters.count)")
        }
        var weightingValues: [[Float]] = []
        for (i, parameter) in ownParameters.enumerated() {
            guard let entry = byName["weighting/parameters/\(i)"] else { throw fail("missing tensor weighting/parameters/\(i)") }
            guard entry.shape == parameter.shape else {
                throw fail("weighting/parameters/\(i) has shape \(entry.shape), the weighting's is \(parameter.shape)")
            }
            weightingValues.append(entry.values)
        }
        var weightingState: [String: [Float]] = [:]
        for entry in contents.tensors where entry.name.hasPrefix("weighting/state/") {
            weightingState[String(entry.name.dropFirst("weighting/state/".count))] = entry.values
        }

        // Apply: the weighting's host state first (it throws, changing nothing, when it does not fit),
        // then the model (which validates names and shapes before changing anything).
        if let stateful = weighting as? any StatefulWeighting, !weightingState.isEmpty { try stateful.loadMethodState(weightingState) }
        do {
            try Checkpoint.loadModelState(contents, into: model, path: path)
        } catch TandemError.invalidArgument(_, let message) {
            throw TandemError.invalidArgument(op: "Trainer.loadCheckpoint", message: message)
        }
        if let stateful, let optimizerState { try stateful.importState(optimizerState) }
        for (parameter, values) in zip(ownParameters, weightingValues) {
            try parameter.assign(try Tensor(values, shape: parameter.shape, on: parameter.device))
        }
        epoch = savedEpoch
        step = savedStep
        stepInEpoch = savedInEpoch
        epochLossSums = sums
        epochLossCount = lossCount
        best = savedBest
        referenceMetrics = reference
        if let text = meta["sampling"], text.hasPrefix("one-task-per-step:"), let seed = UInt64(text.dropFirst("one-task-per-step:".count)) {
            sampling = .oneTaskPerStep(seed: seed)
        } else if meta["sampling"] == "all" {
            sampling = .all
        }
        if let text = meta["shuffle_seed"], let seed = UInt64(text) { shuffleSeed = seed }
        stoppedEarly = meta["stopped_early"] == "1"
        if let text = meta["history"], case let .array(items)? = try? JSON.parse(text) {
            history = items.compactMap(EpochReport.init(json:))
        }
        updateAuxiliaryStops()
        skippedSteps = skipped
        bestState = savedBestState.isEmpty ? nil : savedBestState
    }
}
