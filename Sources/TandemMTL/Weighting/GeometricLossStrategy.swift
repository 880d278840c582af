import TandemCore
import TandemNN

/// GLS, the geometric loss strategy (Chennupati et al. 2019, "MultiNet++: Multi-Stream Feature
/// Aggregation and Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops): the objective
/// is the geometric mean of the task losses, L = (Πᵢ Lᵢ)^{1/T}. Its gradient weights each task by
/// ∂L/∂Lᵢ = L/(T·Lᵢ), so a task's weight falls as its loss grows and multiplying one task's loss by
/// k only scales the whole objective by k^{1/T}: the balance between tasks does not depend on the
/// losses' units.
///
/// Computed on the device as exp((1/T)Σ log Lᵢ) (losses below 10⁻²⁰ are held at 10⁻²⁰ so a
/// perfectly fitted task does not give log 0); nothing is read back during the step.
public final class GeometricLossStrategy: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "gls"
    private var lastLosses: [Tensor] = []

    public init() {}

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Accumulates the gradient of (Πᵢ Lᵢ)^{1/T} into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let t = Float(losses.count)
        var sum = try losses[0].clamp(min: 1e-20).log()
        for loss in losses.dropFirst() { sum = try sum + loss.clamp(min: 1e-20).log() }
        let total = try (sum * (1 / t)).exp()
        try total.backward(releasingGraph: true)
        lastLosses = losses.map { $0.detach() }
    }

    /// L/(T·Lᵢ) at the last step's losses (one download).
    public func currentWeights() throws -> [Float] {
        guard !lastLosses.isEmpty else { return [] }
        let values = try Tensor.concat(lastLosses.map { try $0.reshape([1]) }, axis: 0).values().map { Swift.max(Double($0), 1e-20) }
        let t = Double(values.count)
        let geometric = HostMath.exp(values.reduce(0) { $0 + HostMath.log($1) } / t)
        return values.map { Float(geometric / (t * $0)) }
    }
}
