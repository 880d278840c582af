import ArgumentParser
import Tandem

/// How the commands that train many runs of one recipe (`compare`, `group`) read it.
extension RecipeOptions {
    /// The recipe: 10 epochs unless set, the `--config` file's settings, then the options given
    /// (less the keys in `excluding`), a bad option reported as `command`'s usage error; with the
    /// keys the file set.
    func resolve(config: String?, excluding: Set<String> = [], command: ParsableCommand.Type) throws -> (recipe: TrainingRecipe, fileKeys: Set<String>) {
        var base = TrainingRecipe()
        base.epochs = 10
        var fileKeys: Set<String> = []
        if let config { (base, fileKeys) = try ConfigFile.recipe(path: config, base: base) }
        do {
            return (try TrainCommand.apply(given.filter { !excluding.contains($0.key) }, to: base), fileKeys)
        } catch let error as ValidationError {
            throw usageFailure(error.message, command: command)
        }
    }

    /// `recipe` with the batch size that suits `data` when neither an option nor the file set one
    /// (256, or 8 for inputs above 1,000 values).
    func resolvedBatch(_ recipe: TrainingRecipe, data: RunData, fileKeys: Set<String>) -> TrainingRecipe {
        var resolved = recipe
        if batchSize == nil, !fileKeys.contains("batch_size") { resolved.batchSize = data.train.inputCount > 1000 ? 8 : 256 }
        return resolved
    }
}
