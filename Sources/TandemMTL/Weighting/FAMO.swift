import TandemCore
import TandemNN

/// FAMO, Fast Adaptive Multitask Optimization (Liu et al. 2023, NeurIPS): decreases the task losses
/// at balanced rates with one backward pass per step (O(1) in the number of tasks, unlike the
/// gradient methods). Task logits ξ (starting at 0) give weights z = softmax(ξ); the model gets the
/// gradient of Σᵢ (zᵢ/c)·log(Lᵢ + ε) with c = Σⱼ zⱼ/(Lⱼ + ε) held constant, that is Σᵢ wᵢ∇Lᵢ with
/// wᵢ = zᵢ/(c·(Lᵢ + ε)); then ξ descends, with Adam and
/// weight decay γ, along the softmax's Jacobian times δ, δᵢ = log(Lᵢ(prev) + ε) − log(Lᵢ(now) + ε),
/// the decrease of each log-loss: a task whose loss fell faster loses weight.
///
/// As in LibMTL, δ compares the losses of consecutive steps (the paper's code evaluates the batch a
/// second time after the update). The logits' optimizer runs on the host on T numbers; one download
/// of the T losses per step. Defaults are the paper's code's: logit learning rate 0.025, γ = 0.01;
/// its experiments also clip the update norm to 1 (`--grad-clip 1`).
public final class FAMO: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "famo"
    /// The logits' learning rate (Adam).
    public let learningRate: Double
    /// The logits' weight decay γ.
    public let weightDecay: Double
    /// ε added to every loss before its logarithm.
    public static let epsilon = 1e-8
    /// ξ, the task logits.
    public private(set) var logits: [Double]
    private var firstMoment: [Double]
    private var secondMoment: [Double]
    private var adamSteps = 0
    private var previousLosses: [Double]?
    /// w of the last step.
    public private(set) var lastWeights: [Float] = []

    /// FAMO for `taskCount` tasks with the logits' learning rate and weight decay.
    public init(taskCount: Int, learningRate: Double = 0.025, weightDecay: Double = 0.01) throws {
        guard taskCount > 0, learningRate.isFinite, learningRate > 0, weightDecay.isFinite, weightDecay >= 0 else {
            throw TandemError.invalidArgument(op: "famo", message: "needs tasks, a positive learning rate and a weight decay ≥ 0, got \(taskCount), \(learningRate), \(weightDecay)")
        }
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        logits = [Double](repeating: 0, count: taskCount)
        firstMoment = logits
        secondMoment = logits
    }

    /// z = softmax(ξ).
    public var taskWeights: [Double] { SmallLinearAlgebra.softmax(logits) }

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Updates ξ from the losses' change since the last step, then accumulates Σᵢ wᵢ∇Lᵢ.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        guard losses.count == logits.count else {
            throw TandemError.invalidArgument(op: name, message: "\(losses.count) losses for \(logits.count) tasks")
        }
        let values = try Tensor.concat(losses.map { try $0.detach().reshape([1]) }, axis: 0).values().map(Double.init)
        let finite = values.allSatisfy { $0.isFinite && $0 >= 0 }
        if finite, let previous = previousLosses {
            let delta = (0..<values.count).map { HostMath.log(previous[$0] + Self.epsilon) - HostMath.log(values[$0] + Self.epsilon) }
            updateLogits(decrease: delta)
        }
        let z = taskWeights
        let c = (0..<z.count).reduce(0) { $0 + z[$1] / (Swift.max(values[$1], 0) + Self.epsilon) }
        let weights = finite ? (0..<z.count).map { Float(z[$0] / (c * (values[$0] + Self.epsilon))) } : [Float](repeating: .nan, count: z.count)
        if finite { previousLosses = values }
        lastWeights = weights
        try WeightingChecks.weightedSum(losses, weights: weights).backward(releasingGraph: true)
    }

    /// One Adam step on ξ along Jᵀδ, J the softmax's Jacobian (∂/∂ξₖ = zₖ(δₖ − zᵀδ)), with the weight
    /// decay added to the gradient as torch's Adam adds it.
    func updateLogits(decrease delta: [Double]) {
        let z = taskWeights
        let mean = zip(z, delta).reduce(0) { $0 + $1.0 * $1.1 }
        adamSteps += 1
        let beta1 = 0.9, beta2 = 0.999
        let correction1 = 1 - HostMath.pow(beta1, Double(adamSteps)), correction2 = 1 - HostMath.pow(beta2, Double(adamSteps))
        for k in logits.indices {
            let gradient = z[k] * (delta[k] - mean) + weightDecay * logits[k]
            firstMoment[k] = beta1 * firstMoment[k] + (1 - beta1) * gradient
            secondMoment[k] = beta2 * secondMoment[k] + (1 - beta2) * gradient * gradient
            logits[k] -= learningRate * (firstMoment[k] / correction1) / ((secondMoment[k] / correction2).squareRoot() + 1e-8)
        }
    }

    /// w of the last step.
    public func currentWeights() throws -> [Float] { lastWeights }
}

extension FAMO: StatefulWeighting {
    /// ξ, Adam's moments and step count, and the last step's losses.
    public func methodState() -> [String: [Float]] {
        var state: [String: [Float]] = [
            "famo.logits": logits.map(Float.init), "famo.first_moment": firstMoment.map(Float.init),
            "famo.second_moment": secondMoment.map(Float.init), "famo.adam_steps": [Float(adamSteps)],
        ]
        if let previousLosses { state["famo.previous_losses"] = previousLosses.map(Float.init) }
        return state
    }

    /// Restores `methodState()`; throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        let t = logits.count
        func vector(_ key: String) throws -> [Double] {
            guard let v = state[key], v.count == t, v.allSatisfy(\.isFinite) else {
                throw TandemError.invalidArgument(op: name, message: "state needs '\(key)' (\(t) finite numbers), got \(state.keys.sorted())")
            }
            return v.map(Double.init)
        }
        let newLogits = try vector("famo.logits"), first = try vector("famo.first_moment"), second = try vector("famo.second_moment")
        guard let steps = state["famo.adam_steps"], steps.count == 1, steps[0] >= 0, steps[0] == steps[0].rounded(), second.allSatisfy({ $0 >= 0 }) else {
            throw TandemError.invalidArgument(op: name, message: "state needs 'famo.adam_steps' (a whole number) and non-negative second moments")
        }
        let previous = state["famo.previous_losses"] == nil ? nil : try vector("famo.previous_losses")
        logits = newLogits
        firstMoment = first
        secondMoment = second
        adamSteps = Int(steps[0])
        previousLosses = previous
    }
}
