import TandemCore

/// The results of comparing weighting methods with the same model, data, recipe and seeds (the
/// experiment of multi-task papers, `tandem compare`): each method's test metrics per seed, its Δm
/// against single-task baselines of the same seed, and its time per step; summarised as means and
/// standard deviations over the seeds, a mean rank, and the cost per step relative to a reference.
public struct MethodComparison: Sendable {
    /// One training run: a method with one seed.
    public struct Run: Sendable {
        public var seed: UInt64
        public var test: EvaluationResult
        /// Δm against that seed's single-task baselines (nil without baselines).
        public var deltaM: Double?
        /// Wall time of the training steps divided by their number.
        public var secondsPerStep: Double

        public init(seed: UInt64, test: EvaluationResult, deltaM: Double?, secondsPerStep: Double) {
            self.seed = seed
            self.test = test
            self.deltaM = deltaM
            self.secondsPerStep = secondsPerStep
        }
    }

    /// A method's runs, one per seed.
    public struct Method: Sendable {
        public var name: String
        public var runs: [Run]
        /// The method's settings where they differ from its paper's defaults (`--weighting-arg`).
        public var settings: [String: String]

        public init(name: String, runs: [Run], settings: [String: String] = [:]) {
            self.name = name
            self.runs = runs
            self.settings = settings
        }

        /// The name, with its settings when there are any: `cagrad (c=0.5)`.
        public var label: String {
            settings.isEmpty ? name : "\(name) (" + settings.keys.sorted().map { "\($0)=\(settings[$0] ?? "")" }.joined(separator: ", ") + ")"
        }
    }

    /// A mean and a standard deviation (the sample's, n − 1; 0 for one value).
    public struct Statistic: Sendable, Equatable {
        public var mean: Double
        public var standardDeviation: Double

        public init(_ values: [Double]) {
            let n = Double(values.count)
            mean = values.isEmpty ? .nan : values.reduce(0, +) / n
            let m = mean
            standardDeviation = values.count < 2 ? 0 : (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot()
        }
    }

    /// One metric column of the table: a task's metric and which way is better.
    public struct Column: Sendable, Equatable {
        public var task: String
        public var metric: String
        public var higherIsBetter: Bool
        /// The column of an auxiliary task: shown, but not ranked.
        public var auxiliary: Bool

        public init(task: String, metric: String, higherIsBetter: Bool, auxiliary: Bool = false) {
            self.task = task
            self.metric = metric
            self.higherIsBetter = higherIsBetter
            self.auxiliary = auxiliary
        }
    }

    /// One row of the summary.
    public struct Summary: Sendable {
        /// The method's label (its name, with its settings when any were given).
        public var name: String
        /// Mean and deviation over the seeds of each column's test value, in `columns` order.
        public var metrics: [Statistic]
        /// Δm over the seeds (nil without baselines).
        public var deltaM: Statistic?
        /// The mean over the columns of the method's rank among the methods (1 is best; ties share
        /// the mean of their places), ranked on the seed means.
        public var meanRank: Double
        public var secondsPerStep: Statistic
        /// Time per step relative to the reference method's (nil when it is not compared).
        public var relativeCost: Double?
    }

    public var methods: [Method]
    /// The reference of `relativeCost`, usually `ew`.
    public var reference: String

    public init(methods: [Method], reference: String = "ew") {
        self.methods = methods
        self.reference = reference
    }

    /// Every (task, metric) of the first run, in its order; all runs must have the same ones.
    public var columns: [Column] {
        guard let first = methods.first?.runs.first else { return [] }
        return first.test.tasks.flatMap { task in task.metrics.map {
            Column(task: task.task, metric: $0.name, higherIsBetter: $0.higherIsBetter, auxiliary: task.auxiliary)
        } }
    }

    /// Means, deviations, ranks and costs; an error when runs disagree on their tasks or metrics.
    public func summaries() throws -> [Summary] {
        let columns = self.columns
        for method in methods {
            guard !method.runs.isEmpty else {
                throw TandemError.invalidArgument(op: "compare", message: "method \(method.name) has no runs")
            }
            for run in method.runs {
                for column in columns where run.test[column.task, column.metric] == nil {
                    throw TandemError.invalidArgument(op: "compare", message: "\(method.name), seed \(run.seed): no \(column.task) \(column.metric)")
                }
            }
        }
        let metrics = methods.map { method in
            columns.map { column in Statistic(method.runs.map { $0.test[column.task, column.metric] ?? .nan }) }
        }
        var rankSums = [Double](repeating: 0, count: methods.count)
        let ranked = columns.filter { !$0.auxiliary }.count
        for (c, column) in columns.enumerated() where !column.auxiliary {
            let ranks = Self.ranks(metrics.map { $0[c].mean }, higherIsBetter: column.higherIsBetter)
            for m in methods.indices { rankSums[m] += ranks[m] }
        }
        let times = methods.map { Statistic($0.runs.map(\.secondsPerStep)) }
        let referenceTime = methods.firstIndex { $0.name == reference }.map { times[$0].mean }
        return methods.enumerated().map { m, method in
            let deltas = method.runs.compactMap(\.deltaM)
            return Summary(name: method.label, metrics: metrics[m],
                           deltaM: deltas.count == method.runs.count ? Statistic(deltas) : nil,
                           meanRank: ranked == 0 ? .nan : rankSums[m] / Double(ranked),
                           secondsPerStep: times[m],
                           relativeCost: referenceTime.map { times[m].mean / $0 })
        }
    }

    /// The rank of each value (1 is best); equal values share the mean of their places.
    public static func ranks(_ values: [Double], higherIsBetter: Bool) -> [Double] {
        let order = values.indices.sorted { higherIsBetter ? values[$0] > values[$1] : values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, values[order[end + 1]] == values[order[start]] { end += 1 }
            let shared = Double(start + end) / 2 + 1
            for k in start...end { ranks[order[k]] = shared }
            start = end + 1
        }
        return ranks
    }
}
