import TandemCore
import TandemNN

/// FairGrad (Ban and Ji 2024, "Fair Resource Allocation in Multi-Task Learning", ICML): the update
/// d = Σ wᵢgᵢ allocates the tasks' local improvements gᵢᵀd α-fairly, maximising Σ u_α(gᵢᵀd) on a
/// ball; under d = Σ wᵢgᵢ the paper's optimality condition, on the Gram matrix G, is
/// (G·w)ᵢ = wᵢ^{−1/α} for every task. α = 1 is proportional fairness, the condition Nash-MTL solves
/// (Gw = 1/w); α → ∞ approaches max–min fairness; α = 0 would be the plain sum.
///
/// The condition is the stationary point of the strictly convex f(w) = ½wᵀGw − Σ h(wᵢ), with
/// h′(w) = w^{−1/α} (h = log for α = 1), solved on the host by damped Newton steps that keep w > 0.
/// The problem is solved in the tasks' unit directions with the cosine matrix's eigenvalues held at
/// 10⁻⁶ or more (see `weights(gram:alpha:)`), so a solution exists when gradients are linearly
/// dependent (exact conflict then gives d = 0, the Pareto-stationary answer). A task whose
/// gradient is zero cannot improve and gets w = 0. Default α = 1, LibMTL's default.
public final class FairGrad: LossWeighting, GramCombination {
    /// The name used on the command line and in reports.
    public let name = "fairgrad"
    /// α of the α-fair utility.
    public let alpha: Double
    /// The Gram matrix of the last step's task gradients on the shared parameters.
    public internal(set) var lastGram: [[Double]]?
    /// w of the last step.
    public internal(set) var lastCoefficients: [Float] = []

    /// FairGrad with fairness `alpha` > 0.
    public init(alpha: Double = 1) throws {
        guard alpha.isFinite, alpha > 0 else { throw TandemError.invalidArgument(op: "fairgrad", message: "α must be positive, got \(alpha)") }
        self.alpha = alpha
    }

    /// Accumulates Σ wᵢ·gᵢ (see the type's documentation) into the shared parameters' `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws { try combine(losses: losses, model: model) }

    func coefficients(gram: [[Double]], losses: [Float]) throws -> [Double] { FairGrad.weights(gram: gram, alpha: alpha) }

    /// w > 0 with (G·w)ᵢ = wᵢ^{−1/α} over the tasks with non-zero gradients (0 for the others).
    ///
    /// Solved in the tasks' unit directions: with dᵢ = ‖gᵢ‖, C = D⁻¹GD⁻¹ (the cosines) and β = Dw,
    /// the condition reads Cβ = cᵢβᵢ^{−1/α} with cᵢ = dᵢ^{1/α−1} (cᵢ = 1 for Nash-MTL), so a task's
    /// loss scale enters only through c. C's eigenvalues are raised to at least 10⁻⁶ (above float32's
    /// rounding of a Gram matrix near singular), which keeps the problem strictly convex, lets a
    /// solution exist for linearly dependent gradients, and leaves the scale invariance exact.
    public static func weights(gram: [[Double]], alpha: Double) -> [Double] {
        let t = gram.count
        let largest = (0..<t).map { gram[$0][$0] }.max() ?? 0
        var w = [Double](repeating: 0, count: t)
        guard largest > 0 else { return w }
        let active = (0..<t).filter { gram[$0][$0] > 1e-12 * largest }
        let n = active.count
        let norms = active.map { gram[$0][$0].squareRoot() }
        let cosines = (0..<n).map { i in (0..<n).map { j in gram[active[i]][active[j]] / (norms[i] * norms[j]) } }
        let (values, vectors) = SmallLinearAlgebra.symmetricEigen(cosines)
        let floor = values.map { Swift.max($0, 1e-6) }
        let g = (0..<n).map { i in (0..<n).map { j in (0..<n).reduce(0) { $0 + floor[$1] * vectors[$1][i] * vectors[$1][j] } } }
        let p = 1 / alpha
        let c = norms.map { HostMath.pow($0, p - 1) }
        func h(_ x: Double) -> Double { alpha == 1 ? HostMath.log(x) : HostMath.pow(x, 1 - p) / (1 - p) }
        func objective(_ x: [Double]) -> Double {
            0.5 * SmallLinearAlgebra.dot(x, SmallLinearAlgebra.multiply(g, x)) - (0..<n).reduce(0) { $0 + c[$1] * h(x[$1]) }
        }
        // Exact when the gradients are orthogonal: βᵢ = cᵢβᵢ^{−p}.
        var x = c.map { HostMath.pow($0, 1 / (1 + p)) }
        var f = objective(x)
        for _ in 0..<200 {
            let gx = SmallLinearAlgebra.multiply(g, x)
            let pull = (0..<n).map { c[$0] * HostMath.pow(x[$0], -p) }
            let gradient = (0..<n).map { gx[$0] - pull[$0] }
            // Converged when every condition holds to 1e-10 relative to its terms.
            if (0..<n).allSatisfy({ Swift.abs(gradient[$0]) <= 1e-10 * Swift.max(Swift.abs(gx[$0]), pull[$0]) }) { break }
            let hessian = (0..<n).map { i in (0..<n).map { j in g[i][j] + (i == j ? p * pull[i] / x[i] : 0) } }
            guard let delta = SmallLinearAlgebra.solve(hessian, gradient.map { -$0 }) else { break }
            // Stay inside β > 0, then backtrack until f decreases.
            var step = 1.0
            for i in 0..<n where delta[i] < 0 { step = Swift.min(step, -0.95 * x[i] / delta[i]) }
            var improved = false
            for _ in 0..<60 {
                let candidate = (0..<n).map { x[$0] + step * delta[$0] }
                let fc = objective(candidate)
                if fc.isFinite, fc <= f {
                    x = candidate
                    f = fc
                    improved = true
                    break
                }
                step /= 2
            }
            if !improved { break }
        }
        for (k, i) in active.enumerated() { w[i] = x[k] / norms[k] }
        return w
    }

    /// w of the last step.
    public func currentWeights() throws -> [Float] { lastCoefficients }
}
