import TandemCore
import TandemNN

/// PCGrad (Yu et al. 2020, "Gradient surgery"): for each task, in a random order, the components of
/// its gradient that conflict with another task's gradient are projected away:
/// gᵢ ← gᵢ − (⟨gᵢ, gⱼ⟩/‖gⱼ‖²)·gⱼ whenever ⟨gᵢ, gⱼ⟩ < 0, against the other tasks' original gradients
/// gⱼ. The shared parameters get Σᵢ gᵢ(projected); task-specific parameters get their own task's
/// gradient, untouched.
///
/// Every projected gradient stays a linear combination of the original ones, so the projections
/// are tracked as coefficients over them, computed on the host from the Gram matrix alone; the
/// per-task gradients stay on the device and are combined there with one [T]·[T, P] product.
///
/// Guarantees: with two tasks no pair of projected gradients conflicts (⟨g₁', g₂'⟩ ≥ 0). With more,
/// each projected gradient does not conflict with the last gradient it was checked against, a
/// gradient that conflicts with no other is left unchanged, and without any conflict PCGrad is EW.
public final class PCGrad: LossWeighting, ProvidesTaskGram {
    /// The name used on the command line and in reports.
    public let name = "pcgrad"
    /// The Gram matrix of the last step's per-task gradients on the shared parameters.
    public private(set) var lastGram: [[Double]]?
    /// The coefficient of each task's original gradient in the last combined shared gradient.
    public private(set) var lastCoefficients: [Float] = []
    /// The seed of the projection orders.
    public let seed: UInt64
    /// Steps taken; with `seed` it fixes the next step's order (and is all a checkpoint needs).
    public private(set) var steps = 0

    /// `seed` fixes the random projection orders (the same seed gives the same run).
    public init(seed: UInt64 = 0) { self.seed = seed }

    /// Accumulates the gradient of this method's combined objective (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let gradients = try TaskGradients(losses: losses, parameters: model.sharedParameters, op: name)
        let (gram, _) = try gradients.gram()
        lastGram = gram
        let t = losses.count
        let orders = WeightingChecks.projectionOrders(taskCount: t, seed: seed, step: steps)
        steps += 1
        let rows = PCGrad.projectionCoefficients(gram: gram, orders: orders)
        let combined = (0..<t).map { j in rows.reduce(0) { $0 + $1[j] } }
        lastCoefficients = combined.map(Float.init)
        try gradients.accumulate(coefficients: lastCoefficients)
    }

    /// Row i: the projected gᵢ as coefficients over the original gradients, after projecting it in
    /// turn against the tasks of `orders[i]` (a permutation of the other tasks).
    public static func projectionCoefficients(gram: [[Double]], orders: [[Int]]) -> [[Double]] {
        let t = gram.count
        return (0..<t).map { i in
            var c = [Double](repeating: 0, count: t)
            c[i] = 1
            for j in orders[i] where gram[j][j] > 0 {
                let dot = (0..<t).reduce(0) { $0 + c[$1] * gram[$1][j] }
                if dot < 0 { c[j] -= dot / gram[j][j] }
            }
            return c
        }
    }

    /// The coefficient of each task's original gradient in the last combined shared gradient.
    public func currentWeights() throws -> [Float] { lastCoefficients }
}

extension PCGrad: StatefulWeighting {
    /// The host-side state a checkpoint must carry (see `StatefulWeighting`).
    public func methodState() -> [String: [Float]] { ["pcgrad.steps": [Float(steps)]] }

    /// Restores `methodState()`; throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        steps = try WeightingChecks.stepCount(state, key: "pcgrad.steps", method: name)
    }
}
