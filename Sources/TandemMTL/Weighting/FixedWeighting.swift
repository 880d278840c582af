import TandemCore
import TandemNN

/// Fixed weights: Σ wᵢ·Lᵢ with weights chosen by the user (for example from a grid search), the
/// usual hand-tuned baseline.
public final class FixedWeighting: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "fixed"
    /// The weight of each task, in task order.
    public let weights: [Float]

    /// Weights must be finite and not negative; there must be one per task of the model trained.
    public init(weights: [Float]) throws {
        guard !weights.isEmpty, weights.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw TandemError.invalidArgument(op: "fixed", message: "weights must be finite and non-negative, got \(weights)")
        }
        self.weights = weights
    }

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Accumulates the gradient of this method's combined objective (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        guard weights.count == losses.count else {
            throw TandemError.invalidArgument(op: name, message: "\(weights.count) fixed weights for \(losses.count) tasks")
        }
        try WeightingChecks.weightedSum(losses, weights: weights).backward(releasingGraph: true)
    }

    /// The fixed weights.
    public func currentWeights() throws -> [Float] { weights }
}
