import TandemCore
import TandemNN

/// Fixed weights: Σ wᵢ·Lᵢ with weights chosen by the user (for example from a grid search), the
/// usual hand-tuned baseline.
public final class FixedWeighting: LossWeighting {
    /// The name used on the command line and in reports (`fixed`, or `labelled` for weights from
    /// the labelled counts: `labelledShares`).
    public let name: String
    /// The weight of each task, in task order.
    public let weights: [Float]

    /// Weights must be finite and not negative; there must be one per task of the model trained.
    public init(weights: [Float], name: String = "fixed") throws {
        guard !weights.isEmpty, weights.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw TandemError.invalidArgument(op: name, message: "weights must be finite and non-negative, got \(weights)")
        }
        self.weights = weights
        self.name = name
    }

    /// Data-balanced weights for data with missing labels (`--weighting labelled`): wᵢ = T·nᵢ/Σⱼnⱼ
    /// with nᵢ task i's labelled training samples. Each task's loss is a mean over its labelled
    /// samples, so Σᵢ wᵢLᵢ ∝ Σᵢ nᵢLᵢ weighs every label alike (the pooled risk over all labels), where
    /// equal weighting gives a task with few labels as much pull as one with many. Equal counts give
    /// equal weighting. No paper: the multi-task issue's data-balanced weighting, stated here.
    public static func labelledShares(_ counts: [Int]) throws -> FixedWeighting {
        let total = counts.reduce(0, +)
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 0 }), total > 0 else {
            throw TandemError.invalidArgument(op: "labelled", message: "needs every task's count of labelled training samples (≥ 0, not all 0), got \(counts)")
        }
        let t = Double(counts.count)
        return try FixedWeighting(weights: counts.map { Float(t * Double($0) / Double(total)) }, name: "labelled")
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
