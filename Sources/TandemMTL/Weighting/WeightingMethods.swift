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

/// What `WeightingMethods.make` needs beyond the method's name.
public struct WeightingOptions: Sendable {
    /// The weights of `fixed`, one per task (required for it).
    public var fixedWeights: [Float]?
    /// The seed of the methods that draw random numbers (PCGrad's projection order, RLW's weights).
    public var seed: UInt64
    /// The method's settings as written (`--weighting-arg key=value`); see `WeightingMethods.settings(of:)`.
    public var arguments: [String: String]

    /// Each task's count of labelled training samples (required for `labelled`).
    public var labelledCounts: [Int]?

    public init(fixedWeights: [Float]? = nil, seed: UInt64 = 0, arguments: [String: String] = [:], labelledCounts: [Int]? = nil) {
        self.fixedWeights = fixedWeights
        self.labelledCounts = labelledCounts
        self.seed = seed
        self.arguments = arguments
    }
}

/// The loss-weighting and gradient-combination methods by their command-line names.
public enum WeightingMethods {
    /// Every valid name: the loss weightings, then the gradient methods, roughly in order of
    /// publication.
    public static let names = ["ew", "fixed", "uw", "dwa", "gls", "rlw", "imtl-l", "famo", "gradnorm", "pcgrad", "mgda", "imtl-g",
                               "imtl", "gradvac", "cagrad", "nash-mtl", "fairgrad", "upgrad", "aligned-mtl", "db-mtl", "moco", "graddrop",
                               "stch", "excess-mtl", "minimax", "labelled"]

    /// The settings `name` takes, with the defaults of its paper (empty for most methods).
    public static func settings(of name: String) -> [WeightingSetting] {
        switch name {
        case "dwa": return [WeightingSetting("temperature", default: "2", .number(0.01...100), help: "τ of the softmax over loss ratios")]
        case "gradnorm": return [WeightingSetting("alpha", default: "1.5", .number(0...10), help: "α, the pull towards equal training rates")]
        case "mgda":
            return [WeightingSetting("normalization", default: "none", .choice(MGDA.Normalization.allCases.map(\.rawValue)),
                                     help: "gradient scaling before the min-norm problem")]
        case "cagrad":
            return [WeightingSetting("c", default: "0.4", .number(0...10), help: "radius of the ball around the mean gradient, relative to its norm"),
                    WeightingSetting("rescale", default: "1", .choice(["0", "1", "2"]), help: "divide the update by 1 (0), 1 + c² (1) or 1 + c (2)")]
        case "famo":
            return [WeightingSetting("lr", default: "0.025", .number(1e-6...10), help: "learning rate of the task logits (Adam)"),
                    WeightingSetting("weight_decay", default: "0.01", .number(0...10), help: "weight decay γ of the task logits")]
        case "gradvac": return [WeightingSetting("beta", default: "0.5", .number(0...1), help: "weight of the newest cosine in the targets' moving average")]
        case "db-mtl":
            return [WeightingSetting("beta", default: "0.9", .number(0...0.9999), help: "β of the gradients' moving average"),
                    WeightingSetting("beta_decay", default: "0", .number(0...10), help: "σ: the average's β_t = β/t^σ")]
        case "moco":
            return [WeightingSetting("beta", default: "0.5", .number(0...1), help: "step of the tracking variables"),
                    WeightingSetting("beta_decay", default: "0.5", .number(0...10), help: "σβ: β_k = β/k^σβ"),
                    WeightingSetting("gamma", default: "0.1", .number(0...100), help: "step of λ"),
                    WeightingSetting("gamma_decay", default: "0.5", .number(0...10), help: "σγ: γ_k = γ/k^σγ"),
                    WeightingSetting("rho", default: "0", .number(0...100), help: "ℓ2 regularisation of λ's update")]
        case "graddrop": return [WeightingSetting("leak", default: "0", .number(0...1), help: "fraction of a dropped gradient kept")]
        case "fairgrad": return [WeightingSetting("alpha", default: "1", .number(0.01...100), help: "α of the α-fair utility (1: proportional fairness)")]
        case "upgrad": return [WeightingSetting("regularization", default: "0.0001", .number(0...1), help: "ridge added to the scaled Gram matrix")]
        case "stch":
            return [WeightingSetting("mu", default: "1", .number(0.001...100), help: "μ, the smoothing of the maximum (smaller: closer to the worst task alone)"),
                    WeightingSetting("warmup", default: "4", .integer(0...1_000_000), help: "epochs on Σ log L before the epoch that records the nadir losses")]
        case "minimax":
            return [WeightingSetting("temperature", default: "0", .number(0...1000), help: "τ: 0 trains only the task with the largest loss; τ > 0 smooths the maximum into τ·log Σ exp(L/τ), every task weighted by softmax(L/τ)")]
        case "excess-mtl":
            return [WeightingSetting("step", default: "0.01", .number(0...100), help: "η, the step of the exponentiated update of the weights")]
        default: return []
        }
    }

