import Tandem

/// Everything behind one `tandem_model *`: the model, its trainer (optimizer, weighting, device),
/// the shapes the C side must respect, and the last evaluation.
final class ModelState {
    let config: ModelConfig
    let device: any Device
    let model: any MultiTaskModel
    let trainer: Trainer
    let inputSize: Int
    let labelShapes: [[Int]]
    let labelSizes: [Int]
    let outputShapes: [[Int]]
    let outputSizes: [Int]
    var lastEvaluation: EvaluationResult?
    /// The recipe and tasks the model was built from, for estimating steps of other batch sizes.
    let recipe: TrainingRecipe
    let taskSpecs: [TaskSpec]
    /// The largest batch whose training step is known to fit the device (checked at creation for
    /// batch_size, then for any larger batch a call brings).
    private(set) var checkedBatch: Int

    init(_ config: ModelConfig) throws {
        self.config = config
        do {
            device = try Devices.select(config.device)
        } catch {
            throw APIError(Status.device, "tandem_model_create: \(error)")
        }
        let tasks = config.taskSpecs
        // The optimizer as `tandem train` builds it (one recipe, one builder).
        var recipe = TrainingRecipe()
        recipe.model = config.model
        recipe.weighting = config.weighting
        recipe.weights = config.weights
        recipe.weightingArguments = config.weightingArguments
        recipe.optimizer = config.optimizer
        recipe.learningRate = config.learningRate
        recipe.momentum = config.momentum
        recipe.weightDecay = config.weightDecay
        recipe.seed = config.seed
        recipe.batchSize = max(2, config.batchSize)
        recipe.gradientClip = config.gradientClip
        recipe.onNonFinite = config.onNonFinite
        recipe.representationGradients = config.representationGradients
        self.recipe = recipe
        taskSpecs = tasks
        checkedBatch = recipe.batchSize
        do {
            // A training step of batch_size samples must fit the device: refused here, with the
            // numbers, before the weights or a probe allocate anything (a dry run, milliseconds).
            try TrainingSetup.estimateMemory(recipe: recipe, tasks: tasks, inputShape: config.inputShape,
                                             labelCounts: config.tasks.map(\.outputs), batch: recipe.batchSize, device: device)
                .check(fits: device.info)
            model = try ModelFactory.make(config.model, tasks: tasks, inputShape: config.inputShape,
                                          labelCounts: config.tasks.map(\.outputs), seed: config.seed, on: device)
        } catch let error as TandemError {
            if case .invalidArgument = error { throw APIError(Status.config, "tandem_model_create: \(error)") }
            throw error
        }
        let weighting = try WeightingMethods.make(config.weighting, tasks: tasks, on: device,
                                                  options: WeightingOptions(fixedWeights: config.weights, seed: config.seed,
                                                                            arguments: config.weightingArguments))
        let optimizer = try TrainingSetup.optimizer(recipe, model: model, extra: weighting.parameters)
        trainer = try Trainer(model: model, optimizer: optimizer, weighting: weighting, device: device)
        trainer.shuffleSeed = config.seed
        trainer.gradientClipNorm = recipe.gradientClip
        trainer.nonFinitePolicy = recipe.onNonFinite
        if config.representationGradients {
            guard model is any RepresentationModel else {
                throw APIError(Status.config, "tandem_model_create: configuration: 'rep_grad' needs a model whose heads read one shared representation (hps, mmoe); '\(config.model)' has none")
            }
            trainer.representationGradients = true
        }
        inputSize = config.inputShape.reduce(1, *)
        labelShapes = config.labelShapes
        labelSizes = labelShapes.map { $0.reduce(1, *) }

        // One forward pass on two zero samples gives every task's output shape.
        let outputs = try Self.probe(model, inputShape: config.inputShape, on: device)
        guard outputs.count == tasks.count, outputs.allSatisfy({ $0.rank >= 1 && $0.shape[0] == 2 }) else {
            throw APIError(Status.internal, "tandem_model_create: the model returned \(outputs.count) outputs \(outputs.map(\.shape)) for \(tasks.count) tasks")
        }
        outputShapes = outputs.map { Array($0.shape.dropFirst()) }
        // Presets have fixed heads: refuse a configuration whose tasks they do not predict.
        for (t, task) in config.tasks.enumerated() {
            let shape = outputShapes[t]
            let expected: String?
            switch task.kind {
            case let .classification(classes): expected = shape == [classes] ? nil : "\(classes) logits ('classes')"
            case .regression:
                expected = shape == [task.outputs] || (task.outputs == 1 && shape == []) ? nil : "\(task.outputs) values ('outputs')"
            case let .segmentation(classes): expected = shape.first == classes ? nil : "\(classes) channels ('classes')"
            case .depth: expected = shape.first == 1 ? nil : "1 channel"
            case .normals: expected = shape.first == 3 ? nil : "3 channels"
            }
            if let expected {
                throw APIError(Status.config, "tandem_model_create: '\(config.model)' predicts \(shape) per sample for task '\(task.name)', the configuration asks for \(expected)")
            }
        }
        outputSizes = outputShapes.map { $0.reduce(1, *) }
    }

