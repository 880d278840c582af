import TandemCore
import TandemNN

/// UPGrad (Quinton and Rey 2024, "Jacobian Descent for Multi-Objective Optimization"): every task
/// gradient is projected onto the dual cone of the task gradients, {x : gⱼᵀx ≥ 0 for all j}, and
/// the projections are averaged, A = (1/T) Σᵢ π(gᵢ). The result conflicts with no task (gⱼᵀA ≥ 0)
/// and equals the mean gradient when nothing conflicts.
///
/// With J the [T, P] matrix of the gradients and G = JJᵀ, the projection of Jᵀu onto the dual cone
/// is Jᵀv with v = argmin_{v ≥ u} vᵀGv (the paper's Proposition on the dual projection), so each
/// π(gᵢ) = Jᵀvᵢ comes from a T-variable box-constrained quadratic programme, solved on the host by
/// projected coordinate descent; the update is Jᵀ·(1/T)Σᵢvᵢ. As in the authors' library, G is
/// scaled to unit mean diagonal and gets a ridge (`regularization`, 10⁻⁴) so the programmes are
/// strictly convex.
public final class UPGrad: LossWeighting, GramCombination {
    /// The name used on the command line and in reports.
    public let name = "upgrad"
    /// The ridge added to the scaled Gram matrix.
    public let regularization: Double
    /// The Gram matrix of the last step's task gradients on the shared parameters.
    public internal(set) var lastGram: [[Double]]?
    /// The coefficient of each task's gradient in the last update.
    public internal(set) var lastCoefficients: [Float] = []

    /// UPGrad with the given ridge (≥ 0).
    public init(regularization: Double = 1e-4) throws {
        guard regularization.isFinite, regularization >= 0 else {
            throw TandemError.invalidArgument(op: "upgrad", message: "the regularization must be ≥ 0, got \(regularization)")
        }
        self.regularization = regularization
    }

    /// Accumulates the averaged projections (see the type's documentation) into the shared parameters' `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws { try combine(losses: losses, model: model) }

    func coefficients(gram: [[Double]], losses: [Float]) throws -> [Double] {
        UPGrad.coefficients(gram: gram, regularization: regularization)
    }

    /// (1/T)Σᵢ vᵢ, vᵢ = argmin_{v ≥ eᵢ} vᵀG̃v with G̃ the scaled, ridged Gram matrix.
    public static func coefficients(gram: [[Double]], regularization: Double) -> [Double] {
        let t = gram.count
        let meanDiagonal = (0..<t).reduce(0) { $0 + Swift.max(gram[$1][$1], 0) } / Double(t)
        guard meanDiagonal > 0 else { return [Double](repeating: 1 / Double(t), count: t) }
        let g = (0..<t).map { i in (0..<t).map { j in gram[i][j] / meanDiagonal + (i == j ? regularization : 0) } }
        var total = [Double](repeating: 0, count: t)
        for i in 0..<t {
            let lower = (0..<t).map { $0 == i ? 1.0 : 0.0 }
            let v = boxMinimum(g, lower: lower)
            for k in 0..<t { total[k] += v[k] / Double(t) }
        }
        return total
    }

    /// argmin_{v ≥ lower} vᵀGv by coordinate descent (each coordinate minimised exactly, then
    /// clipped to its bound) until no coordinate moves by more than 10⁻¹³.
    static func boxMinimum(_ g: [[Double]], lower: [Double]) -> [Double] {
        let t = lower.count
        var v = lower
        for _ in 0..<10_000 {
            var moved = 0.0
            for k in 0..<t where g[k][k] > 0 {
                let gv = (0..<t).reduce(0) { $0 + g[k][$1] * v[$1] }
                let next = Swift.max(lower[k], v[k] - gv / g[k][k])
                moved = Swift.max(moved, Swift.abs(next - v[k]))
                v[k] = next
            }
            if moved <= 1e-13 { break }
        }
        return v
    }

    /// The coefficient of each task's gradient in the last update.
    public func currentWeights() throws -> [Float] { lastCoefficients }
}
