import TandemCore
import TandemNN

/// GradVac, Gradient Vaccine (Wang et al. 2021, "Gradient Vaccine: Investigating and Improving
/// Multi-task Optimization in Massively Multilingual Models", ICLR): PCGrad generalised from "no
/// negative cosine" to "no cosine below a target". For each task i, against the other tasks j in a
/// random order, with φᵢⱼ = cos(gᵢ', gⱼ) and the target φ̂ᵢⱼ an exponential moving average of the
/// observed cosines, whenever φᵢⱼ < φ̂ᵢⱼ (the paper's update):
///
///     gᵢ' ← gᵢ' + ‖gᵢ'‖·(φ̂ᵢⱼ·√(1 − φᵢⱼ²) − φᵢⱼ·√(1 − φ̂ᵢⱼ²)) / (‖gⱼ‖·√(1 − φ̂ᵢⱼ²)) · gⱼ,
///
/// which sets the cosine to the target exactly, and then φ̂ᵢⱼ ← (1 − β)·φ̂ᵢⱼ + β·φᵢⱼ. The targets
/// start at 0, so early steps behave like PCGrad. The shared parameters get Σᵢ gᵢ'. As for PCGrad
/// every gᵢ' is tracked as coefficients over the original gradients, from the Gram matrix alone.
/// β = 0.5 is LibMTL's default (the paper tunes it per task).
public final class GradVac: LossWeighting, ProvidesTaskGram {
    /// The name used on the command line and in reports.
    public let name = "gradvac"
    /// β, the weight of the newest cosine in the targets' moving average.
    public let beta: Double
    /// The seed of the projection orders.
    public let seed: UInt64
    /// Steps taken; with `seed` it fixes the next step's order.
    public private(set) var steps = 0
    /// φ̂, the T×T targets (row i: task i's targets against the others); empty before the first step.
    public private(set) var targets: [[Double]] = []
    /// The Gram matrix of the last step's task gradients on the shared parameters.
    public private(set) var lastGram: [[Double]]?
    /// The coefficient of each task's original gradient in the last update.
    public private(set) var lastCoefficients: [Float] = []

    /// GradVac with moving-average weight `beta` ∈ [0, 1] and the projection orders of `seed`.
    public init(beta: Double = 0.5, seed: UInt64 = 0) throws {
        guard beta.isFinite, beta >= 0, beta <= 1 else { throw TandemError.invalidArgument(op: "gradvac", message: "β must be in [0, 1], got \(beta)") }
        self.beta = beta
        self.seed = seed
    }

    /// Accumulates Σᵢ gᵢ' (see the type's documentation) into the shared parameters' `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let gradients = try TaskGradients(losses: losses, parameters: model.sharedParameters, op: name)
        let (gram, _) = try gradients.gram()
        lastGram = gram
        let t = losses.count
        if targets.count != t { targets = [[Double]](repeating: [Double](repeating: 0, count: t), count: t) }
        let orders = WeightingChecks.projectionOrders(taskCount: t, seed: seed, step: steps)
        steps += 1
        let combined: [Double]
        if SmallLinearAlgebra.isFinite(gram) {
            let (rows, updated) = GradVac.vaccinate(gram: gram, targets: targets, orders: orders, beta: beta)
            targets = updated
            combined = (0..<t).map { j in rows.reduce(0) { $0 + $1[j] } }
        } else {
            combined = [Double](repeating: .nan, count: t)
        }
        lastCoefficients = combined.map(Float.init)
        try gradients.accumulate(coefficients: lastCoefficients)
    }

    /// Row i: gᵢ' as coefficients over the original gradients, after the adjustments against the
    /// tasks of `orders[i]`; and the targets after this step's moving-average updates.
    public static func vaccinate(gram: [[Double]], targets: [[Double]], orders: [[Int]], beta: Double) -> (rows: [[Double]], targets: [[Double]]) {
        let t = gram.count
        var targets = targets
        let rows = (0..<t).map { i -> [Double] in
            var c = [Double](repeating: 0, count: t)
            c[i] = 1
            for j in orders[i] where gram[j][j] > 0 {
                let cg = SmallLinearAlgebra.multiply(gram, c)
                let normI = Swift.max(SmallLinearAlgebra.dot(c, cg), 0).squareRoot()
                guard normI > 0 else { break }
                let normJ = gram[j][j].squareRoot()
                let cosine = Swift.min(Swift.max(cg[j] / (normI * normJ), -1), 1)
                let target = targets[i][j]
                if cosine < target {
                    let numerator = normI * (target * (1 - cosine * cosine).squareRoot() - cosine * (1 - target * target).squareRoot())
                    let denominator = normJ * Swift.max((1 - target * target).squareRoot(), 1e-12)
                    c[j] += numerator / denominator
                }
                targets[i][j] = (1 - beta) * target + beta * cosine
            }
            return c
        }
        return (rows, targets)
    }

    /// The coefficient of each task's original gradient in the last update.
    public func currentWeights() throws -> [Float] { lastCoefficients }
}

extension GradVac: StatefulWeighting {
    /// The step count and the targets φ̂ (row by row).
    public func methodState() -> [String: [Float]] {
        ["gradvac.steps": [Float(steps)], "gradvac.targets": targets.flatMap { $0.map(Float.init) }]
    }

    /// Restores `methodState()`; throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        let restoredSteps = try WeightingChecks.stepCount(state, key: "gradvac.steps", method: name)
        guard let flat = state["gradvac.targets"], flat.allSatisfy({ $0.isFinite && $0 >= -1 && $0 <= 1 }) else {
            throw TandemError.invalidArgument(op: name, message: "state needs 'gradvac.targets' (cosines), got \(state.keys.sorted())")
        }
        let t = Int(Double(flat.count).squareRoot())
        guard t * t == flat.count else {
            throw TandemError.invalidArgument(op: name, message: "'gradvac.targets' holds \(flat.count) values, not a square matrix")
        }
        steps = restoredSteps
        targets = (0..<t).map { i in (0..<t).map { Double(flat[i * t + $0]) } }
    }
}
