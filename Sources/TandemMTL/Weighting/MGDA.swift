import TandemCore
import TandemNN

/// MGDA (Sener and Koltun 2018): multi-task learning as multi-objective optimisation. The update is
/// the minimum-norm point of the convex hull of the task gradients, min_{α ∈ Δ} ‖Σ αᵢ gᵢ‖², a
/// direction that decreases every task's loss when one exists (a Pareto-stationary point otherwise).
///
/// This is the parameter-space MGDA: the gᵢ are the gradients of the shared parameters (not of the
/// shared representation, as MGDA-UB's upper bound uses); task-specific parameters get their own
/// task's gradient. α has a closed form for two tasks and comes from Frank–Wolfe for more, computed
/// on the host from the T×T Gram matrix; the shared parameters get Σ αᵢ gᵢ of the original
/// gradients, combined on the device. `normalization` rescales the gradients only for finding α,
/// as in the paper's code.
public final class MGDA: LossWeighting, ProvidesTaskGram {
    /// How gradients are scaled before the min-norm problem.
    public enum Normalization: String, Sendable, CaseIterable {
        /// gᵢ as they are.
        case none
        /// gᵢ/‖gᵢ‖.
        case l2
        /// gᵢ/Lᵢ.
        case loss
        /// gᵢ/(Lᵢ‖gᵢ‖) ("loss+" in the paper's code).
        case lossL2 = "loss+"
    }

    /// The name used on the command line and in reports.
    public let name = "mgda"
    /// The scaling applied before solving for α.
    public let normalization: Normalization
    /// The Gram matrix of the last step's per-task gradients on the shared parameters.
    public private(set) var lastGram: [[Double]]?
    /// α of the last step (on the simplex).
    public private(set) var lastWeights: [Float] = []

    /// MGDA with the given gradient normalisation (none by default).
    public init(normalization: Normalization = .none) { self.normalization = normalization }

    /// Accumulates the gradient of this method's combined objective (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let gradients = try TaskGradients(losses: losses, parameters: model.sharedParameters, op: name)
        let (gram, lossValues) = try gradients.gram(with: losses)
        lastGram = gram
        let t = losses.count
        let scales: [Double] = (0..<t).map { i in
            let norm = Swift.max(gram[i][i], 0).squareRoot()
            let loss = Swift.abs(Double(lossValues[i]))
            let s: Double
            switch normalization {
            case .none: s = 1
            case .l2: s = norm
            case .loss: s = loss
            case .lossL2: s = loss * norm
            }
            return s > 1e-12 ? s : 1
        }
        let scaled = (0..<t).map { i in (0..<t).map { j in gram[i][j] / (scales[i] * scales[j]) } }
        let alpha = MGDA.minNormWeights(gram: scaled)
        lastWeights = alpha.map(Float.init)
        try gradients.accumulate(coefficients: lastWeights)
    }

    /// α of the last step (sums to 1).
    public func currentWeights() throws -> [Float] { lastWeights }

    /// The weight γ on v₁ minimising ‖γ·v₁ + (1−γ)·v₂‖², γ ∈ [0, 1], from the three dot products.
    public static func lineSearch(v1v1: Double, v1v2: Double, v2v2: Double) -> Double {
        let denominator = v1v1 + v2v2 - 2 * v1v2
        guard denominator > 1e-20 else { return 0.5 }
        return Swift.min(Swift.max((v2v2 - v1v2) / denominator, 0), 1)
    }

    /// α ∈ Δ minimising αᵀGα: the closed form for two tasks; for more, Frank–Wolfe started from the
    /// best pairwise solution, with an exact line search each step, until the duality gap falls
    /// below `tolerance` (relative to αᵀGα) or `maxIterations` pass.
    public static func minNormWeights(gram: [[Double]], maxIterations: Int = 250, tolerance: Double = 1e-7) -> [Double] {
        let t = gram.count
        if t == 0 { return [] }
        if t == 1 { return [1] }
        var alpha = [Double](repeating: 0, count: t)
        var best = Double.infinity
        for i in 0..<t {
            for j in (i + 1)..<t {
                let g = lineSearch(v1v1: gram[i][i], v1v2: gram[i][j], v2v2: gram[j][j])
                let cost = g * g * gram[i][i] + 2 * g * (1 - g) * gram[i][j] + (1 - g) * (1 - g) * gram[j][j]
                if cost < best {
                    best = cost
                    alpha = [Double](repeating: 0, count: t)
                    alpha[i] = g
                    alpha[j] = 1 - g
                }
            }
        }
        if t == 2 { return alpha }
        for _ in 0..<maxIterations {
            let gAlpha = (0..<t).map { i in (0..<t).reduce(0) { $0 + gram[i][$1] * alpha[$1] } }
            let vv = (0..<t).reduce(0) { $0 + alpha[$1] * gAlpha[$1] }
            guard let k = (0..<t).min(by: { gAlpha[$0] < gAlpha[$1] }) else { break }
            // Duality gap of Frank–Wolfe: ⟨∇f(α), α − e_k⟩/2 = vv − (Gα)_k.
            if vv - gAlpha[k] <= tolerance * Swift.max(vv, 1e-30) { break }
            let gamma = lineSearch(v1v1: gram[k][k], v1v2: gAlpha[k], v2v2: vv)
            for i in 0..<t { alpha[i] *= 1 - gamma }
            alpha[k] += gamma
            if gamma < 1e-12 { break }
        }
        return alpha
    }
}