    /// The outputs of a forward pass in evaluation mode on two zero samples.
    static func probe(_ model: any MultiTaskModel, inputShape: [Int], on device: any Device) throws -> [Tensor] {
        model.eval()
        defer { model.train() }
        let zeros = try Tensor.zeros([2] + inputShape, on: device)
        return try Tensor.withoutGradient { try model.forward(zeros) }
    }

    var taskCount: Int { config.tasks.count }

    /// Refuses a training step of `samples` samples that the device cannot hold, before any of it is
    /// allocated: steps up to `checkedBatch` were estimated already; a larger one is estimated now
    /// (a dry run, milliseconds) and, if it fits, becomes the new `checkedBatch`.
    func checkStepFits(samples: Int) throws {
        guard samples > checkedBatch else { return }
        try TrainingSetup.estimateMemory(recipe: recipe, tasks: taskSpecs, inputShape: config.inputShape,
                                         labelCounts: config.tasks.map(\.outputs), batch: samples, device: device)
            .check(fits: device.info)
        checkedBatch = samples
    }

    /// The model as JSON (`tandem_model_info_json`).
    var infoJSON: JSON {
        .object([
            ("model", .string(config.model)),
            ("device", .string(device.info.selector)),
            ("device_name", .string(device.info.name)),
            ("parameters", .number(Double(model.parameterCount))),
            ("input_shape", .array(config.inputShape.map { .number(Double($0)) })),
            ("batch_size", .number(Double(config.batchSize))),
            ("weighting", .string(config.weighting)),
            ("optimizer", .string(config.optimizer)),
            ("lr", .number(Double(String(trainer.optimizer.learningRate)) ?? Double(trainer.optimizer.learningRate))),
            ("epoch", .number(Double(trainer.epoch))),
            ("step", .number(Double(trainer.step))),
            ("tasks", .array((0..<taskCount).map { config.taskJSON($0, labelShape: labelShapes[$0], outputShape: outputShapes[$0]) })),
        ])
    }
}

/// The live models, by handle value. Handles are numbers from a counter (never reused, never
/// dereferenced), so a freed or foreign pointer is simply not found.
struct Registry {
    var models: [UInt: ModelState] = [:]
    var next: UInt = 0

    /// Handle values start far from small integers and step by 16, so `NULL + k` is never a handle.
    mutating func add(_ state: ModelState) -> UInt {
        next += 1
        let handle = 0x7A4E_0000_0000 + next * 16
        models[handle] = state
        return handle
    }
}

/// The one lock of the library: every call that touches models or devices holds it (see the header's
/// THREAD SAFETY).
let registry = Locked(Registry())

/// The state behind `handle`, or `TANDEM_ERROR_INVALID_HANDLE`.
func lookup(_ registry: Registry, _ handle: OpaquePointer?, _ function: String) throws -> ModelState {
    guard let handle else { throw APIError.null(function, "model") }
    let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
    guard let state = registry.models[key] else {
        throw APIError(Status.invalidHandle, "\(function): 0x\(String(key, radix: 16)) is not a live tandem_model (freed, or not made by tandem_model_create)")
    }
    return state
}

/// Runs `body` under the library lock with the model behind `handle`.
func withModel(_ handle: OpaquePointer?, _ function: String, _ body: (ModelState) throws -> Void) throws {
    try registry.withLock { (registry: inout Registry) throws -> Void in
        try body(try lookup(registry, handle, function))
    }
}
