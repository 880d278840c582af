import TandemCore
import TandemNN

/// IMTL (Liu et al. 2021, "Towards Impartial Multi-task Learning", ICLR): impartial in the loss
/// scales (IMTL-L) and in the gradient directions (IMTL-G), or both (the paper's hybrid, `imtl`).
///
/// - IMTL-L (Sec. 3.1, Eq. 3): each task's loss becomes e^{sᵢ}·Lᵢ − sᵢ with a learned sᵢ (starting
///   at 0). Its stationary point in sᵢ is e^{sᵢ}·Lᵢ = 1: every scaled loss is driven to the same value.
/// - IMTL-G (Sec. 3.2, Eqs. 5–8): the shared parameters get g = Σ αᵢ·gᵢ with Σ αᵢ = 1 chosen so
///   that g projects equally onto every task's unit gradient uᵢ = gᵢ/‖gᵢ‖: gᵀ(u₁ − uⱼ) = 0 for all
///   j. With D = [g₁ − g₂, …, g₁ − g_T]ᵀ and U = [u₁ − u₂, …, u₁ − u_T]ᵀ, Eq. 8 gives
///   α₂..T = g₁Uᵀ(DUᵀ)⁻¹ and α₁ = 1 − Σ α₂..T; every product is a Gram-matrix entry divided by
///   norms, so α is computed on the host from the T×T Gram matrix. Task-specific parameters get their
///   own task's gradient.
/// - The hybrid applies IMTL-G to the gradients of the IMTL-L-scaled losses (Algorithm 1).
///
/// Gradients are taken with respect to the shared parameters (the paper allows the shared
/// representation as a cheaper surrogate). A task whose gradient is zero has no direction: it is left
/// out of the equal-projection conditions and gets α = 0. When the conditions are degenerate
/// (gradients pointing the same way) the least-squares solution is used.
public final class IMTL: LossWeighting, ProvidesTaskGram {
    /// Which half of IMTL, or both.
    public enum Mode: String, Sendable, CaseIterable {
        /// IMTL-G on the IMTL-L-scaled losses (the paper's full method).
        case hybrid = "imtl"
        /// Equal projections of the shared gradient onto every task's direction.
        case gradient = "imtl-g"
        /// Learned loss scales e^{sᵢ}.
        case loss = "imtl-l"
    }

    /// The name used on the command line and in reports (`imtl`, `imtl-g`, `imtl-l`).
    public var name: String { mode.rawValue }
    /// Which half of IMTL this is.
    public let mode: Mode
    /// s, shape [T], for `loss` and `hybrid`: the scaled loss is e^{sᵢ}·Lᵢ − sᵢ.
    public let logScales: Tensor?
    /// The Gram matrix of the last step's (scaled) task gradients on the shared parameters.
    public private(set) var lastGram: [[Double]]?
    /// α of the last step (IMTL-G and the hybrid).
    public private(set) var lastAlpha: [Float] = []
    private var lastScales: [Float] = []

    /// IMTL in `mode` for `taskCount` tasks; s lives on `device` (the model's).
    public init(mode: Mode, taskCount: Int, on device: any Device) throws {
        guard taskCount > 0 else { throw TandemError.invalidArgument(op: mode.rawValue, message: "no tasks") }
        self.mode = mode
        if mode == .gradient {
            logScales = nil
        } else {
            let s = try Tensor.zeros([taskCount], on: device, requiresGrad: true)
            s.name = "\(mode.rawValue).log_scales"
            logScales = s
        }
    }

    /// s, for the optimizer (none for IMTL-G).
    public var parameters: [Tensor] { logScales.map { [$0] } ?? [] }

    /// One backward of the weighted losses (IMTL-L; the gradient modes take per-task gradients).
    public var completesGradientsInOneBackward: Bool { mode == .loss }

