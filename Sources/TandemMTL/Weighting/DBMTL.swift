import TandemCore
import TandemNN

/// DB-MTL, dual-balancing multi-task learning (Lin et al. 2023, "Dual-Balancing for Multi-Task
/// Learning"): balances the losses' scales and the gradients' magnitudes at once.
///
/// - Loss scales: every task trains on log(Lᵢ + ε) (ε = 10⁻⁸), whose gradient ∇Lᵢ/Lᵢ does not
///   depend on the loss's units.
/// - Gradient magnitudes: each task's gradient of the shared parameters is smoothed by an
///   exponential moving average, ĝᵢ ← gᵢ + β_t(ĝᵢ − gᵢ) with β_t = β/t^σ (β = 0.9, σ = 0, LibMTL's
///   defaults), and the update is Σᵢ (maxⱼ‖ĝⱼ‖/‖ĝᵢ‖)·ĝᵢ: every task's smoothed gradient scaled to
///   the largest norm.
///
/// The [T, P] averages live on the device (a checkpoint carries them); one download per step brings
/// their Gram matrix. Task-specific parameters get their own task's log-loss gradient.
public final class DBMTL: LossWeighting, ProvidesTaskGram {
    /// The name used on the command line and in reports.
    public let name = "db-mtl"
    /// β of the moving average.
    public let beta: Double
    /// σ: β_t = β/t^σ.
    public let betaDecay: Double
    /// Steps taken.
    public private(set) var steps = 0
    /// ĝ, [T, P], or nil before the first step.
    public var averages: Tensor? { carried.current }
    private var carried = CarriedMatrix(key: "db-mtl.averages", what: "moving averages", method: "db-mtl")
    /// The Gram matrix of the last step's averages ĝ.
    public private(set) var lastGram: [[Double]]?
    /// maxⱼ‖ĝⱼ‖/‖ĝᵢ‖ of the last step.
    public private(set) var lastCoefficients: [Float] = []

    /// DB-MTL with the moving average's β ∈ [0, 1) and decay σ ≥ 0.
    public init(beta: Double = 0.9, betaDecay: Double = 0) throws {
        guard beta.isFinite, beta >= 0, beta < 1, betaDecay.isFinite, betaDecay >= 0 else {
            throw TandemError.invalidArgument(op: "db-mtl", message: "needs β in [0, 1) and σ ≥ 0, got β = \(beta), σ = \(betaDecay)")
        }
        self.beta = beta
        self.betaDecay = betaDecay
    }

    /// Accumulates Σᵢ αᵢĝᵢ (see the type's documentation) into the shared parameters' `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let logs = try losses.map { try ($0.clamp(min: 0) + 1e-8).log() }
        let gradients = try TaskGradients(losses: logs, parameters: model.sharedParameters, op: name)
        let previous = try carried.previous(shape: gradients.matrix.shape, on: gradients.matrix.device)
        steps += 1
        let factor = Float(beta / HostMath.pow(Double(steps), betaDecay))
        let updated = try Tensor.withoutGradient { () throws -> Tensor in
            guard let previous else { return try gradients.matrix * (1 - factor) }
            return try gradients.matrix + (previous - gradients.matrix) * factor
        }
        carried.store(updated)
        let smoothed = try TaskGradients(parameters: gradients.parameters, matrix: updated)
        let (gram, _) = try smoothed.gram()
        lastGram = gram
        let norms = (0..<gram.count).map { Swift.max(gram[$0][$0], 0).squareRoot() }
        let largest = norms.max() ?? 0
        let alpha = SmallLinearAlgebra.isFinite(gram) ? norms.map { largest / ($0 + 1e-8) } : norms.map { _ in Double.nan }
        lastCoefficients = alpha.map(Float.init)
        try smoothed.accumulate(coefficients: lastCoefficients)
    }

    /// maxⱼ‖ĝⱼ‖/‖ĝᵢ‖ of the last step.
    public func currentWeights() throws -> [Float] { lastCoefficients }
}

extension DBMTL: StatefulWeighting {
    /// The step count and the moving averages ĝ (row by row; one download).
    public func methodState() -> [String: [Float]] {
        var state: [String: [Float]] = ["db-mtl.steps": [Float(steps)]]
        if let values = carried.hostValues { state[carried.key] = values }
        return state
    }

    /// Restores `methodState()`; the averages' shape is checked at the next step against the
    /// model's gradients. Throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        let restoredSteps = try WeightingChecks.stepCount(state, key: "db-mtl.steps", method: name)
        let restored = try carried.validated(state)
        steps = restoredSteps
        carried.restore(restored)
    }
}
