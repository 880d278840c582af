import TandemCore
import TandemNN

/// STCH, smooth Tchebycheff scalarisation (Lin et al. 2024, "Smooth Tchebycheff Scalarization for
/// Multi-Objective Optimization", ICML): the Tchebycheff scalarisation maxᵢ λᵢ(fᵢ − zᵢ*) optimises
/// the worst objective but is not smooth; its smooth version (the paper's Eq. 5)
///
///     g_μ(x | λ) = μ · log Σᵢ exp(λᵢ(fᵢ(x) − zᵢ*) / μ)
///
/// approaches it as μ → 0 and keeps every Pareto-stationary point reachable. For multi-task
/// learning (the paper's Section 6 and its code, as LibMTL runs it) the objectives are the
/// normalised log-losses fᵢ = log(Lᵢ/zᵢ), λᵢ = 1 and z* = 0, with zᵢ (the nadir point) the task's
/// mean training loss over one epoch after a warm-up:
///
/// - epochs 0 … W−1 (W = `warmup`, 4 by default) and epoch W train on Σᵢ log Lᵢ;
/// - the mean losses of epoch W become z;
/// - from epoch W + 1 on, the objective is T·μ·log Σᵢ exp(log(Lᵢ/zᵢ)/μ) (μ = 1 by default), whose
///   gradient weights task i by T·softmaxᵢ(log(L/z)/μ)/Lᵢ: the task furthest above its nadir loss
///   dominates, the more so the smaller μ.
///
/// Computed on the device (log-sum-exp through a log-softmax, stable for any μ); nothing is read back
/// during a step. Losses below 10⁻²⁰ are held at 10⁻²⁰ before their logarithm.
public final class STCH: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "stch"
    /// μ, the smoothing.
    public let mu: Double
    /// W, the warm-up epochs before the nadir epoch.
    public let warmup: Int
    /// Epochs finished so far.
    public private(set) var epochs = 0
    /// z, the nadir point, once recorded.
    public private(set) var nadir: [Float]?
    private var lastLosses: [Tensor] = []

    /// STCH with smoothing μ > 0 and W ≥ 0 warm-up epochs.
    public init(mu: Double = 1, warmup: Int = 4) throws {
        guard mu.isFinite, mu > 0, warmup >= 0 else {
            throw TandemError.invalidArgument(op: "stch", message: "needs μ > 0 and warm-up epochs ≥ 0, got μ = \(mu), \(warmup)")
        }
        self.mu = mu
        self.warmup = warmup
    }

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Accumulates the gradient of Σᵢ log Lᵢ (before the nadir point is known) or of the smooth
    /// Tchebycheff objective into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        if let nadir, nadir.count != losses.count {
            throw TandemError.invalidArgument(op: name, message: "\(losses.count) losses, but the nadir point has \(nadir.count) tasks")
        }
        lastLosses = losses.map { $0.detach() }
        let logs = try losses.map { try $0.clamp(min: 1e-20).log().reshape([1]) }
        let objective: Tensor
        if let nadir {
            // s_i = (log L_i − log z_i)/μ; the objective is T·μ·LSE(s).
            let offsets = nadir.map { -Float(HostMath.log(Double(Swift.max($0, 1e-20)))) }
            let device = losses[0].device
            let s = try (Tensor.concat(logs, axis: 0) + Tensor(offsets, shape: [offsets.count], on: device)) * Float(1 / mu)
            objective = try WeightingChecks.countTimesLogSumExp(s) * Float(mu)
        } else {
            objective = try Tensor.concat(logs, axis: 0).sum()
        }
        try objective.backward(releasingGraph: true)
    }

    /// Counts epochs; the mean losses of epoch W become the nadir point.
    public func endEpoch(meanLosses: [Float]) throws {
        if nadir == nil, epochs == warmup {
            guard !meanLosses.isEmpty, meanLosses.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw TandemError.invalidArgument(op: name, message: "the nadir epoch's mean losses must be finite and ≥ 0, got \(meanLosses)")
            }
            nadir = meanLosses
        }
        epochs += 1
    }

    /// The weights of the last step's gradient: 1/Lᵢ before the nadir point, then
    /// T·softmaxᵢ(log(L/z)/μ)/Lᵢ (one download).
    public func currentWeights() throws -> [Float] {
        guard !lastLosses.isEmpty else { return [] }
        let values = try Tensor.concat(lastLosses.map { try $0.reshape([1]) }, axis: 0).values().map { Swift.max(Double($0), 1e-20) }
        return Self.weights(losses: values, nadir: nadir?.map(Double.init), mu: mu).map(Float.init)
    }

    /// ∂objective/∂Lᵢ at `losses` (host formula of the step's weights).
    public static func weights(losses: [Double], nadir: [Double]?, mu: Double) -> [Double] {
        guard let nadir else { return losses.map { 1 / $0 } }
        let p = SmallLinearAlgebra.softmax((0..<losses.count).map { HostMath.log(losses[$0] / Swift.max(nadir[$0], 1e-20)) / mu })
        let t = Double(losses.count)
        return (0..<losses.count).map { t * p[$0] / losses[$0] }
    }
}

extension STCH: StatefulWeighting {
    /// The epoch count and the nadir point, once recorded.
    public func methodState() -> [String: [Float]] {
        var state: [String: [Float]] = ["stch.epochs": [Float(epochs)]]
        if let nadir { state["stch.nadir"] = nadir }
        return state
    }

    /// Restores `methodState()`; throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        let restoredEpochs = try WeightingChecks.stepCount(state, key: "stch.epochs", method: name)
        let restoredNadir = state["stch.nadir"]
        if let restoredNadir, restoredNadir.isEmpty || !restoredNadir.allSatisfy({ $0.isFinite && $0 >= 0 }) {
            throw TandemError.invalidArgument(op: name, message: "'stch.nadir' must hold finite losses ≥ 0")
        }
        guard (restoredNadir != nil) == (restoredEpochs > warmup) else {
            throw TandemError.invalidArgument(
                op: name, message: "after \(restoredEpochs) epochs with \(warmup) warm-up epochs the state must \(restoredEpochs > warmup ? "" : "not ")hold 'stch.nadir'")
        }
        epochs = restoredEpochs
        nadir = restoredNadir
    }
}
