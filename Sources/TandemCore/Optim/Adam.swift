#if canImport(Glibc)
import Glibc
#endif

/// Adam with PyTorch's semantics (`torch.optim.Adam`): bias-corrected first and second moments,
/// L2 weight decay added to the gradient. Each step's updates go to a device as one batch (`adamUpdates`: one
/// launch per eight tensors on OpenCL);
/// the moments are device buffers created, zeroed, on a parameter's first step.
public class Adam: Optimizer {
    /// The parameters, grouped by their settings.
    public private(set) var parameterGroups: [ParameterGroup]
    /// The base learning rate.
    public var learningRate: Float
    /// Decay rates of the first and second moment estimates.
    public let beta1, beta2: Float
    /// Added to the denominator for numerical stability.
    public let epsilon: Float
    /// Weight decay coefficient, unless a group overrides it.
    public let weightDecay: Float
    /// Whether weight decay is decoupled from the gradient (AdamW).
    public let decoupled: Bool

    struct State { var m, v: Buffer; var step: Int }  // Internal for OptimizerState.swift.
    var states: [ObjectIdentifier: State] = [:]

    /// Whether `parameter` has moments (it has taken a step since it was added or reset).
    public func hasState(for parameter: Tensor) -> Bool { states[ObjectIdentifier(parameter)] != nil }

    /// Forgets the moments and step count of `parameters`.
    public func resetState(of parameters: [Tensor]) {
        for parameter in parameters { states[ObjectIdentifier(parameter)] = nil }
    }

    /// Adam over `groups` (set `decoupled` for AdamW's decoupled weight decay).
    public init(_ groups: [ParameterGroup], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false) throws {
        guard learningRate >= 0, epsilon >= 0, weightDecay >= 0, (0..<1).contains(beta1), (0..<1).contains(beta2) else {
            throw TandemError.invalidArgument(
                op: decoupled ? "AdamW" : "Adam",
                message: "invalid hyper-parameters: lr \(learningRate), betas (\(beta1), \(beta2)), epsilon \(epsilon), weight decay \(weightDecay)")
        }
        try OptimizerChecks.validate(groups, op: decoupled ? "AdamW" : "Adam")
        self.parameterGroups = groups
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }

    /// Adam over one group of `parameters`.
    public convenience init(_ parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                            epsilon: Float = 1e-8, weightDecay: Float = 0) throws {
        try self.init([ParameterGroup(parameters)], learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                      weightDecay: weightDecay)
    }

    /// One update of every parameter that has a gradient, in place on its device. Each parameter
    /// counts its own steps for bias correction (a parameter without a gradient does not advance).
    public func step() throws {
        let op = decoupled ? "AdamW.step" : "Adam.step"
        var batches = OptimizerChecks.DeviceBatches<AdamUpdate>()
        for group in parameterGroups {
            for parameter in group.parameters {
                guard let grad = try OptimizerChecks.gradient(of: parameter, op: op) else { continue }
                let key = ObjectIdentifier(parameter)
                var state: State
                if let existing = states[key] {
                    state = existing
                } else {
                    state = State(m: try OptimizerChecks.zeros(parameter.count, on: parameter.device),
                                  v: try OptimizerChecks.zeros(parameter.count, on: parameter.device), step: 0)
                }
                state.step += 1
                states[key] = state
                let step = AdamStep(lr: learningRate * group.learningRateMultiplier, beta1: beta1, beta2: beta2,
                                    epsilon: epsilon, weightDecay: group.weightDecay ?? weightDecay, decoupled: decoupled,
                                    step: state.step)
                batches.append(AdamUpdate(parameter: parameter.storage, gradient: grad.storage, m: state.m, v: state.v,
                                          count: parameter.count, step: step), on: parameter.device)
            }
        }
        for (device, updates) in batches.batches { try device.adamUpdates(updates) }
    }
}

/// AdamW (`torch.optim.AdamW`): Adam with decoupled weight decay, θ ← θ·(1 − lr·λ) before the
/// Adam step instead of λ·θ added to the gradient. PyTorch's default λ = 0.01.
public final class AdamW: Adam {
    /// AdamW over `groups`.
    public init(_ groups: [ParameterGroup], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0.01) throws {
        try super.init(groups, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                       weightDecay: weightDecay, decoupled: true)
    }

    /// AdamW over one group of `parameters`.
    public convenience init(_ parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                            epsilon: Float = 1e-8, weightDecay: Float = 0.01) throws {
        try self.init([ParameterGroup(parameters)], learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                      weightDecay: weightDecay)
    }
}

extension AdamStep {
    /// The per-step constants every device's kernel takes, computed once in float64: `stepSize` =
    /// lr / (1 − β₁ᵗ), `correction2` = √(1 − β₂ᵗ), `decay` = 1 − lr·λ (used by AdamW only).
    public var scalars: (stepSize: Float, correction2: Float, decay: Float) {
        let t = Double(Swift.max(step, 1))
        let bias1 = 1 - Glibc.pow(Double(beta1), t), bias2 = 1 - Glibc.pow(Double(beta2), t)
        return (Float(Double(lr) / bias1), Float(bias2.squareRoot()), Float(1 - Double(lr) * Double(weightDecay)))
    }
}
