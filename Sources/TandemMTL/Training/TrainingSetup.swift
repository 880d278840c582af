import TandemCore
import TandemData
import TandemNN

/// A recipe's data: training, validation (nil when the recipe's fraction is 0 and the data has
/// none) and test splits, with the data's warnings.
public struct RunData: Sendable {
    /// What the model trains on.
    public var train: any MultiTaskDataset
    /// What selects the best epoch and stops early; never the test split.
    public var validation: (any MultiTaskDataset)?
    /// Evaluated once, at the end.
    public var test: any MultiTaskDataset
    /// From the data loader (see `DatasetSplits.warnings`).
    public var warnings: [String]
    /// Whether each task has its own samples (multi-input data): the loader then draws each step's
    /// tasks by the recipe's task sampling.
    public var multiInput: Bool

    /// The splits `recipe` names: its data set (built with its seed and correlation), the first
    /// `limit` samples of the training and test data (a generated set makes `limit` training samples
    /// when that is more than its default), and validation from the data when it has its own split,
    /// else `validationFraction` of the training samples held out with the seed.
    public init(recipe: TrainingRecipe) throws {
        var options = DatasetCatalog.Options()
        options.seed = recipe.seed
        options.correlation = recipe.correlation
        if let limit = recipe.limit, let count = DatasetCatalog.defaultTrainCount(recipe.data), limit > count { options.trainCount = limit }
        let splits = try DatasetCatalog.load(recipe.data, options: options)
        multiInput = splits.train is MultiInputDataset
        var train = splits.train, test = splits.test, validation = splits.validation
        if let limit = recipe.limit {
            train = try train.prefix(limit)
            test = try test.prefix(limit)
            validation = try validation?.prefix(limit)
        }
        if validation == nil, recipe.validationFraction > 0 {
            let base = splits.train.name.hasSuffix("/train") ? String(splits.train.name.dropLast(6)) : splits.train.name
            (train, validation) = try train.holdOut(fraction: recipe.validationFraction, seed: recipe.seed,
                                                    names: (base + "/train", base + "/val"))
        }
        if recipe.reconstruction {
            guard !train.tasks.contains(where: { $0.name == TrainingRecipe.reconstructionTask }) else {
                throw TandemError.invalidArgument(
                    op: "recipe", message: "reconstruct adds the task '\(TrainingRecipe.reconstructionTask)', but \(recipe.data) already has a task of that name")
            }
            train = ReconstructionTask(train, name: TrainingRecipe.reconstructionTask)
            validation = validation.map { ReconstructionTask($0, name: TrainingRecipe.reconstructionTask) }
            test = ReconstructionTask(test, name: TrainingRecipe.reconstructionTask)
        }
        try recipe.checkTaskRoles(train.tasks)
        self.train = train
        self.validation = validation
        self.test = test
        warnings = splits.warnings
    }

    /// The data restricted to the tasks at `indices` (single-task baselines).
    public func tasks(_ indices: [Int]) -> RunData {
        guard indices.count != train.tasks.count else { return self }
        var copy = self
        copy.train = TaskSubset(train, indices)
        copy.validation = validation.map { TaskSubset($0, indices) }
        copy.test = TaskSubset(test, indices)
        return copy
    }
}

/// Model, weighting, optimizer and trainer built from a recipe: the one place where a recipe's
/// settings turn into objects, shared by `tandem train`, the C API and `tandem bench`.
public struct TrainingSetup {
    public let recipe: TrainingRecipe
    public let model: any MultiTaskModel
    public let weighting: any LossWeighting
    public let optimizer: any Optimizer
    public let trainer: Trainer
    /// The shape of one input sample.
    public let inputShape: [Int]
    /// Regression targets per task (nil: one each).
    public let labelCounts: [Int]?

