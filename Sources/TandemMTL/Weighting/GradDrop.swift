import TandemCore
import TandemNN

/// GradDrop, gradient sign dropout (Chen et al. 2020, "Just Pick a Sign: Optimizing Deep Multitask
/// Models with Gradient Sign Dropout", NeurIPS). At each element of the shared representation the
/// tasks' gradients ∇ᵢ vote on a sign by their sign purity (the paper's Eq. 1)
///
///     P = ½·(1 + Σᵢ∇ᵢ / Σᵢ|∇ᵢ|) ∈ [0, 1],
///
/// and with U ~ Uniform(0, 1) drawn per element, only the tasks whose gradient is positive pass where
/// P > U, and only those whose gradient is negative where P < U: the tasks that pass at an element
/// agree on its sign, chosen with the probability of their consensus. As in the paper's treatment of
/// batches (and LibMTL's), ∇ᵢ here is Σ_batch ∇ᵢ⊙sign(A), A the representation's values, so the mask
/// is drawn per feature and shared by the batch's samples, each of which passes its own ∇ᵢ through
/// it. A leak ℓ keeps ℓ of every dropped gradient (0, the paper's default). GradDrop works at the representation, so it needs
/// `--rep-grad` (`rep_grad`); the gradient passed into the shared layers is Σᵢ Mᵢ⊙∇ᵢ.
/// U comes from the device's counter-based stream, seeded by the run's seed and the step.
public final class GradDrop: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "graddrop"
    /// ℓ: the fraction of a dropped gradient that is kept.
    public let leak: Float
    /// The seed of the masks.
    public let seed: UInt64
    /// Steps taken; with `seed` it fixes the next mask.
    public private(set) var steps = 0
    /// The fraction of gradient elements dropped at the last step (read on request).
    private var lastDropped: Tensor?
    private var taskCount = 0

    /// GradDrop with leak ℓ ∈ [0, 1] and masks seeded by `seed`.
    public init(leak: Float = 0, seed: UInt64 = 0) throws {
        guard leak.isFinite, leak >= 0, leak <= 1 else { throw TandemError.invalidArgument(op: "graddrop", message: "the leak must be in [0, 1], got \(leak)") }
        self.leak = leak
        self.seed = seed
    }

    /// The masks Mᵢ [T, 1, d] (1 keep, 0 drop, before the leak) for per-task gradients `g` [T, N, d]
    /// at a representation whose values have signs `signs` [N, d], with uniform draws `u` [d].
    public static func masks(_ g: Tensor, signs: Tensor, uniform u: Tensor) throws -> Tensor {
        let t = g.shape[0], d = u.count
        let summed = try (g * signs.unsqueeze(0)).sum(axes: [1])  // [T, d]
        let purity = try (summed.sum(axes: [0]) / (summed.abs().sum(axes: [0]) + 1e-7) + 1) * 0.5  // [d]
        let positiveWins = try purity.greater(u).reshape([1, d])  // 1 where P > U
        let positive = try summed.greater(0), negative = try summed.neg().greater(0)
        return try (positiveWins * positive + (1 - positiveWins) * negative).reshape([t, 1, d])
    }

    /// Passes Σᵢ Mᵢ⊙∇ᵢ (see the type's documentation) to the representation; task heads get their
    /// own gradients.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        guard let cut = model as? RepresentationCut else {
            throw TandemError.invalidArgument(op: name, message: "GradDrop works on the gradients at the shared representation: train with --rep-grad (rep_grad)")
        }
        let leaf = cut.leaf
        let gradients = try TaskGradients(losses: losses, parameters: [leaf], op: name)
        let t = losses.count, n = leaf.shape.first ?? 1, d = leaf.count / Swift.max(n, 1)
        taskCount = t
        let u = try Tensor.uniform([d], seed: seed &+ UInt64(steps) &* 0x9e37_79b9_7f4a_7c15, on: leaf.device)
        steps += 1
        try Tensor.withoutGradient {
            let g = try gradients.matrix.reshape([t, n, d])
            var mask = try Self.masks(g, signs: leaf.reshape([n, d]).sign(), uniform: u)
            lastDropped = try (1 - mask).sum() * (1 / Float(Swift.max(1, mask.count)))
            if leak > 0 { mask = try mask * (1 - leak) + leak }
            let combined = try (mask * g).sum(axes: [0]).reshape(leaf.shape)
            leaf.grad = try leaf.grad.map { try $0 + combined } ?? combined
        }
    }

    /// 1 for every task (GradDrop does not weigh tasks).
    public func currentWeights() throws -> [Float] { [Float](repeating: 1, count: taskCount) }

    /// The fraction of (task, feature) pairs the last mask dropped (one download).
    public func droppedFraction() throws -> Float? { try lastDropped?.item() }
}

extension GradDrop: StatefulWeighting {
    /// The step count, which with the seed fixes the next mask.
    public func methodState() -> [String: [Float]] { ["graddrop.steps": [Float(steps)]] }

    /// Restores `methodState()`; throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        steps = try WeightingChecks.stepCount(state, key: "graddrop.steps", method: name)
    }
}
