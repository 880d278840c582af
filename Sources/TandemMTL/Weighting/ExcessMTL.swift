import TandemCore
import TandemNN

/// ExcessMTL (He et al. 2024, "Robust Multi-Task Learning with Excess Risks", ICML): weights the
/// tasks by how far each is from its own best loss (its excess risk) rather than by the loss itself,
/// so a task with high but irreducible loss (label noise) does not take over training.
///
/// The excess risk of task i is estimated to second order around its optimum, Eᵢ ≈ gᵢᵀHᵢ⁻¹gᵢ, with
/// the Hessian replaced by AdaGrad's diagonal preconditioner Hᵢ = diag(√(Σₛ gᵢ,ₛ² + 10⁻⁷)), the
/// sums running over every step so far (the paper's Section 4 and Algorithm 1). The weights move by
/// the exponentiated-gradient step of distributionally robust optimisation on the risks relative to
/// the first step's, wᵢ ← wᵢ·exp(η·Eᵢ/Eᵢ⁽⁰⁾), then are scaled to sum to T (η = 0.01, LibMTL's
/// default); the first step keeps wᵢ = 1. A task whose first risk is 0 (no gradient) takes its first
/// non-zero risk as its reference.
///
/// The model gets the gradient of Σᵢ wᵢLᵢ with the step's new weights; task-specific parameters get
/// theirs with the weights in force before the step's update (they differ by the factor exp(η·Eᵢ/Eᵢ⁽⁰⁾)).
/// The [T, P] sums of squares live on the device (a checkpoint carries them); one download per step
/// brings the T risks. With `--rep-grad` the statistics are those of the representation's gradient
/// summed over the batch, as LibMTL takes them.
public final class ExcessMTL: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "excess-mtl"
    /// η, the step of the weights' update.
    public let step: Double
    /// w, summing to T.
    public private(set) var weights: [Double]
    /// Eᵢ⁽⁰⁾, each task's reference risk (0 until its first non-zero risk).
    public private(set) var initialRisks: [Double]
    /// E of the last step.
    public private(set) var lastRisks: [Double] = []
    private var squares = CarriedMatrix(key: "excess-mtl.squares", what: "sums of squared gradients", method: "excess-mtl")

    /// ExcessMTL for `taskCount` tasks with step η ≥ 0.
    public init(taskCount: Int, step: Double = 0.01) throws {
        guard taskCount > 0, step.isFinite, step >= 0 else {
            throw TandemError.invalidArgument(op: "excess-mtl", message: "needs tasks and a step η ≥ 0, got \(taskCount) tasks, η = \(step)")
        }
        self.step = step
        weights = [Double](repeating: 1, count: taskCount)
        initialRisks = [Double](repeating: 0, count: taskCount)
    }

    /// Accumulates Σᵢ wᵢ∇Lᵢ (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let t = losses.count
        guard t == weights.count else {
            throw TandemError.invalidArgument(op: name, message: "\(t) losses for \(weights.count) tasks")
        }
        let device = losses[0].device
        let before = weights
        let gradients = try TaskGradients(losses: losses, parameters: model.sharedParameters,
                                          seeds: try (0..<t).map { try Tensor([Float(before[$0])], shape: losses[$0].shape, on: device) }, op: name)
        // Rows are wᵢgᵢ; the statistics need gᵢ.
        let statistics = try Tensor.withoutGradient { () throws -> Tensor in
            let plain = try gradients.matrix * Tensor(before.map { Float(1 / $0) }, shape: [t, 1], on: device)
            if let cut = model as? RepresentationCut, cut.leaf.shape.count > 1, cut.leaf.shape[0] > 1 {
                let batch = cut.leaf.shape[0]
                return try plain.reshape([t, batch, plain.shape[1] / batch]).sum(axes: [1])
            }
            return plain
        }
        let risks = try Tensor.withoutGradient { () throws -> [Float] in
            let squared = try statistics * statistics
            let sums = try squares.previous(shape: squared.shape, on: device).map { try $0 + squared } ?? squared
            squares.store(sums)
            return try (squared / (sums + 1e-7).sqrt()).sum(axes: [1]).values()
        }
        lastRisks = risks.map(Double.init)
        if lastRisks.allSatisfy({ $0.isFinite && $0 >= 0 }) {
            weights = Self.update(weights: weights, risks: lastRisks, initial: &initialRisks, step: step)
        } else {
            weights = [Double](repeating: .nan, count: t)
        }
        // Σᵢ wᵢgᵢ from rows wᵢ⁽ᵒˡᵈ⁾gᵢ.
        try gradients.accumulate(coefficients: (0..<t).map { Float(weights[$0] / before[$0]) })
        if !weights.allSatisfy(\.isFinite) { weights = before }
    }

    /// One update of the weights (host formula): tasks with a reference risk from an earlier step move
    /// by exp(η·Eᵢ/Eᵢ⁽⁰⁾) (in log space), the rest stay; then the weights are scaled to sum to T. A
    /// task's first non-zero risk becomes its reference.
    public static func update(weights: [Double], risks: [Double], initial: inout [Double], step: Double) -> [Double] {
        let t = weights.count
        var logs = weights.map { HostMath.log($0) }
        for i in 0..<t {
            if initial[i] > 0 {
                logs[i] += step * risks[i] / initial[i]
            } else if risks[i] > 0 {
                initial[i] = risks[i]
            }
        }
        return SmallLinearAlgebra.softmax(logs).map { Double(t) * $0 }
    }

    /// w.
    public func currentWeights() throws -> [Float] { weights.map(Float.init) }
}

extension ExcessMTL: StatefulWeighting {
    /// The weights, the reference risks and the sums of squared gradients (one download).
    public func methodState() -> [String: [Float]] {
        var state: [String: [Float]] = ["excess-mtl.weights": weights.map(Float.init), "excess-mtl.initial_risks": initialRisks.map(Float.init)]
        if let values = squares.hostValues { state[squares.key] = values }
        return state
    }

    /// Restores `methodState()`; the sums' shape is checked at the next step. Throws, changing
    /// nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        let t = weights.count
        guard let w = state["excess-mtl.weights"], w.count == t, w.allSatisfy({ $0.isFinite && $0 > 0 }),
              let initial = state["excess-mtl.initial_risks"], initial.count == t, initial.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw TandemError.invalidArgument(
                op: name, message: "state needs 'excess-mtl.weights' (\(t) positive numbers) and 'excess-mtl.initial_risks' (\(t) numbers ≥ 0), got \(state.keys.sorted())")
        }
        let restored = try squares.validated(state)
        weights = w.map(Double.init)
        initialRisks = initial.map(Double.init)
        squares.restore(restored)
    }
}
