import TandemCore
import TandemData
import TandemSupport

/// Everything that defines a training run, in one value: the model, the data and how it is split,
/// the weighting, the optimizer and its schedule, the batch, the epochs, the seed and the safeguards.
///
/// The command line (`tandem train`), the C API (`tandem_model_create`) and `tandem bench` all build
/// their training from a recipe (`TrainingSetup`), so a setting means the same everywhere. A trainer
/// checkpoint stores its recipe whole (metadata `recipe`, the JSON of `json`), so
/// `tandem train --resume CKPT` continues the same run without repeating any option.
///
/// Options a run may change when it is resumed (`resumableKeys`): the number of epochs (extends or
/// shortens the run) and nothing else; any other difference is an error naming both values.
public struct TrainingRecipe: Sendable, Equatable {
    /// Model name (`ModelFactory.names`).
    public var model = "mtan"
    /// Data set name (`DatasetCatalog.names`) or a path to user data.
    public var data = "multifashion"
    /// Loss weighting (`WeightingMethods.names`).
    public var weighting = "ew"
    /// Task weights of `fixed`.
    public var weights: [Float]?
    /// The weighting's settings as written (`--weighting-arg key=value`; `WeightingMethods.settings(of:)`).
    public var weightingArguments: [String: String] = [:]
    /// Gradient methods work on the gradients at the model's shared representation instead of its
    /// shared parameters (`--rep-grad`; `Trainer.representationGradients`).
    public var representationGradients = false
    /// `sgd` (momentum `momentum`), `adam` or `adamw`.
    public var optimizer = "adam"
    /// Base learning rate; nil means the optimizer's default (1e-3 for adam/adamw, 0.01 for sgd).
    public var learningRate: Float?
    /// SGD momentum.
    public var momentum: Float = 0.9
    /// Weight decay; nil means the optimizer's default (0, or 0.01 for adamw).
    public var weightDecay: Float?
    /// Learning-rate schedule over the run's steps.
    public var schedule: ScheduleKind = .constant
    /// Linear warm-up steps in front of the schedule.
    public var warmupSteps = 0
    /// `step` schedule: epochs between decays (nil: a third of the epochs, at least 1).
    public var decayEpochs: Int?
    /// `step` schedule: factor of each decay.
    public var decayFactor: Float = 0.1
    /// Clip the global gradient norm to this value (nil: no clipping).
    public var gradientClip: Float?
    /// Samples per step.
    public var batchSize = 32
    /// Training epochs.
    public var epochs = 2
    /// Seed of the weights, the data (pairing, generation, the validation split) and the shuffle.
    public var seed: UInt64 = 0
    /// Keep only the first N samples of the training data and of the test data.
    public var limit: Int?
    /// Fraction of the training data held out (seeded) for validation when the data has no
    /// validation split of its own; 0 turns validation off.
    public var validationFraction = 0.1
    /// mmoe-synth: the task correlation.
    public var correlation = 0.5
    /// Learning-rate multiplier of the architecture's mixing parameters (`MixingParameters`: cross-stitch
    /// α units, Learning to Branch's θ), which get a parameter group of their own.
    public var stitchLearningRateMultiplier: Float = 1
    /// Training batches per epoch on which task affinity is measured (0: off).
    public var affinityBatches = 4
    /// Stop when the validation score has not improved for this many epochs (nil: never).
    public var earlyStoppingPatience: Int?
    /// What a non-finite loss or parameter does.
    public var onNonFinite: NonFinitePolicy = .stop
    /// Train one model per task first and report Δm against them.
    public var singleTaskBaselines = false
    /// Tasks of the data marked auxiliary: trained, but left out of Δm, the best-epoch score, ranks
    /// and single-task baselines (`TaskSpec.auxiliary`).
    public var auxiliaryTasks: [String] = []
    /// Tasks of the data trained adversarially (auxiliary, their heads behind a gradient reversal
    /// layer of `adversarialLambda`).
    public var adversarialTasks: [String] = []
    /// λ of the adversarial tasks' gradient reversal.
    public var adversarialLambda: Float = 1
    /// Ramp λ up over training as Ganin and Lempitsky do (2/(1 + e^{−10p}) − 1 at progress p), or
    /// keep it constant.
    public var adversarialRamp = true
    /// Add the auxiliary task `reconstruction`: the input itself as regression targets (an
    /// autoencoder through the shared layers).
    public var reconstruction = false
    /// Stop each auxiliary task on its own by TCDCN's criterion (`AuxiliaryStopping`).
    public var auxiliaryStopping = false
    /// TCDCN's training strip k, in epochs.
    public var auxiliaryStoppingStrip = 3
    /// TCDCN's threshold ε.
    public var auxiliaryStoppingThreshold = 1.0
    /// Multi-input data: how each step's tasks are drawn (`uniform`, `proportional` or
    /// `temperature=τ`; `TaskBatchSampling`).
    public var taskSampling = "uniform"
    /// Multi-input data: tasks per step (nil: all of them).
    public var tasksPerStep: Int?