    /// Builds `recipe`'s model for `tasks` (inputs of `inputShape`, `labelCounts` regression targets
    /// per task) on `device`, its weighting, its optimizer (cross-stitch α in a group of its own at
    /// `stitchLearningRateMultiplier`; Learning to Branch's θ likewise), and a trainer with the schedule for `stepsPerEpoch` steps per
    /// epoch, gradient clipping, the non-finite policy and early stopping.
    ///
    /// First, a step of `batch` samples (default the recipe's batch size; pass the data's size when
    /// it is smaller) is estimated on a dry run (`estimateMemory`), and a step the device cannot
    /// hold is refused with the numbers (`TandemError.trainingStepTooLarge`) before anything is
    /// allocated, instead of failing, or running for minutes, later.
    public init(recipe: TrainingRecipe, tasks: [TaskSpec], inputShape: [Int], labelCounts: [Int]?, stepsPerEpoch: Int,
                device: any Device, baselines: [String: [String: Double]]? = nil, batch: Int? = nil, labelledCounts: [Int]? = nil) throws {
        try recipe.validate()
        if !(device is DryRunDevice) {
            try Self.estimateMemory(recipe: recipe, tasks: tasks, inputShape: inputShape, labelCounts: labelCounts, batch: batch,
                                    device: device).check(fits: device.info)
        }
        self.recipe = recipe
        self.inputShape = inputShape
        self.labelCounts = labelCounts
        model = try ModelFactory.make(recipe.model, tasks: tasks, inputShape: inputShape, labelCounts: labelCounts,
                                      seed: recipe.seed, on: device)
        try (model as? AdaShare)?.plan(epochs: recipe.epochs)
        if let weights = recipe.weights, weights.count != tasks.count {
            throw TandemError.invalidArgument(op: "recipe", message: "\(weights.count) weights given for \(tasks.count) tasks (\(tasks.map(\.name).joined(separator: ", ")))")
        }
        weighting = try WeightingMethods.make(recipe.weighting, tasks: tasks, on: device,
                                              options: WeightingOptions(fixedWeights: recipe.weights, seed: recipe.seed,
                                                                        arguments: recipe.weightingArguments, labelledCounts: labelledCounts))
        optimizer = try Self.optimizer(recipe, model: model, extra: weighting.parameters)
        trainer = try Trainer(model: model, optimizer: optimizer, weighting: weighting, device: device, baselines: baselines)
        trainer.learningRateSchedule = recipe.learningRateSchedule(stepsPerEpoch: stepsPerEpoch)
        trainer.gradientClipNorm = recipe.gradientClip
        if recipe.representationGradients {
            guard model is any RepresentationModel else {
                throw TandemError.invalidArgument(op: "recipe", message: "rep_grad needs a model whose heads read one shared representation (hps, mmoe, lenet-hps, mmoe-synth, shared-bottom, gradnorm-mlp); '\(recipe.model)' has none")
            }
            trainer.representationGradients = true
        }
        trainer.nonFinitePolicy = recipe.onNonFinite
        trainer.earlyStoppingPatience = recipe.earlyStoppingPatience
        trainer.adversarialRamp = recipe.adversarialRamp && tasks.contains { $0.adversarialLambda != nil }
        if recipe.auxiliaryStopping {
            guard weighting.completesGradientsInOneBackward else {
                throw TandemError.invalidArgument(
                    op: "recipe", message: "stopping auxiliary tasks zeroes a stopped task's gradient, which \(recipe.weighting) cannot take (it combines per-task gradients); use a loss weighting such as ew, uw, dwa or famo")
            }
            trainer.auxiliaryStopping = try AuxiliaryStopping(strip: recipe.auxiliaryStoppingStrip, threshold: recipe.auxiliaryStoppingThreshold)
        }
        trainer.shuffleSeed = recipe.seed
    }

    /// The recipe's optimizer over `model`'s parameters and `extra` (a weighting's own), with the
    /// model's mixing parameters (cross-stitch α, Learning to Branch's θ) in their own group.
    public static func optimizer(_ recipe: TrainingRecipe, model: any MultiTaskModel, extra: [Tensor] = []) throws -> any Optimizer {
        let stitch = (model as? any MixingParameters)?.mixingParameters ?? []
        let stitchIDs = Set(stitch.map(ObjectIdentifier.init))
        var groups = [ParameterGroup(model.parameters.filter { !stitchIDs.contains(ObjectIdentifier($0)) } + extra)]
        if !stitch.isEmpty { groups.append(ParameterGroup(stitch, learningRateMultiplier: recipe.stitchLearningRateMultiplier)) }
        return try optimizer(recipe, groups: groups)
    }

    /// The recipe's optimizer over `groups`.
    public static func optimizer(_ recipe: TrainingRecipe, groups: [ParameterGroup]) throws -> any Optimizer {
        let lr = recipe.effectiveLearningRate, decay = recipe.effectiveWeightDecay
        switch recipe.optimizer {
        case "sgd": return try SGD(groups, learningRate: lr, momentum: recipe.momentum, weightDecay: decay)
        case "adamw": return try AdamW(groups, learningRate: lr, weightDecay: decay)
        default: return try Adam(groups, learningRate: lr, weightDecay: decay)
        }
    }
}

/// A data set restricted to some of its tasks (single-task baselines).
public struct TaskSubset: MultiTaskDataset {
    public let base: any MultiTaskDataset
    public let keep: [Int]
    public init(_ base: any MultiTaskDataset, _ keep: [Int]) {
        self.base = base
        self.keep = keep
    }
    public var name: String { base.name + "[" + keep.map { base.tasks[$0].name }.joined(separator: ",") + "]" }
    public var count: Int { base.count }
    public var inputShape: [Int] { base.inputShape }
    public var tasks: [DatasetTask] { keep.map { base.tasks[$0] } }
    public func batch(_ indices: [Int]) -> HostBatch {
        let full = base.batch(indices)
        return HostBatch(indices: full.indices, inputs: full.inputs, inputShape: full.inputShape,
                         labels: keep.map { full.labels[$0] }, masks: keep.map { full.masks[$0] })
    }
    public func labelledMask(task: Int) -> [Bool]? { base.labelledMask(task: keep[task]) }
}
