import TandemCore
import TandemNN

/// RLW, random loss weighting (Lin et al. 2022, "Reasonable Effectiveness of Random Weighting: A
/// Litmus Test for Multi-Task Learning", TMLR): each step draws λ = softmax(z) with z ~ N(0, I_T)
/// (the paper's normal-distribution variant) and minimises Σ λᵢLᵢ. The paper's claim is that this
/// is as good as most elaborate weightings, and that its expected update is the mean of the task
/// gradients (E[λᵢ] = 1/T): a baseline every method must beat.
///
/// z comes from the run's seed and the step count (Box–Muller on SplitMix64), so a resumed run
/// draws the same weights as an uninterrupted one.
public final class RandomLossWeighting: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "rlw"
    /// The seed of the draws.
    public let seed: UInt64
    /// Steps taken; with `seed` it fixes the next draw.
    public private(set) var steps = 0
    /// λ of the last step.
    public private(set) var lastWeights: [Float] = []

    /// `seed` fixes the draws (the same seed gives the same run).
    public init(seed: UInt64 = 0) { self.seed = seed }

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Accumulates the gradient of Σ λᵢLᵢ, with fresh random λ, into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let weights = RandomLossWeighting.weights(count: losses.count, seed: seed, step: steps)
        steps += 1
        lastWeights = weights
        try WeightingChecks.weightedSum(losses, weights: weights).backward(releasingGraph: true)
    }

    /// softmax(z), z ~ N(0, I) drawn for `step` of a run seeded with `seed`.
    public static func weights(count: Int, seed: UInt64, step: Int) -> [Float] {
        var random = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: step) &+ 1) &* 0xbf58_476d_1ce4_e5b9)
        func uniform() -> Double { (Double(random.next() >> 11) + 0.5) * 0x1p-53 }
        let z = (0..<count).map { _ in (-2 * HostMath.log(uniform())).squareRoot() * HostMath.cos(2 * Double.pi * uniform()) }
        return SmallLinearAlgebra.softmax(z).map(Float.init)
    }

    /// λ of the last step.
    public func currentWeights() throws -> [Float] { lastWeights }
}

extension RandomLossWeighting: StatefulWeighting {
    /// The host-side state a checkpoint must carry (see `StatefulWeighting`).
    public func methodState() -> [String: [Float]] { ["rlw.steps": [Float(steps)]] }

    /// Restores `methodState()`; throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        steps = try WeightingChecks.stepCount(state, key: "rlw.steps", method: name)
    }
}
