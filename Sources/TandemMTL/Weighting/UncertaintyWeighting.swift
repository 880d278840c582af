import TandemCore
import TandemNN

/// Uncertainty weighting (Kendall, Gal and Cipolla 2018): each task has a learned log-variance sᵢ
/// (starting at 0) and contributes cᵢ·e^{−sᵢ}·Lᵢ + ½·sᵢ, with cᵢ = ½ for tasks with continuous
/// targets (regression, depth, normals: a Gaussian likelihood) and cᵢ = 1 for classification and
/// segmentation (a softmax likelihood). Noisy tasks thus learn a small weight, and ½·sᵢ keeps the
/// weights from collapsing to zero.
public final class UncertaintyWeighting: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "uw"
    /// The log-variances s, shape [T], optimised together with the model.
    public let logVariances: Tensor
    /// cᵢ of each task: ½ for continuous targets, 1 for classes.
    public let scales: [Float]

    /// One log-variance per task of `tasks`, on `device` (the model's device), all starting at 0.
    public init(tasks: [TaskSpec], on device: any Device) throws {
        guard !tasks.isEmpty else { throw TandemError.invalidArgument(op: "uw", message: "no tasks") }
        logVariances = try Tensor.zeros([tasks.count], on: device, requiresGrad: true)
        logVariances.name = "uw.log_variances"
        scales = tasks.map { UncertaintyWeighting.scale(of: $0.kind) }
    }

    /// cᵢ for a task kind: ½ for regression-like tasks, 1 for classification-like ones.
    public static func scale(of kind: TaskKind) -> Float {
        switch kind {
        case .classification, .segmentation: return 1
        case .regression, .depth, .normals: return 0.5
        }
    }

    /// The log-variances, for the optimizer.
    public var parameters: [Tensor] { [logVariances] }

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Accumulates the gradient of this method's combined objective (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        guard losses.count == scales.count, losses[0].device === logVariances.device else {
            throw TandemError.invalidArgument(
                op: name, message: "\(losses.count) losses on \(losses[0].device.info.selector) for \(scales.count) log-variances on \(logVariances.device.info.selector)")
        }
        var total: Tensor?
        for (i, loss) in losses.enumerated() {
            let s = try logVariances.slice(axis: 0, i..<(i + 1)).reshape(loss.shape)
            let term = try s.neg().exp() * loss * scales[i] + s * 0.5
            total = try total.map { try $0 + term } ?? term
        }
        try total?.backward(releasingGraph: true)
    }

    /// cᵢ·e^{−sᵢ} of each task (one download).
    public func currentWeights() throws -> [Float] {
        try zip(logVariances.values(), scales).map { s, c in c * Float(HostMath.exp(Double(-s))) }
    }
}
