import TandemCore

/// One network of a grouping study: a group of the data's tasks trained with the recipe and one
/// seed, with what the grouping methods read from it. Task indices are those of the whole task
/// list, so runs of different groups line up.
public struct GroupRun: Sendable {
    /// The tasks trained together.
    public var group: TaskGroup
    public var seed: UInt64
    /// Per trained epoch, each task's mean validation loss (NaN for the tasks outside the group).
    public var validationLosses: [[Double]]
    /// Per trained epoch, the score that picks the best epoch (higher is better).
    public var scores: [Double]
    /// The best epoch by validation (0-based), whose model `test` measured.
    public var bestEpoch: Int
    /// The test metrics of the best epoch's model (the group's tasks only).
    public var test: EvaluationResult
    /// Wall time of the training, seconds.
    public var seconds: Double

    public init(group: TaskGroup, seed: UInt64, validationLosses: [[Double]], scores: [Double], bestEpoch: Int,
                test: EvaluationResult, seconds: Double) {
        self.group = group
        self.seed = seed
        self.validationLosses = validationLosses
        self.scores = scores
        self.bestEpoch = bestEpoch
        self.test = test
        self.seconds = seconds
    }

    /// The epoch the early-stopping approximation reads after `epochs` epochs: the best by score
    /// among the first `epochs` (what a run of only that many epochs would pick, with a constant
    /// learning rate), or the best of the run when `epochs` is nil.
    public func selectedEpoch(within epochs: Int? = nil) -> Int {
        guard let epochs else { return bestEpoch }
        let limit = Swift.min(epochs, scores.count)
        var best = 0
        for e in 0..<limit where scores[e] > scores[best] { best = e }
        return best
    }

    /// Each task's validation loss at `selectedEpoch(within:)`.
    public func values(within epochs: Int? = nil) -> [Double] { validationLosses[selectedEpoch(within: epochs)] }
}