    /// Accumulates the gradient of this method's objective (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        var scaled = losses
        if let s = logScales {
            guard s.count == losses.count, s.device === losses[0].device else {
                throw TandemError.invalidArgument(op: name, message: "\(losses.count) losses on \(losses[0].device.info.selector) for \(s.count) scales on \(s.device.info.selector)")
            }
            scaled = try losses.enumerated().map { i, loss in
                let si = try s.slice(axis: 0, i..<(i + 1)).reshape(loss.shape)
                return try si.exp() * loss - si
            }
        }
        if mode == .loss {
            var total = scaled[0]
            for term in scaled.dropFirst() { total = try total + term }
            try total.backward(releasingGraph: true)
            return
        }
        let gradients = try TaskGradients(losses: scaled, parameters: model.sharedParameters, op: name)
        let (gram, s) = try gradients.gram(with: logScales.map { [$0] } ?? [])
        lastGram = gram
        lastScales = s
        let alpha = SmallLinearAlgebra.isFinite(gram) ? IMTL.equalProjectionWeights(gram: gram) : [Double](repeating: .nan, count: losses.count)
        lastAlpha = alpha.map(Float.init)
        try gradients.accumulate(coefficients: lastAlpha)
    }

    /// α of IMTL-G (Eq. 8) from the Gram matrix of the task gradients: Σ α = 1 and the combined
    /// gradient projects equally onto every non-zero task gradient's direction. Zero gradients get 0.
    public static func equalProjectionWeights(gram: [[Double]]) -> [Double] {
        let t = gram.count
        let norms = (0..<t).map { Swift.max(gram[$0][$0], 0).squareRoot() }
        let largest = norms.max() ?? 0
        let active = (0..<t).filter { norms[$0] > 1e-12 * largest && norms[$0] > 0 }
        var alpha = [Double](repeating: 0, count: t)
        guard let r = active.first else { return alpha }
        let others = Array(active.dropFirst())
        if others.isEmpty {
            alpha[r] = 1
            return alpha
        }
        // b_j = g_r·(u_r − u_j); M_kj = (g_r − g_k)·(u_r − u_j); α_others·M = b.
        let b = others.map { j in gram[r][r] / norms[r] - gram[r][j] / norms[j] }
        let m = others.map { k in
            others.map { j in gram[r][r] / norms[r] - gram[r][j] / norms[j] - gram[k][r] / norms[r] + gram[k][j] / norms[j] }
        }
        let mT = (0..<others.count).map { j in (0..<others.count).map { k in m[k][j] } }
        let solution: [Double]
        if let exact = SmallLinearAlgebra.solve(mT, b) {
            solution = exact
        } else {
            // Degenerate conditions (parallel directions): the least-squares α, ridge-regularised.
            let n = others.count
            let normal = (0..<n).map { i in (0..<n).map { j in (0..<n).reduce(0) { $0 + m[i][$1] * m[j][$1] } } }
            let ridge = 1e-10 * Swift.max(normal.indices.map { normal[$0][$0] }.max() ?? 0, 1e-300)
            let regularised = (0..<n).map { i in (0..<n).map { j in normal[i][j] + (i == j ? ridge : 0) } }
            let rhs = (0..<n).map { i in (0..<n).reduce(0) { $0 + m[i][$1] * b[$1] } }
            guard let ls = SmallLinearAlgebra.solve(regularised, rhs) else {
                for i in active { alpha[i] = 1 / Double(active.count) }
                return alpha
            }
            solution = ls
        }
        for (k, j) in others.enumerated() { alpha[j] = solution[k] }
        alpha[r] = 1 - solution.reduce(0, +)
        return alpha
    }

    /// The weights on the raw task gradients of the last step: α (IMTL-G), e^{s} (IMTL-L, one
    /// download), or αᵢ·e^{sᵢ} (hybrid, s as of the last step).
    public func currentWeights() throws -> [Float] {
        switch mode {
        case .gradient: return lastAlpha
        case .loss: return try (logScales?.values() ?? []).map { Float(HostMath.exp(Double($0))) }
        case .hybrid: return zip(lastAlpha, lastScales).map { $0 * Float(HostMath.exp(Double($1))) }
        }
    }
}
