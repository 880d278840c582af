import TandemCore
import TandemNN

/// Dynamic weight average (Liu, Johns and Davison 2019, MTAN): a task whose loss fell less over
/// the last epoch gets more weight. With rᵢ = Lᵢ(e−1)/Lᵢ(e−2), the ratio of the last two epoch-mean
/// losses, wᵢ = T·exp(rᵢ/τ)/Σⱼ exp(rⱼ/τ), so the weights sum to T; the first two epochs, with no
/// ratio yet, use wᵢ = 1. τ (the temperature, 2 in the paper) smooths the weights.
public final class DynamicWeightAverage: LossWeighting {
    /// The name used on the command line and in reports.
    public let name = "dwa"
    /// τ: larger values make the weights more uniform.
    public let temperature: Float
    /// Epoch-mean losses of the epochs seen so far, oldest first (only the last two are kept).
    public private(set) var history: [[Float]] = []
    private var taskCount = 0

    /// τ must be positive; the paper's value is 2.
    public init(temperature: Float = 2) throws {
        guard temperature > 0, temperature.isFinite else {
            throw TandemError.invalidArgument(op: "dwa", message: "temperature must be positive, got \(temperature)")
        }
        self.temperature = temperature
    }

    /// The weights for the coming epoch from the two previous epochs' mean losses.
    public static func weights(previous: [Float], beforePrevious: [Float], temperature: Float) -> [Float] {
        let ratios = zip(previous, beforePrevious).map { Double($0) / Swift.max(Double($1), 1e-12) }
        let m = ratios.max() ?? 0
        let e = ratios.map { HostMath.exp(($0 - m) / Double(temperature)) }
        let total = e.reduce(0, +)
        return e.map { Float(Double(ratios.count) * $0 / total) }
    }

    /// One backward of the combined objective.
    public var completesGradientsInOneBackward: Bool { true }

    /// Accumulates the gradient of this method's combined objective (see the type's documentation) into `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        taskCount = losses.count
        let w = try weights(count: losses.count)
        try WeightingChecks.weightedSum(losses, weights: w).backward(releasingGraph: true)
    }

    /// Records the epoch-mean training losses; the last two decide the next epoch's weights.
    public func endEpoch(meanLosses: [Float]) throws {
        guard !meanLosses.isEmpty, meanLosses.allSatisfy({ $0.isFinite }) else {
            throw TandemError.invalidArgument(op: name, message: "epoch-mean losses must be finite, got \(meanLosses)")
        }
        if let last = history.last, last.count != meanLosses.count {
            throw TandemError.invalidArgument(op: name, message: "\(meanLosses.count) epoch-mean losses after epochs of \(last.count) tasks")
        }
        history.append(meanLosses)
        if history.count > 2 { history.removeFirst(history.count - 2) }
        taskCount = meanLosses.count
    }

    /// The weights the next step uses (all 1 during the first two epochs).
    public func currentWeights() throws -> [Float] { try weights(count: taskCount) }

    private func weights(count: Int) throws -> [Float] {
        guard history.count == 2 else { return [Float](repeating: 1, count: count) }
        guard history[1].count == count else {
            throw TandemError.invalidArgument(op: name, message: "\(count) losses, but the epoch history has \(history[1].count) tasks")
        }
        return DynamicWeightAverage.weights(previous: history[1], beforePrevious: history[0], temperature: temperature)
    }
}

extension DynamicWeightAverage: StatefulWeighting {
    /// The host-side state a checkpoint must carry (see `StatefulWeighting`).
    public func methodState() -> [String: [Float]] {
        ["dwa.history": history.flatMap { $0 }, "dwa.epochs": [Float(history.count)]]
    }

    /// Restores `methodState()`; throws, changing nothing, when the state does not fit.
    public func loadMethodState(_ state: [String: [Float]]) throws {
        guard let epochs = state["dwa.epochs"], epochs.count == 1, let flat = state["dwa.history"],
              [0, 1, 2].contains(Int(epochs[0])), Float(Int(epochs[0])) == epochs[0],
              Int(epochs[0]) == 0 ? flat.isEmpty : flat.count % Int(epochs[0]) == 0 && !flat.isEmpty else {
            throw TandemError.invalidArgument(op: name, message: "state needs 'dwa.epochs' (0–2) and 'dwa.history' of as many epochs, got \(state.keys.sorted())")
        }
        let epochCount = Int(epochs[0])
        let width = epochCount == 0 ? 0 : flat.count / epochCount
        history = (0..<epochCount).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
        taskCount = width
    }
}
