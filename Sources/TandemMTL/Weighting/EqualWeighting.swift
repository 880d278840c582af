import TandemCore
import TandemNN

/// Equal weighting (EW): the plain sum of the task losses, every weight 1. The baseline every other
/// method is compared against.
public final class EqualWeighting: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "ew"
    private var taskCount = 0

    /// Makes the method; it has no state besides the number of tasks seen last.
    public init() {}

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Accumulates the gradient of this method's combined objective (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        taskCount = losses.count
        try WeightingChecks.weightedSum(losses, weights: [Float](repeating: 1, count: losses.count)).backward(releasingGraph: true)
    }

    /// All ones, one per task of the last step.
    public func currentWeights() throws -> [Float] { [Float](repeating: 1, count: taskCount) }
}
