import TandemCore
import TandemSupport

/// The recipe as JSON: one key per setting, in snake case (`batch_size`, `lr_schedule`); the
/// command line's option for a key is the key with dashes (`--batch-size`). Checkpoints store this
/// JSON; `tandem train --config FILE` reads it (or the same keys in TOML).
extension TrainingRecipe {
    /// Every key, in the order `json` writes them.
    public static let keys = ["model", "data", "weighting", "weights", "weighting_args", "rep_grad", "optimizer", "lr", "momentum", "weight_decay",
                              "lr_schedule", "warmup", "lr_decay_epochs", "lr_decay_factor", "grad_clip", "batch_size",
                              "epochs", "seed", "limit", "val_fraction", "correlation", "stitch_lr_multiplier",
                              "affinity_batches", "early_stopping", "on_nan", "single_task", "auxiliary", "adversarial",
                              "adversarial_lambda", "reconstruct", "stop_auxiliary", "stop_auxiliary_strip", "stop_auxiliary_threshold",
                              "task_sampling", "tasks_per_step", "adversarial_ramp"]

    /// The recipe as a JSON object (unset optional settings are `null`).
    public var json: JSON {
        func optional<T>(_ value: T?, _ make: (T) -> JSON) -> JSON { value.map(make) ?? .null }
        return .object([
            ("model", .string(model)), ("data", .string(data)), ("weighting", .string(weighting)),
            ("weights", optional(weights) { .array($0.map { .float($0) }) }),
            ("weighting_args", .object(weightingArguments.keys.sorted().map { ($0, .string(weightingArguments[$0] ?? "")) })),
            ("rep_grad", .bool(representationGradients)),
            ("optimizer", .string(optimizer)), ("lr", optional(learningRate, JSON.float)), ("momentum", .float(momentum)),
            ("weight_decay", optional(weightDecay, JSON.float)), ("lr_schedule", .string(schedule.rawValue)),
            ("warmup", .int(warmupSteps)), ("lr_decay_epochs", optional(decayEpochs, JSON.int)),
            ("lr_decay_factor", .float(decayFactor)), ("grad_clip", optional(gradientClip, JSON.float)),
            ("batch_size", .int(batchSize)), ("epochs", .int(epochs)),
            ("seed", Double(seed) < JSON.exactIntegerLimit ? .number(Double(seed)) : .string("\(seed)")),
            ("limit", optional(limit, JSON.int)), ("val_fraction", .number(validationFraction)), ("correlation", .number(correlation)),
            ("stitch_lr_multiplier", .float(stitchLearningRateMultiplier)), ("affinity_batches", .int(affinityBatches)),
            ("early_stopping", optional(earlyStoppingPatience, JSON.int)), ("on_nan", .string(onNonFinite.rawValue)),
            ("single_task", .bool(singleTaskBaselines)),
            ("auxiliary", .array(auxiliaryTasks.map(JSON.string))), ("adversarial", .array(adversarialTasks.map(JSON.string))),
            ("adversarial_lambda", .float(adversarialLambda)), ("reconstruct", .bool(reconstruction)),
            ("stop_auxiliary", .bool(auxiliaryStopping)), ("stop_auxiliary_strip", .int(auxiliaryStoppingStrip)),
            ("stop_auxiliary_threshold", .number(auxiliaryStoppingThreshold)),
            ("task_sampling", .string(taskSampling)), ("tasks_per_step", optional(tasksPerStep, JSON.int)),
            ("adversarial_ramp", .bool(adversarialRamp)),
        ])
    }

