import TandemCore
import TandemNN

/// Minimax multi-task learning (Mehta, Lee and Gray 2012, "Minimax Multi-Task Learning and a
/// Generalized Loss-Compositional Paradigm for MTL", NeurIPS): instead of the mean of the tasks'
/// empirical risks, minimise the largest,
///
///     min_θ maxᵢ Lᵢ(θ),
///
/// so that no task is left behind (the paper's minimax MTL; its subgradient trains only the task
/// whose loss is largest, split evenly on ties). With a temperature τ > 0 the maximum is smoothed
/// into the log-sum-exp
///
///     τ · log Σᵢ exp(Lᵢ / τ)      (≥ maxᵢ Lᵢ, within τ·log T of it),
///
/// whose gradient weights task i by softmaxᵢ(L/τ): every task trains, the worse ones more; τ → 0
/// gives minimax, τ → ∞ the mean. Both objectives are multiplied by T, so that the weights sum to T
/// as equal weighting's do and a learning rate means the same step size.
///
/// Losses are compared as they are: give tasks losses of comparable scale (or use `stch`, which
/// compares each loss with its own reference). Computed on the device; nothing is read back.
public final class Minimax: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "minimax"
    /// τ ≥ 0: 0 for the hard maximum.
    public let temperature: Double
    private var lastLosses: [Tensor] = []

    /// Minimax (τ = 0) or its smooth version (τ > 0).
    public init(temperature: Double = 0) throws {
        guard temperature.isFinite, temperature >= 0 else {
            throw TandemError.invalidArgument(op: "minimax", message: "needs a temperature τ ≥ 0, got \(temperature)")
        }
        self.temperature = temperature
    }

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Accumulates the gradient of T·maxᵢ Lᵢ (τ = 0) or T·τ·log Σᵢ exp(Lᵢ/τ) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        lastLosses = losses.map { $0.detach() }
        let stacked = try Tensor.concat(losses.map { try $0.reshape([1]) }, axis: 0)
        let t = Float(losses.count)
        let objective: Tensor
        if temperature == 0 {
            objective = try stacked.max(axis: 0) * t
        } else {
            // s = L/τ; the objective is T·τ·LSE(s).
            let s = try stacked * Float(1 / temperature)
            objective = try WeightingChecks.countTimesLogSumExp(s) * Float(temperature)
        }
        try objective.backward(releasingGraph: true)
    }

    /// The weights of the last step's gradient (one download): T on the largest loss (shared on
    /// ties), or T·softmax(L/τ).
    public func currentWeights() throws -> [Float] {
        guard !lastLosses.isEmpty else { return [] }
        let values = try Tensor.concat(lastLosses.map { try $0.reshape([1]) }, axis: 0).values().map(Double.init)
        return Self.weights(losses: values, temperature: temperature).map(Float.init)
    }

    /// ∂objective/∂Lᵢ at `losses` (host formula of the step's weights).
    public static func weights(losses: [Double], temperature: Double) -> [Double] {
        let t = Double(losses.count)
        guard temperature > 0 else {
            let largest = losses.max() ?? 0
            let ties = Double(losses.filter { $0 == largest }.count)
            return losses.map { $0 == largest ? t / ties : 0 }
        }
        return SmallLinearAlgebra.softmax(losses.map { $0 / temperature }).map { t * $0 }
    }
}
