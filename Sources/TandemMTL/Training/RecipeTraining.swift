import TandemCore
import TandemData

/// One training of a recipe on some of its data's tasks, as `tandem train` and `tandem compare` run
/// it: the shuffled loader, the model and trainer (`TrainingSetup`) and the validation batches, kept
/// on the device; after training, the best validated epoch's state restored and the test split
/// evaluated once.
public struct RecipeTraining {
    /// The data of the trained tasks.
    public let data: RunData
    public let loader: DataLoader
    public let setup: TrainingSetup
    /// Validation batches on the device (empty without a validation split).
    public let validation: [TrainingBatch]
    public var trainer: Trainer { setup.trainer }
    public var model: any MultiTaskModel { setup.model }

    /// The recipe on the tasks of `data` at `indices` (all of them for a multi-task run, one for a
    /// single-task baseline), on `device`; `baselines` give the trainer's Δm.
    public init(recipe: TrainingRecipe, data: RunData, tasks indices: [Int], device: any Device,
                baselines: [String: [String: Double]]? = nil) throws {
        let part = data.tasks(indices)
        let train = part.train
        loader = try DataLoader(train, batchSize: recipe.batchSize, shuffle: true, seed: recipe.seed,
                                taskSampling: data.multiInput ? try recipe.taskBatchSampling : nil)
        setup = try TrainingSetup(recipe: recipe, tasks: recipe.taskSpecs(train.tasks), inputShape: train.inputShape,
                                  labelCounts: train.tasks.map(\.labelCount), stepsPerEpoch: loader.batchesPerEpoch, device: device,
                                  baselines: baselines, batch: Swift.max(1, Swift.min(recipe.batchSize, train.count)),
                                  labelledCounts: train.tasks.indices.map { train.labelledCount(task: $0) })
        setup.trainer.keepBestState = part.validation != nil
        validation = try part.validation.map { try Self.batches(of: $0, batchSize: recipe.batchSize, on: device) } ?? []
        self.data = part
    }

    /// Trains until the recipe's epochs are done (a resumed trainer continues where it stopped).
    public func fit() throws {
        _ = try trainer.fit(epochs: setup.recipe.epochs, train: loader, validation: validation)
    }

    /// Loads the best validated epoch's state into the model and returns that epoch (0-based); nil,
    /// changing nothing, when validation chose none.
    @discardableResult
    public func restoreBestEpoch() throws -> Int? {
        guard let best = trainer.best, let state = trainer.bestState else { return nil }
        try model.loadStateDict(Dictionary(uniqueKeysWithValues: state.map { ($0.0, $0.1) }))
        return best.epoch
    }

    /// The model's metrics on the test split.
    public func test() throws -> EvaluationResult {
        try trainer.evaluate(try Self.batches(of: data.test, batchSize: setup.recipe.batchSize, on: trainer.device))
    }

    /// `set` in order, as batches on `device`.
    static func batches(of set: any MultiTaskDataset, batchSize: Int, on device: any Device) throws -> [TrainingBatch] {
        try DataLoader(set, batchSize: batchSize, shuffle: false, prefetch: 0).epoch(0).map { try TrainingBatch($0, tasks: set.tasks, on: device) }
    }
}