    /// `base` with the settings `json` gives (a JSON object with any of `keys`; `null` unsets an
    /// optional setting). An unknown key or a value of the wrong type is an error naming the key and
    /// `source` (a file name, or "checkpoint"); the result is validated.
    public init(json: JSON, base: TrainingRecipe = TrainingRecipe(), source: String) throws {
        func fail(_ message: String) -> TandemError { .invalidArgument(op: "recipe", message: "\(source): \(message)") }
        guard case let .object(fields) = json else { throw fail("expected an object of settings, got \(json.typeName)") }
        var recipe = base
        for (key, value) in fields {
            func string() throws -> String {
                guard case let .string(text) = value else { throw fail("'\(key)' must be a string, got \(value.typeName)") }
                return text
            }
            func number() throws -> Double {
                guard case let .number(number) = value else { throw fail("'\(key)' must be a number, got \(value.typeName)") }
                return number
            }
            func integer() throws -> Int {
                guard let n = value.exactInteger else { throw fail("'\(key)' must be an integer, got \(value)") }
                return n
            }
            func float() throws -> Float { Float(try number()) }
            let isNull = value == .null
            switch key {
            case "model": recipe.model = try string()
            case "data": recipe.data = try string()
            case "weighting": recipe.weighting = try string()
            case "weights":
                if isNull { recipe.weights = nil; break }
                guard case let .array(items) = value else { throw fail("'weights' must be an array of numbers") }
                recipe.weights = try items.map { item in
                    guard case let .number(n) = item else { throw fail("'weights' must be an array of numbers") }
                    return Float(n)
                }
            case "weighting_args":
                if isNull { recipe.weightingArguments = [:]; break }
                guard case let .object(items) = value else { throw fail("'weighting_args' must be an object of settings, got \(value.typeName)") }
                recipe.weightingArguments = try WeightingSettings.arguments(items, source: "'weighting_args'")
            case "rep_grad":
                guard case let .bool(flag) = value else { throw fail("'rep_grad' must be true or false, got \(value.typeName)") }
                recipe.representationGradients = flag
            case "optimizer": recipe.optimizer = try string()
            case "lr": recipe.learningRate = isNull ? nil : try float()
            case "momentum": recipe.momentum = try float()
            case "weight_decay": recipe.weightDecay = isNull ? nil : try float()
            case "lr_schedule":
                let name = try string()
                guard let kind = ScheduleKind(rawValue: name) else {
                    throw fail("'lr_schedule' must be one of \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
                }
                recipe.schedule = kind
            case "warmup": recipe.warmupSteps = try integer()
            case "lr_decay_epochs": recipe.decayEpochs = isNull ? nil : try integer()
            case "lr_decay_factor": recipe.decayFactor = try float()
            case "grad_clip": recipe.gradientClip = isNull ? nil : try float()
            case "batch_size": recipe.batchSize = try integer()
            case "epochs": recipe.epochs = try integer()
            case "seed":
                if case let .string(text) = value, let seed = UInt64(text) { recipe.seed = seed; break }
                let n = try integer()
                guard n >= 0 else { throw fail("'seed' must not be negative, got \(n)") }
                recipe.seed = UInt64(n)
            case "limit": recipe.limit = isNull ? nil : try integer()
            case "val_fraction": recipe.validationFraction = try number()
            case "correlation": recipe.correlation = try number()
            case "stitch_lr_multiplier": recipe.stitchLearningRateMultiplier = try float()
            case "affinity_batches": recipe.affinityBatches = try integer()
            case "early_stopping": recipe.earlyStoppingPatience = isNull ? nil : try integer()
            case "on_nan":
                let name = try string()
                guard let policy = NonFinitePolicy(rawValue: name) else { throw fail("'on_nan' must be stop or skip, got '\(name)'") }
                recipe.onNonFinite = policy
            case "single_task":
                guard case let .bool(flag) = value else { throw fail("'single_task' must be true or false, got \(value.typeName)") }
                recipe.singleTaskBaselines = flag
            case "auxiliary", "adversarial":
                guard case let .array(items) = value else { throw fail("'\(key)' must be an array of task names, got \(value.typeName)") }
                let names = try items.map { item in
                    guard case let .string(name) = item, !name.isEmpty else { throw fail("'\(key)' must be an array of task names") }
                    return name
                }
                if key == "auxiliary" { recipe.auxiliaryTasks = names } else { recipe.adversarialTasks = names }
            case "adversarial_lambda": recipe.adversarialLambda = try float()
            case "reconstruct", "stop_auxiliary", "adversarial_ramp":
                guard case let .bool(flag) = value else { throw fail("'\(key)' must be true or false, got \(value.typeName)") }
                switch key {
                case "reconstruct": recipe.reconstruction = flag
                case "stop_auxiliary": recipe.auxiliaryStopping = flag
                default: recipe.adversarialRamp = flag
                }
            case "stop_auxiliary_strip": recipe.auxiliaryStoppingStrip = try integer()
            case "stop_auxiliary_threshold": recipe.auxiliaryStoppingThreshold = try number()
            case "task_sampling": recipe.taskSampling = try string()
            case "tasks_per_step": recipe.tasksPerStep = isNull ? nil : try integer()
            default:
                throw fail("unknown setting '\(key)'; known: \(Self.keys.joined(separator: ", "))")
            }
        }
        do {
            try recipe.validate()
        } catch TandemError.invalidArgument(_, let message) {
            throw fail(message)
        }
        self = recipe
    }

    /// The settings whose values differ between the two recipes, as (key, this value, other value)
    /// with values rendered as JSON.
    public func differences(from other: TrainingRecipe) -> [(key: String, mine: String, theirs: String)] {
        guard case let .object(mine) = json, case let .object(theirs) = other.json else { return [] }
        return zip(mine, theirs).compactMap { a, b in a.1 == b.1 ? nil : (a.0, a.1.compact(), b.1.compact()) }
    }
}
