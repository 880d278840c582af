import TandemCore
import TandemNN

/// MoCo (Fernando et al. 2023, "Mitigating Gradient Bias in Multi-objective Learning: A Provably
/// Convergent Approach", ICLR): MGDA's weights computed from tracked gradients, so that the bias of
/// stochastic per-task gradients does not bias the direction. With step k, β_k = β/k^σβ and
/// γ_k = γ/k^σγ (the paper's Algorithm 1, as LibMTL runs it):
///
///     gᵢ ← gᵢ·Lᵢ/‖gᵢ‖                      (each task's gradient, scaled to its loss)
///     yᵢ ← yᵢ − β_k·(yᵢ − gᵢ)              (the tracking variables, [T, P], on the device)
///     λ  ← softmax(λ − γ_k·(YYᵀ + ρI)·λ)   (a step on MGDA's min-norm objective, kept on the simplex)
///     d  = Yᵀλ                             (the shared parameters' update)
///
/// Defaults are LibMTL's: β = 0.5, σβ = 0.5, γ = 0.1, σγ = 0.5, ρ = 0; λ starts uniform and Y at 0.
/// Y and λ are checkpointed. One download per step brings the gradients' Gram matrix GGᵀ (for their
/// norms), the losses, and YGᵀ and YYᵀ of the previous Y, from which Y's new Gram matrix follows on the
/// host: with S = diag(sᵢ) the scales, YYᵀ ← (1−β)²YYᵀ + β(1−β)(YGᵀS + SGYᵀ) + β²S·GGᵀ·S.
public final class MoCo: LossWeighting, ProvidesTaskGram {
    /// The name used on the command line and in reports.
    public let name = "moco"
    public let beta: Double, betaDecay: Double, gamma: Double, gammaDecay: Double, rho: Double
    /// Steps taken.
    public private(set) var steps = 0
    /// λ, on the simplex.
    public private(set) var lambda: [Double] = []
    /// Y, [T, P], or nil before the first step.
    public var tracked: Tensor? { carried.current }
    private var carried = CarriedMatrix(key: "moco.tracked", what: "tracking variables", method: "moco")
    /// The Gram matrix of the last step's task gradients.
    public private(set) var lastGram: [[Double]]?

    public init(beta: Double = 0.5, betaDecay: Double = 0.5, gamma: Double = 0.1, gammaDecay: Double = 0.5, rho: Double = 0) throws {
        guard [beta, betaDecay, gamma, gammaDecay, rho].allSatisfy({ $0.isFinite && $0 >= 0 }), beta <= 1 else {
            throw TandemError.invalidArgument(op: "moco", message: "needs β in [0, 1] and γ, the decays and ρ ≥ 0, got β \(beta), γ \(gamma), ρ \(rho)")
        }
        self.beta = beta
        self.betaDecay = betaDecay
        self.gamma = gamma
        self.gammaDecay = gammaDecay
        self.rho = rho
    }

    /// Accumulates Yᵀλ (see the type's documentation) into the shared parameters' `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let t = losses.count
        let gradients = try TaskGradients(losses: losses, parameters: model.sharedParameters, op: name)
        let device = gradients.matrix.device
        let previous = try carried.previous(shape: gradients.matrix.shape, on: device)
        // One transfer: GGᵀ, the losses, and (after the first step) YGᵀ and YYᵀ of the previous Y.
        let products = try previous.map { y in
            try Tensor.withoutGradient { [try y.matmul(gradients.matrix, transposeOther: true), try y.matmul(y, transposeOther: true)] }
        } ?? []
        let (gram, extra) = try gradients.gram(with: losses + products)
        lastGram = gram
        let values = Array(extra.prefix(t))
        func matrix(_ offset: Int) -> [[Double]] { (0..<t).map { i in (0..<t).map { j in Double(extra[offset + i * t + j]) } } }
        if lambda.count != t { lambda = [Double](repeating: 1 / Double(t), count: t) }
        steps += 1
        let k = Double(steps)
        let betaK = Float(beta / HostMath.pow(k, betaDecay)), gammaK = gamma / HostMath.pow(k, gammaDecay)
        let scales = (0..<t).map { Float(Double(values[$0]) / (Swift.max(gram[$0][$0], 0).squareRoot() + 1e-8)) }
        let y = try Tensor.withoutGradient { () throws -> Tensor in
            let scaled = try gradients.matrix * Tensor(scales, shape: [t, 1], on: device)
            guard let previous else { return try scaled * betaK }
            return try previous - (previous - scaled) * betaK
        }
        carried.store(y)
        let combination = try TaskGradients(parameters: gradients.parameters, matrix: y)
        // Y's new Gram matrix from the downloaded products (Y starts at 0).
        let b = Double(betaK), s = scales.map(Double.init)
        let crossed = products.isEmpty ? nil : matrix(t), previousGram = products.isEmpty ? nil : matrix(t + t * t)
        let yGram = (0..<t).map { i in
            (0..<t).map { j in
                var value = b * b * s[i] * s[j] * gram[i][j]
                if let crossed, let previousGram {
                    value += (1 - b) * (1 - b) * previousGram[i][j] + b * (1 - b) * (crossed[i][j] * s[j] + s[i] * crossed[j][i])
                }
                return value
            }
        }
        if SmallLinearAlgebra.isFinite(yGram), scales.allSatisfy(\.isFinite) {
            var pull = SmallLinearAlgebra.multiply(yGram, lambda)
            for i in 0..<t { pull[i] += rho * lambda[i] }
            lambda = SmallLinearAlgebra.softmax((0..<t).map { lambda[$0] - gammaK * pull[$0] })
            try combination.accumulate(coefficients: lambda.map(Float.init))
        } else {
            try combination.accumulate(coefficients: [Float](repeating: .nan, count: t))
        }
    }

    /// λ.
    public func currentWeights() throws -> [Float] { lambda.map(Float.init) }
}

extension MoCo: StatefulWeighting {
    /// The step count, λ and Y (one download).
    public func methodState() -> [String: [Float]] {
        var state: [String: [Float]] = ["moco.steps": [Float(steps)], "moco.lambda": lambda.map(Float.init)]
        if let values = carried.hostValues { state[carried.key] = values }
        return state
    }

    /// Restores `methodState()`; Y's shape is checked at the next step. Throws, changing nothing,
    /// when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        let restoredSteps = try WeightingChecks.stepCount(state, key: "moco.steps", method: name)
        guard let restoredLambda = state["moco.lambda"], restoredLambda.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw TandemError.invalidArgument(op: name, message: "state needs 'moco.lambda' (weights ≥ 0), got \(state.keys.sorted())")
        }
        let restored = try carried.validated(state)
        steps = restoredSteps
        lambda = restoredLambda.map(Double.init)
        carried.restore(restored)
    }
}