    /// The method `name` for a model with `tasks` on `device` (where learnable method parameters
    /// live), with `options.arguments` checked against `settings(of: name)`.
    public static func make(_ name: String, tasks: [TaskSpec], on device: any Device,
                            options: WeightingOptions = WeightingOptions()) throws -> any LossWeighting {
        guard names.contains(name) else {
            throw TandemError.invalidArgument(op: "weighting", message: "unknown method '\(name)'; valid: \(names.joined(separator: ", "))")
        }
        let settings = try WeightingSettings(method: name, arguments: options.arguments)
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
        case "dwa": return try DynamicWeightAverage(temperature: Float(settings.number("temperature")))
        case "gls": return GeometricLossStrategy()
        case "rlw": return RandomLossWeighting(seed: options.seed)
        case "famo": return try FAMO(taskCount: tasks.count, learningRate: settings.number("lr"), weightDecay: settings.number("weight_decay"))
        case "gradvac": return try GradVac(beta: settings.number("beta"), seed: options.seed)
        case "gradnorm": return try GradNorm(taskCount: tasks.count, alpha: Float(settings.number("alpha")), on: device)
        case "pcgrad": return PCGrad(seed: options.seed)
        case "mgda": return MGDA(normalization: MGDA.Normalization(rawValue: settings.choice("normalization")) ?? .none)
        case "imtl": return try IMTL(mode: .hybrid, taskCount: tasks.count, on: device)
        case "imtl-g": return try IMTL(mode: .gradient, taskCount: tasks.count, on: device)
        case "imtl-l": return try IMTL(mode: .loss, taskCount: tasks.count, on: device)
        case "cagrad": return try CAGrad(c: settings.number("c"), rescale: Int(settings.choice("rescale")) ?? 1)
        case "nash-mtl": return NashMTL()
        case "fairgrad": return try FairGrad(alpha: settings.number("alpha"))
        case "upgrad": return try UPGrad(regularization: settings.number("regularization"))
        case "aligned-mtl": return AlignedMTL()
        case "moco":
            return try MoCo(beta: settings.number("beta"), betaDecay: settings.number("beta_decay"), gamma: settings.number("gamma"),
                            gammaDecay: settings.number("gamma_decay"), rho: settings.number("rho"))
        case "graddrop": return try GradDrop(leak: Float(settings.number("leak")), seed: options.seed)
        case "stch": return try STCH(mu: settings.number("mu"), warmup: settings.integer("warmup"))
        case "minimax": return try Minimax(temperature: settings.number("temperature"))
        case "labelled":
            guard let counts = options.labelledCounts else {
                throw TandemError.invalidArgument(op: "weighting", message: "'labelled' weights tasks by their labelled training samples, which only training on a data set knows (tandem train, tandem compare); give 'fixed' weights here")
            }
            guard counts.count == tasks.count else {
                throw TandemError.invalidArgument(op: "weighting", message: "'labelled' got \(counts.count) labelled counts for \(tasks.count) tasks")
            }
            return try FixedWeighting.labelledShares(counts)
        case "excess-mtl": return try ExcessMTL(taskCount: tasks.count, step: settings.number("step"))
        case "db-mtl": return try DBMTL(beta: settings.number("beta"), betaDecay: settings.number("beta_decay"))
        default: fatalError("weighting '\(name)' is in WeightingMethods.names but has no constructor")
        }
    }
}