    /// The loader's task sampling for multi-input data.
    public var taskBatchSampling: TaskBatchSampling {
        get throws { try TaskBatchSampling(parsing: taskSampling, tasksPerStep: tasksPerStep) }
    }

    /// The defaults (the quick run of `tandem train` with no options: MTAN on a 2,000-sample
    /// multifashion subset, batch 32, 2 epochs).
    public init() {}

    /// Learning-rate schedules by name.
    public enum ScheduleKind: String, Sendable, CaseIterable {
        /// The base rate throughout.
        case constant
        /// The base rate times `decayFactor` every `decayEpochs` epochs (StepLR).
        case step
        /// Cosine annealing from the base rate to 0 over the run's steps after the warm-up.
        case cosine
    }

    /// The learning rate when none is given.
    public var effectiveLearningRate: Float { learningRate ?? (optimizer == "sgd" ? 0.01 : 1e-3) }
    /// The weight decay when none is given.
    public var effectiveWeightDecay: Float { weightDecay ?? (optimizer == "adamw" ? 0.01 : 0) }

    /// The recipe keys a resumed run may change.
    public static let resumableKeys: Set<String> = ["epochs"]

    /// Throws an error naming the setting when the recipe cannot train (a bad name, a non-positive
    /// size, a rate that is not finite and positive, a fraction outside [0, 1)).
    public func validate() throws {
        func fail(_ message: String) -> TandemError { .invalidArgument(op: "recipe", message: message) }
        guard ModelFactory.names.contains(model) else {
            throw fail("unknown model '\(model)'; available: \(ModelFactory.names.joined(separator: ", "))")
        }
        guard WeightingMethods.names.contains(weighting) else {
            throw fail("unknown weighting '\(weighting)'; available: \(WeightingMethods.names.joined(separator: ", "))")
        }
        if weighting == "fixed", weights == nil { throw fail("weighting 'fixed' needs weights (one per task)") }
        if weighting == "graddrop", !representationGradients {
            throw fail("graddrop works on the gradients at the shared representation: add --rep-grad (rep_grad)")
        }
        if representationGradients, weighting == "gradnorm" {
            throw fail("gradnorm measures gradient norms at the last shared weight; it cannot run on the representation's gradients (rep_grad)")
        }
        do {
            _ = try WeightingSettings(method: weighting, arguments: weightingArguments)
        } catch TandemError.invalidArgument(_, let message) {
            throw fail("weighting \(weighting): \(message)")
        }
        if let weights, !weights.allSatisfy({ $0.isFinite && $0 >= 0 }) { throw fail("weights must be finite and non-negative, got \(weights)") }
        guard ["sgd", "adam", "adamw"].contains(optimizer) else { throw fail("optimizer must be sgd, adam or adamw, got '\(optimizer)'") }
        if let learningRate, !(learningRate.isFinite && learningRate > 0) { throw fail("learning rate must be finite and positive, got \(learningRate)") }
        guard momentum.isFinite, momentum >= 0, momentum < 1 else { throw fail("momentum must be in [0, 1), got \(momentum)") }
        if let weightDecay, !(weightDecay.isFinite && weightDecay >= 0) { throw fail("weight decay must be finite and non-negative, got \(weightDecay)") }
        guard warmupSteps >= 0 else { throw fail("warm-up steps must not be negative, got \(warmupSteps)") }
        if let decayEpochs, decayEpochs < 1 { throw fail("decay epochs must be at least 1, got \(decayEpochs)") }
        guard decayFactor.isFinite, decayFactor > 0, decayFactor <= 1 else { throw fail("decay factor must be in (0, 1], got \(decayFactor)") }
        if let gradientClip, !(gradientClip.isFinite && gradientClip > 0) { throw fail("gradient clip must be finite and positive, got \(gradientClip)") }
        guard batchSize >= 2, batchSize <= 1 << 20 else { throw fail("batch size must be in 2...\(1 << 20), got \(batchSize)") }
        guard epochs >= 1, epochs <= 1 << 20 else { throw fail("epochs must be in 1...\(1 << 20), got \(epochs)") }
        if let limit, limit < 2 { throw fail("limit must be at least 2, got \(limit)") }
        guard validationFraction.isFinite, validationFraction >= 0, validationFraction < 1 else {
            throw fail("validation fraction must be in [0, 1), got \(validationFraction)")
        }
        guard correlation.isFinite, (-1...1).contains(correlation) else { throw fail("correlation must be in [-1, 1], got \(correlation)") }
        guard stitchLearningRateMultiplier.isFinite, stitchLearningRateMultiplier > 0 else {
            throw fail("the mixing parameters' learning-rate multiplier must be positive, got \(stitchLearningRateMultiplier)")
        }
        guard adversarialLambda.isFinite, adversarialLambda > 0 else { throw fail("adversarial λ must be finite and positive, got \(adversarialLambda)") }
        guard auxiliaryStoppingStrip >= 3 else { throw fail("the auxiliary-stopping strip must be at least 3 epochs, got \(auxiliaryStoppingStrip)") }
        guard auxiliaryStoppingThreshold.isFinite, auxiliaryStoppingThreshold > 0 else {
            throw fail("the auxiliary-stopping threshold must be finite and positive, got \(auxiliaryStoppingThreshold)")
        }
        if auxiliaryStopping, validationFraction == 0, DatasetCatalog.names.contains(data) {
            throw fail("stopping auxiliary tasks reads their validation loss; it needs a validation fraction above 0")
        }
        do {
            _ = try taskBatchSampling
        } catch TandemError.invalidArgument(_, let message) {
            throw fail(message)
        }
        let multiInput = DatasetCatalog.isMultiInput(data) || data == "fashion-split"
        if !multiInput, taskSampling != "uniform" || tasksPerStep != nil {
            throw fail("task sampling and tasks per step are for multi-input data (--data task=source,... or fashion-split), not \(data)")
        }
        guard affinityBatches >= 0 else { throw fail("affinity batches must not be negative, got \(affinityBatches)") }
        if let earlyStoppingPatience {
            guard earlyStoppingPatience >= 1 else { throw fail("early-stopping patience must be at least 1 epoch, got \(earlyStoppingPatience)") }
            // User data (a path, not a built-in name) may bring its own validation split.
            guard validationFraction > 0 || !DatasetCatalog.names.contains(data) else {
                throw fail("early stopping selects on the validation split; it needs a validation fraction above 0")
            }
        }
    }

