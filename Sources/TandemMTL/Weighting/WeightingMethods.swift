import TandemCore
import TandemNN

/// A weighting method with host-side state that a checkpoint must carry for a resumed run to
/// match an uninterrupted one (DWA's loss history, GradNorm's initial losses, PCGrad's step count).
/// Learnable tensors are not part of it: they are in `parameters`, saved with the model's.
public protocol StatefulWeighting: LossWeighting {
    /// The state as named float arrays (names prefixed with the method's name).
    func methodState() -> [String: [Float]]
    /// Restores `methodState()`'s output; throws, changing nothing, when it does not fit.
    func loadMethodState(_ state: [String: [Float]]) throws
}

/// Settings of the weighting methods that have any, for `WeightingMethods.make`.
public struct WeightingOptions: Sendable {
    /// The weights of `fixed`, one per task (required for it).
    public var fixedWeights: [Float]?
    /// DWA's temperature τ.
    public var dwaTemperature: Float
    /// GradNorm's α.
    public var gradNormAlpha: Float
    /// The seed of PCGrad's random projection order.
    public var seed: UInt64
    /// MGDA's gradient normalisation.
    public var mgdaNormalization: MGDA.Normalization

    /// Defaults from the papers: τ = 2, α = 1.5, no MGDA normalisation.
    public init(fixedWeights: [Float]? = nil, dwaTemperature: Float = 2, gradNormAlpha: Float = 1.5, seed: UInt64 = 0,
                mgdaNormalization: MGDA.Normalization = .none) {
        self.fixedWeights = fixedWeights
        self.dwaTemperature = dwaTemperature
        self.gradNormAlpha = gradNormAlpha
        self.seed = seed
        self.mgdaNormalization = mgdaNormalization
    }
}

/// The loss-weighting and gradient-combination methods by their command-line names.
public enum WeightingMethods {
    /// Every valid name, in the order of the literature's usual tables.
    public static let names = ["ew", "fixed", "uw", "dwa", "gradnorm", "pcgrad", "mgda"]

    /// The method `name` for a model with `tasks` on `device` (where learnable method parameters live).
    public static func make(_ name: String, tasks: [TaskSpec], on device: any Device,
                            options: WeightingOptions = WeightingOptions()) throws -> any LossWeighting {
        switch name {
        case "ew": return EqualWeighting()
        case "fixed":
            guard let weights = options.fixedWeights else {
                throw TandemError.invalidArgument(op: "weighting", message: "'fixed' needs one weight per task (\(tasks.map(\.name).joined(separator: ", ")))")
            }
            guard weights.count == tasks.count else {
                throw TandemError.invalidArgument(op: "weighting", message: "'fixed' got \(weights.count) weights for \(tasks.count) tasks")
            }
            return try FixedWeighting(weights: weights)
        case "uw": return try UncertaintyWeighting(tasks: tasks, on: device)
        case "dwa": return try DynamicWeightAverage(temperature: options.dwaTemperature)
        case "gradnorm": return try GradNorm(taskCount: tasks.count, alpha: options.gradNormAlpha, on: device)
        case "pcgrad": return PCGrad(seed: options.seed)
        case "mgda": return MGDA(normalization: options.mgdaNormalization)
        default:
            throw TandemError.invalidArgument(op: "weighting", message: "unknown method '\(name)'; valid: \(names.joined(separator: ", "))")
        }
    }
}
