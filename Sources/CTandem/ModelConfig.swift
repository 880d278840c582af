import Tandem

/// The configuration of `tandem_model_create` (parsed and checked by `ModelConfiguration`).
typealias ModelConfig = ModelConfiguration

extension ModelConfiguration {
    /// The configuration in `text`, or an `APIError` with `TANDEM_ERROR_CONFIG` saying what is wrong.
    static func parsed(_ text: String) throws -> ModelConfiguration {
        do {
            return try ModelConfiguration(parsing: text)
        } catch TandemError.invalidArgument(_, let message) {
            throw APIError(Status.config, "tandem_model_create: configuration: \(message)")
        }
    }
}
