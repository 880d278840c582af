import TandemCore
import TandemData

/// Trains the network of one group for a grouping study, as `tandem compare` trains a method: the
/// recipe on the group's tasks, the best validated epoch restored and tested once. Optionally it
/// also measures TAG's lookahead affinities after every epoch.
public enum GroupTraining {
    /// The lookahead affinities a run measured: per epoch, Z_{i→j} and the gradient cosines, each
    /// over `batches` training batches in evaluation mode (measuring changes nothing in the run).
    public struct Affinities: Sendable {
        /// Task indices of the rows and columns (the group's members).
        public var tasks: [Int]
        /// Per epoch, lookahead[i][j] = Z_{i→j}.
        public var lookahead: [[[Double]]]
        /// Per epoch, the gradient cosines.
        public var cosine: [[[Double]]]

        /// The element-wise mean over the epochs of `perEpoch` (NaN where no epoch measured a pair).
        public static func mean(_ perEpoch: [[[Double]]]) -> [[Double]] {
            guard let first = perEpoch.first else { return [] }
            return first.indices.map { i in first[i].indices.map { j in
                let values = perEpoch.map { $0[i][j] }.filter(\.isFinite)
                return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
            } }
        }
    }

    /// Trains `group` of `data`'s tasks with `recipe` on `device`. With `lookahead` (batches per
    /// epoch, step size η) it measures Z after every epoch on the first batches of that epoch's
    /// order. `stop` is asked after every step (an interrupt); a stopped run throws nothing but
    /// returns what it trained. Needs a validation split (the best epoch and the values come from it).
    public static func train(recipe: TrainingRecipe, data: RunData, group: TaskGroup, device: any Device,
                             lookahead: (batches: Int, rate: Float)? = nil,
                             stop: @escaping () -> Bool = { false }) throws -> (run: GroupRun, affinities: Affinities?) {
        let members = group.members
        let taskCount = data.train.tasks.count
        guard members.allSatisfy({ $0 < taskCount }) else {
            throw TandemError.invalidArgument(op: "group", message: "group \(group) names tasks beyond the data's \(taskCount)")
        }
        guard data.validation != nil else {
            throw TandemError.invalidArgument(op: "group", message: "grouping reads validation losses: the data needs a validation split (a validation fraction above 0)")
        }
        let training = try RecipeTraining(recipe: recipe, data: data, tasks: members, device: device)
        let trainer = training.trainer
        let specs = trainer.model.tasks
        var lookaheads: [[[Double]]] = [], cosines: [[[Double]]] = []
        let meter = try lookahead.map { try TaskAffinity(tasks: specs, lookaheadLearningRate: $0.rate) }
        trainer.callbacks.append(ClosureCallback(step: { trainer, _ in
            if stop() { trainer.requestStop() }
        }, epoch: { trainer, report in
            guard let meter, let lookahead else { return }
            try meter.observe(batches: Array(training.loader.batchIndices(epoch: report.epoch).prefix(lookahead.batches)),
                              of: training.data.train, model: trainer.model, on: device)
            let measured = meter.endEpoch()
            lookaheads.append((measured.lookahead ?? measured.cosine.map { $0.map { _ in Float.nan } }).map { $0.map(Double.init) })
            cosines.append(measured.cosine.map { $0.map(Double.init) })
        }))
        try training.fit()
        let history = trainer.history
        guard !history.isEmpty else {
            throw TandemError.invalidArgument(op: "group", message: "group \(group) trained no epoch")
        }
        func spread(_ perMember: [Double]) -> [Double] {
            var row = [Double](repeating: .nan, count: taskCount)
            for (k, t) in members.enumerated() { row[t] = perMember[k] }
            return row
        }
        var losses: [[Double]] = [], scores: [Double] = []
        for report in history {
            guard let validation = report.validation, let score = report.score else {
                throw TandemError.invalidArgument(op: "group", message: "group \(group): epoch \(report.epoch + 1) was not validated")
            }
            losses.append(spread(validation.tasks.map(\.loss)))
            scores.append(score)
        }
        let best = try training.restoreBestEpoch() ?? (history.count - 1)
        let test = try training.test()
        let run = GroupRun(group: group, seed: recipe.seed, validationLosses: losses, scores: scores, bestEpoch: best, test: test, seconds: .nan)
        return (run, meter == nil ? nil : Affinities(tasks: members, lookahead: lookaheads, cosine: cosines))
    }
}
