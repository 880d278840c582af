import Tandem

/// `tandem train --config FILE`: a recipe in JSON, its keys those of `TrainingRecipe.keys`
/// (the long option names with `_` for `-`), e.g. `{"model": "hps", "data": "mmoe-synth", "lr": 0.01}`.
enum ConfigFile {
    /// `base` with the settings of the file at `path`, and the keys the file sets. A file that cannot
    /// be read, is not valid JSON or sets an unknown key or a bad value is a `CommandError` naming
    /// the file.
    static func recipe(path: String, base: TrainingRecipe) throws -> (TrainingRecipe, keys: Set<String>) {
        let bytes: [UInt8]
        switch System.readRegularFile(path, limit: 1 << 20) {
        case let .success(read): bytes = read
        case let .failure(error): throw CommandError("--config: \(error)")
        }
        let json: JSON
        do {
            json = try JSON.parse(bytes)
        } catch {
            throw CommandError("--config \(path): \(error)")
        }
        guard case let .object(fields) = json else { throw CommandError("--config \(path): expected a JSON object of settings, got \(json.typeName)") }
        do {
            return (try TrainingRecipe(json: json, base: base, source: path), Set(fields.map(\.0)))
        } catch TandemError.invalidArgument(_, let message) {
            throw CommandError("--config \(message)")
        }
    }
}
