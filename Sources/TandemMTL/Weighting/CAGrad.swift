import TandemCore
import TandemNN

/// CAGrad (Liu et al. 2021, "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS):
/// the update d maximises the worst task's local improvement minᵢ gᵢᵀd within a ball around the
/// average gradient g₀ = (1/T)Σ gᵢ, ‖d − g₀‖ ≤ c‖g₀‖ (Eq. 2), so it converges to a minimum of the
/// average loss (for c < 1) while no task is sacrificed along the way.
///
/// The dual (Eq. 3): w ∈ Δ minimises F(w) = g_wᵀg₀ + c‖g₀‖·‖g_w‖ with g_w = Σ wᵢgᵢ, and then
/// d = g₀ + (c‖g₀‖/‖g_w‖)·g_w. Every term is a quadratic form in the Gram matrix, so w comes from
/// projected gradient descent on the simplex on the host; d = Σ cᵢgᵢ is combined on the device.
/// As in the paper's code, d is divided by 1 + c² (`rescale` 1; 2 divides by 1 + c, 0 keeps d).
/// c = 0.4 is the paper's setting for NYUv2 and Cityscapes.
public final class CAGrad: LossWeighting, GramCombination {
    /// The name used on the command line and in reports.
    public let name = "cagrad"
    /// c, the radius of the ball around g₀ relative to ‖g₀‖.
    public let c: Double
    /// 0: d as is; 1: d/(1 + c²); 2: d/(1 + c).
    public let rescale: Int
    /// The Gram matrix of the last step's task gradients on the shared parameters.
    public internal(set) var lastGram: [[Double]]?
    /// The coefficient of each task's gradient in the last update.
    public internal(set) var lastCoefficients: [Float] = []

    /// CAGrad with radius `c` (≥ 0) and the paper code's `rescale` (0, 1 or 2).
    public init(c: Double = 0.4, rescale: Int = 1) throws {
        guard c.isFinite, c >= 0, (0...2).contains(rescale) else {
            throw TandemError.invalidArgument(op: "cagrad", message: "needs c ≥ 0 and rescale 0, 1 or 2, got c = \(c), rescale = \(rescale)")
        }
        self.c = c
        self.rescale = rescale
    }

    /// Accumulates Σ cᵢ·gᵢ (see the type's documentation) into the shared parameters' `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws { try combine(losses: losses, model: model) }

    func coefficients(gram: [[Double]], losses: [Float]) throws -> [Double] {
        CAGrad.coefficients(gram: gram, c: c, rescale: rescale)
    }

    /// The coefficients of d = Σ cᵢ·gᵢ for task gradients with Gram matrix `gram`.
    public static func coefficients(gram: [[Double]], c: Double, rescale: Int) -> [Double] {
        let t = gram.count
        let mean = [Double](repeating: 1 / Double(t), count: t)
        let scale = rescale == 1 ? 1 + c * c : rescale == 2 ? 1 + c : 1
        let g0g0 = SmallLinearAlgebra.dot(mean, SmallLinearAlgebra.multiply(gram, mean))
        guard g0g0 > 0, c > 0 else { return mean.map { $0 / scale } }
        let radius = c * g0g0.squareRoot()
        let w = dualWeights(gram: gram, radius: radius)
        let gwNorm = Swift.max(SmallLinearAlgebra.dot(w, SmallLinearAlgebra.multiply(gram, w)), 0).squareRoot()
        let lambda = gwNorm > 1e-12 * g0g0.squareRoot() ? radius / gwNorm : 0
        return (0..<t).map { (mean[$0] + lambda * w[$0]) / scale }
    }

    /// w ∈ Δ minimising F(w) = wᵀG·(1/T) + radius·√(wᵀGw), by projected gradient descent with a
    /// backtracking (Armijo) step from the uniform w.
    static func dualWeights(gram: [[Double]], radius: Double) -> [Double] {
        let t = gram.count
        let mean = [Double](repeating: 1 / Double(t), count: t)
        let gMean = SmallLinearAlgebra.multiply(gram, mean)
        func value(_ w: [Double]) -> Double {
            SmallLinearAlgebra.dot(w, gMean) + radius * Swift.max(SmallLinearAlgebra.dot(w, SmallLinearAlgebra.multiply(gram, w)), 0).squareRoot()
        }
        func gradient(_ w: [Double]) -> [Double] {
            let gw = SmallLinearAlgebra.multiply(gram, w)
            let norm = Swift.max(SmallLinearAlgebra.dot(w, gw), 1e-300).squareRoot()
            return (0..<t).map { gMean[$0] + radius * gw[$0] / norm }
        }
        let trace = (0..<t).reduce(0) { $0 + Swift.max(gram[$1][$1], 0) }
        var w = mean
        var f = value(w)
        var step = 1 / Swift.max(trace + radius * trace.squareRoot(), 1e-300)
        for _ in 0..<2_000 {
            let g = gradient(w)
            var accepted = false
            for _ in 0..<60 {
                let candidate = SmallLinearAlgebra.projectToSimplex((0..<t).map { w[$0] - step * g[$0] })
                // gᵀ(w − P(w − s·g)) ≥ ‖w − P(w − s·g)‖²/s: zero (up to rounding) only where w is stationary.
                let decrease = SmallLinearAlgebra.dot(g, (0..<t).map { w[$0] - candidate[$0] })
                if decrease <= 0 { return w }
                let fc = value(candidate)
                if fc <= f - 0.5 * decrease {
                    let moved = (0..<t).reduce(0) { Swift.max($0, Swift.abs(candidate[$1] - w[$1])) }
                    w = candidate
                    f = fc
                    accepted = moved > 1e-13
                    break
                }
                step /= 2
            }
            if !accepted { break }
            step *= 2
        }
        return w
    }

    /// The coefficient of each task's gradient in the last update.
    public func currentWeights() throws -> [Float] { lastCoefficients }
}