    /// The learning-rate schedule over global steps, for a run of `stepsPerEpoch` steps per epoch.
    public func learningRateSchedule(stepsPerEpoch: Int) -> any LearningRateSchedule {
        let base = effectiveLearningRate
        let steps = Swift.max(1, stepsPerEpoch)
        let main: any LearningRateSchedule
        switch schedule {
        case .constant: main = ConstantLearningRate(base)
        case .step: main = StepDecay(base: base, stepSize: Swift.max(1, decayEpochs ?? Swift.max(1, epochs / 3)) * steps, gamma: decayFactor)
        case .cosine: main = CosineAnnealing(base: base, totalSteps: Swift.max(1, epochs * steps - warmupSteps))
        }
        return warmupSteps > 0 ? AnyWarmup(steps: warmupSteps, schedule: main) : main
    }
}

/// What the trainer does when a loss or a parameter stops being finite.
public enum NonFinitePolicy: String, Sendable, CaseIterable {
    /// Stop the run with an error naming the task, the step and the first bad tensor.
    case stop
    /// Skip the step (no update); the losses and gradients are checked before the update.
    case skip
}

/// A linear warm-up over a schedule of any type: step s < `steps` runs at (s + 1)/(steps + 1) of the
/// schedule's first value (never 0, so no step is wasted), then the schedule follows.
struct AnyWarmup: LearningRateSchedule {
    let steps: Int
    let schedule: any LearningRateSchedule
    func learningRate(at step: Int) -> Float {
        guard step < steps else { return schedule.learningRate(at: step - steps) }
        return Float(Double(schedule.learningRate(at: 0)) * Double(step + 1) / Double(steps + 1))
    }
}
