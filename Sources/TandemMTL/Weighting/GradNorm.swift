import TandemCore
import TandemNN

/// GradNorm (Chen et al. 2018): learnable task weights wᵢ that balance the tasks' training rates by
/// equalising the gradient norms Gᵢ = ‖∇_W(wᵢ·Lᵢ)‖ at the last shared layer W.
///
/// Each step the model gets the gradient of Σ wᵢ·Lᵢ, and the weights get the gradient of the
/// GradNorm loss Σᵢ |Gᵢ − Ḡ·rᵢ^α|, where Ḡ is the mean norm, L̃ᵢ = Lᵢ(t)/Lᵢ(0) the loss ratio
/// against the first step and rᵢ = L̃ᵢ/mean(L̃) the relative inverse training rate. The target
/// Ḡ·rᵢ^α is a constant, so ∂/∂wᵢ = sign(Gᵢ − targetᵢ)·‖∇_W Lᵢ‖. Before each step after the first
/// (that is, after the optimizer has updated them) the weights are clamped to at least 1e-6 and
/// renormalised to sum to T.
///
/// Cost: T backward passes per step; the per-task gradients of W stay on the device and one
/// download per step brings the T×T Gram matrix of W's gradients, the losses and the weights.
public final class GradNorm: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "gradnorm"
    /// α: how strongly tasks that train slower are pulled up (1.5 in the paper for NYUv2).
    public let alpha: Float
    /// The task weights w, shape [T], starting at 1; optimised with the model.
    public let weights: Tensor
    /// Lᵢ(0), recorded at the first step.
    public private(set) var initialLosses: [Float]?
    /// Gᵢ = ‖∇_W(wᵢ·Lᵢ)‖ of the last step.
    public private(set) var lastNorms: [Float] = []
    /// The Gram matrix of the last step's per-task gradients ⟨∇_W(wᵢLᵢ), ∇_W(wⱼLⱼ)⟩.
    public private(set) var lastGram: [[Double]]?
    private var steps = 0

    /// `taskCount` weights on `device` (the model's device), each starting at 1.
    public init(taskCount: Int, alpha: Float = 1.5, on device: any Device) throws {
        guard taskCount > 0, alpha.isFinite, alpha >= 0 else {
            throw TandemError.invalidArgument(op: "gradnorm", message: "needs at least one task and α ≥ 0, got \(taskCount) tasks, α = \(alpha)")
        }
        self.alpha = alpha
        weights = try Tensor.ones([taskCount], on: device, requiresGrad: true)
        weights.name = "gradnorm.weights"
    }

    /// The task weights, for the optimizer.
    public var parameters: [Tensor] { [weights] }

    /// Accumulates the gradient of this method's combined objective (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let t = weights.count
        guard losses.count == t, losses[0].device === weights.device else {
            throw TandemError.invalidArgument(
                op: name, message: "\(losses.count) losses on \(losses[0].device.info.selector) for \(t) weights on \(weights.device.info.selector)")
        }
        guard let shared = model.lastSharedWeight else {
            throw TandemError.invalidArgument(op: name, message: "the model has no last shared weight to measure gradient norms at")
        }
        if steps > 0 { try renormalise() }
        steps += 1
        let seeds = try Tensor.withoutGradient {
            try (0..<t).map { i in try weights.slice(axis: 0, i..<(i + 1)).reshape(losses[i].shape) }
        }
        // Every leaf but W accumulates Σ wᵢ∇Lᵢ from the seeded passes; W's part is added below.
        let gradients = try TaskGradients(losses: losses, parameters: [shared], seeds: seeds, op: name)
        try gradients.accumulate(coefficients: [Float](repeating: 1, count: t))
        let (gram, extra) = try gradients.gram(with: losses + [weights])
        lastGram = gram
        let lossValues = Array(extra[0..<t]).map(Double.init)
        let w = Array(extra[t..<(2 * t)]).map(Double.init)
        let wGrad = GradNorm.weightGradient(gram: gram, losses: lossValues, initialLosses: initialLosses?.map(Double.init) ?? lossValues,
                                            weights: w, alpha: Double(alpha))
        if initialLosses == nil { initialLosses = lossValues.map(Float.init) }
        lastNorms = (0..<t).map { Float(Swift.max(gram[$0][$0], 0).squareRoot()) }
        let g = try Tensor(wGrad.map(Float.init), shape: [t], on: weights.device)
        weights.grad = try Tensor.withoutGradient { try weights.grad.map { try $0 + g } ?? g }
    }

    /// ∂/∂wᵢ of Σⱼ |Gⱼ − Ḡ·rⱼ^α| with the target held constant, from the Gram matrix of the weighted
    /// gradients (Gᵢ² on its diagonal), the current and initial losses and the weights.
    public static func weightGradient(gram: [[Double]], losses: [Double], initialLosses: [Double], weights: [Double],
                                      alpha: Double) -> [Double] {
        let t = losses.count
        let norms = (0..<t).map { Swift.max(gram[$0][$0], 0).squareRoot() }
        let meanNorm = norms.reduce(0, +) / Double(t)
        let ratios = (0..<t).map { losses[$0] / Swift.max(initialLosses[$0], 1e-12) }
        let meanRatio = ratios.reduce(0, +) / Double(t)
        return (0..<t).map { i in
            let target = meanNorm * HostMath.pow(ratios[i] / Swift.max(meanRatio, 1e-12), alpha)
            let difference = norms[i] - target
            let sign: Double = difference > 0 ? 1 : (difference < 0 ? -1 : 0)
            // Gᵢ = wᵢ·‖∇_W Lᵢ‖, so ∂Gᵢ/∂wᵢ = ‖∇_W Lᵢ‖ = Gᵢ/wᵢ.
            return sign * (weights[i] > 0 ? norms[i] / weights[i] : 0)
        }
    }

    /// Clamps the weights to ≥ 1e-6 and rescales them to sum to T, on the device.
    public func renormalise() throws {
        try Tensor.withoutGradient {
            let clamped = try weights.detach().clamp(min: 1e-6)
            try weights.assign(try clamped * Float(weights.count) / clamped.sum())
        }
    }

    /// The weights renormalised to sum to T, as the next step will use them (one download).
    public func currentWeights() throws -> [Float] {
        let w = try weights.values().map { Swift.max($0, 1e-6) }
        let total = w.reduce(0, +)
        return w.map { $0 * Float(w.count) / total }
    }
}

extension GradNorm: StatefulWeighting {
    /// The host-side state a checkpoint must carry (see `StatefulWeighting`).
    public func methodState() -> [String: [Float]] {
        ["gradnorm.steps": [Float(steps)], "gradnorm.initial_losses": initialLosses ?? []]
    }

    /// Restores `methodState()`; throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        guard let stepValue = state["gradnorm.steps"], stepValue.count == 1, stepValue[0] >= 0, stepValue[0] == stepValue[0].rounded(),
              let initial = state["gradnorm.initial_losses"], initial.isEmpty || initial.count == weights.count,
              initial.isEmpty == (stepValue[0] == 0) else {
            throw TandemError.invalidArgument(
                op: name, message: "state needs 'gradnorm.steps' and 'gradnorm.initial_losses' (\(weights.count) values once a step was taken), got \(state.keys.sorted())")
        }
        steps = Int(stepValue[0])
        initialLosses = initial.isEmpty ? nil : initial
    }
}
