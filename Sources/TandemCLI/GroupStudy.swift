import Tandem
import TandemRunLog

/// What `tandem group` trained, predicted, chose and verified, for its printout, JSON and picture.
struct GroupStudy {
    /// One recommendation measured on the test split.
    struct Verification {
        /// Per seed: each task's test metrics from the network serving it, and Δm against each alone.
        var perSeed: [(seed: UInt64, result: EvaluationResult, deltaM: Double)]
        var deltaM: MethodComparison.Statistic
    }

    let methods: [GroupingMethod]
    let esaEpochs: Int
    let seeds: [UInt64]
    var tasks: [String] = []
    var recipe: JSON = .null
    var costs: [TaskGroup: Double] = [:]
    var budget = 2.0
    /// Per seed, the fully trained networks.
    var fullRuns: [UInt64: [TaskGroup: GroupRun]] = [:]
    /// Per seed, the networks ESA reads (full runs it could read early, or short runs).
    var esaRuns: [UInt64: [TaskGroup: GroupRun]] = [:]
    /// Per seed, the affinities TAG measured.
    var affinities: [UInt64: GroupTraining.Affinities] = [:]
    /// Per method and seed, that seed's own choice.
    var choices: [GroupingMethod: [UInt64: GroupSelection]] = [:]
    /// Per method, the table averaged over the seeds and its choice.
    var recommended: [GroupingMethod: (scores: GroupScores, choice: GroupSelection)] = [:]
    /// Per recommendation (method name, "all together", "each alone"), its test results.
    var verified: [String: Verification] = [:]

    init(methods: [GroupingMethod], esaEpochs: Int, seeds: [UInt64]) {
        self.methods = methods
        self.esaEpochs = esaEpochs
        self.seeds = seeds
    }

    /// The rows of the verification table, in order.
    var verificationOrder: [String] { methods.map(\.rawValue) + ["all together", "each alone"] }

    /// A group's cost against the budget.
    func cost(_ group: TaskGroup) -> Double { costs[group] ?? 1 }

    /// `method`'s table for `seed`.
    func scores(_ method: GroupingMethod, seed: UInt64) throws -> GroupScores {
        if method == .tag {
            guard let measured = affinities[seed] else { throw CommandError("tag measured no affinities for seed \(seed)") }
            return try AffinityGrouping.scores(lookahead: GroupTraining.Affinities.mean(measured.lookahead))
        }
        let runs = (method == .esa ? esaRuns[seed] : fullRuns[seed]) ?? [:]
        return try method.scores(runs: runs, tasks: tasks.count, esaEpochs: esaEpochs)
    }

    /// TAG's Z averaged over epochs and seeds, or nil without TAG.
    var meanLookahead: [[Double]]? {
        let perSeed = seeds.compactMap { affinities[$0].map { GroupTraining.Affinities.mean($0.lookahead) } }
        return perSeed.isEmpty ? nil : GroupTraining.Affinities.mean(perSeed)
    }

    /// The gradient cosines TAG's run measured, averaged over epochs and seeds.
    var meanCosine: [[Double]]? {
        let perSeed = seeds.compactMap { affinities[$0].map { GroupTraining.Affinities.mean($0.cosine) } }
        return perSeed.isEmpty ? nil : GroupTraining.Affinities.mean(perSeed)
    }

    /// The largest |m[i][j]| with i ≠ j over the finite entries (0 when there is none).
    static func largestOffDiagonal(_ m: [[Double]]) -> Double {
        m.indices.flatMap { i in m[i].indices.filter { $0 != i }.map { Swift.abs(m[i][$0]) } }.filter(\.isFinite).max() ?? 0
    }

    /// The exponent k that brings `value` (≥ 0) into [1, 10) as value × 10^k (0 for 0 or values ≥ 1).
    static func power(_ value: Double) -> Int {
        guard value > 0, value.isFinite else { return 0 }
        var k = 0, scaled = value
        while scaled < 1, k < 30 { scaled *= 10; k += 1 }
        return k
    }

    /// 10^k for k ≥ 0.
    static func tenTo(_ k: Int) -> Double { (0..<k).reduce(1.0) { value, _ in value * 10 } }

    /// Tests the choice serving task t by `serving[t]` on every seed: each task's test metrics from its
    /// network, Δm against the networks of each task alone.
    func verify(_ serving: [TaskGroup]) throws -> Verification {
        var perSeed: [(seed: UInt64, result: EvaluationResult, deltaM: Double)] = []
        for seed in seeds {
            guard let runs = fullRuns[seed] else { throw CommandError("no networks trained for seed \(seed)") }
            var metrics: [TaskMetrics] = [], baselines: [String: [String: Double]] = [:]
            for (t, name) in tasks.enumerated() {
                guard let task = runs[serving[t]]?.test[name], let alone = runs[TaskGroup([t])]?.test[name] else {
                    throw CommandError("seed \(seed): the network of \(serving[t].label(tasks)) or of \(name) alone was not trained")
                }
                metrics.append(task)
                baselines[name] = Dictionary(uniqueKeysWithValues: alone.metrics.map { ($0.name, $0.value) })
            }
            let result = EvaluationResult(tasks: metrics)
            perSeed.append((seed, result, try DeltaM.compute(result, baselines: baselines)))
        }
        return Verification(perSeed: perSeed, deltaM: MethodComparison.Statistic(perSeed.map(\.deltaM)))
    }

    func json(device: String, deviceName: String) -> JSON {
        func groupJSON(_ group: TaskGroup) -> JSON { .array(group.members.map { .string(tasks[$0]) }) }
        func row(_ values: [Double], _ group: TaskGroup) -> JSON {
            .object(group.members.map { (tasks[$0], .number(values[$0])) })
        }
        func runJSON(_ run: GroupRun) -> JSON {
            .object([("group", groupJSON(run.group)), ("seed", .number(Double(run.seed))), ("epochs", .int(run.scores.count)),
                     ("best_epoch", .int(run.bestEpoch + 1)),
                     ("validation_loss", .array(run.validationLosses.map { row($0, run.group) })),
                     ("test", .object(metricsJSON(run.test))), ("seconds", .number(run.seconds))])
        }
        func choiceJSON(_ choice: GroupSelection) -> JSON {
            .object([("networks", .array(choice.groups.map(groupJSON))),
                     ("serving", .object(tasks.indices.map { (tasks[$0], groupJSON(choice.serving[$0])) })),
                     ("predicted", .object(tasks.indices.map { (tasks[$0], .number(choice.values[$0])) })),
                     ("total", .number(choice.total)), ("cost", .number(choice.cost))])
        }
        func matrix(_ m: [[Double]]?) -> JSON { m.map { .array($0.map { .array($0.map(JSON.number)) }) } ?? .null }
        var methodFields: [(String, JSON)] = []
        for method in methods {
            guard let (scores, choice) = recommended[method] else { continue }
            let table: [JSON] = scores.groups.map { group in .object([("group", groupJSON(group)), ("values", row(scores.values[group]!, group))]) }
            let perSeed: [JSON] = seeds.compactMap { seed in
                choices[method]?[seed].map { .object([("seed", .number(Double(seed))), ("choice", choiceJSON($0))]) }
            }
            methodFields.append((method.rawValue, .object([("recommended", choiceJSON(choice)), ("per_seed", .array(perSeed)),
                                                           ("table", .array(table))])))
        }
        let verification: [(String, JSON)] = verificationOrder.compactMap { key in
            verified[key].map { v in
                (key, .object([("delta_m", .object([("mean", .number(v.deltaM.mean)), ("sd", .number(v.deltaM.standardDeviation))])),
                               ("per_seed", .array(v.perSeed.map { .object([("seed", .number(Double($0.seed))), ("delta_m", .number($0.deltaM)),
                                                                              ("test", .object(metricsJSON($0.result)))]) }))]))
            }
        }
        let runs: [JSON] = seeds.flatMap { seed in (fullRuns[seed] ?? [:]).keys.sorted().map { runJSON(fullRuns[seed]![$0]!) } }
        let shortRuns: [JSON] = seeds.flatMap { seed in
            (esaRuns[seed] ?? [:]).keys.sorted().compactMap { group -> JSON? in
                let run = esaRuns[seed]![group]!
                return fullRuns[seed]?[group].map { $0.scores.count == run.scores.count } == true ? nil : runJSON(run)
            }
        }
        return .object([
            ("recipe", recipe), ("device", .string(device)), ("device_name", .string(deviceName)),
            ("tasks", .array(tasks.map(JSON.string))), ("seeds", .array(seeds.map { .number(Double($0)) })),
            ("budget", .number(budget)), ("esa_epochs", .int(esaEpochs)),
            ("costs", .array(costs.keys.sorted().map { .object([("group", groupJSON($0)), ("cost", .number(costs[$0]!))]) })),
            ("tag_lookahead", matrix(meanLookahead)), ("tag_cosine", matrix(meanCosine)),
            ("methods", .object(methodFields)), ("verification", .object(verification)),
            ("runs", .array(runs)), ("esa_short_runs", .array(shortRuns)),
        ])
    }

    /// The SVG: TAG's lookahead matrix (or, without TAG, the pairwise gains 1 − v({i, j}, j) of HOA or
    /// exact), and each method's recommended groups.
    func picture() -> String {
        var affinity: GroupingChart.Affinity?
        if let z = meanLookahead {
            let offDiagonal = z.indices.map { i in z[i].indices.map { j in i == j ? Float.nan : Float(z[i][j]) } }
            let largest = Self.largestOffDiagonal(z)
            let power = Self.power(largest)
            affinity = GroupingChart.Affinity(title: "TAG lookahead Z(row → column) × 10^\(power)", matrix: offDiagonal,
                                              scale: largest > 0 ? largest : 1, unit: Self.tenTo(power))
        } else if let pairs = recommended.first(where: { $0.key == .hoa || $0.key == .exact })?.value.scores {
            let n = tasks.count
            let gains: [[Float]] = (0..<n).map { i in (0..<n).map { j in
                i == j ? .nan : Float(1 - (pairs[TaskGroup([i, j]), j] ?? .nan))
            } }
            let largest = gains.joined().filter(\.isFinite).map { Swift.abs(Double($0)) }.max() ?? 0
            affinity = GroupingChart.Affinity(title: "Loss reduction of column task trained with row task, %", matrix: gains,
                                              scale: largest > 0 ? largest : 1, unit: 100)
        }
        let rows: [GroupingChart.Row] = methods.compactMap { method in
            guard let (_, choice) = recommended[method] else { return nil }
            let serving = choice.serving.map { group in choice.groups.firstIndex(of: group) ?? -1 }
            let agreeing = seeds.filter { choices[method]?[$0]?.groups == choice.groups }.count
            var note = "\(agreeing)/\(seeds.count) seeds choose it"
            if let v = verified[method.rawValue] {
                note += "; test Δm \(CompareCommand.signed(100 * v.deltaM.mean)) ± \(fixed(100 * v.deltaM.standardDeviation, 2)) %"
            }
            return GroupingChart.Row(name: method.rawValue, groups: choice.groups.map { $0.label(tasks) }, serving: serving, note: note)
        } + ["all together"].compactMap { key in
            verified[key].map { v in
                GroupingChart.Row(name: key, groups: [TaskGroup(Array(tasks.indices)).label(tasks)], serving: tasks.map { _ in 0 },
                                  note: "test Δm \(CompareCommand.signed(100 * v.deltaM.mean)) ± \(fixed(100 * v.deltaM.standardDeviation, 2)) %")
            }
        }
        let model: String
        if case let .string(name)? = recipe["model"] { model = name } else { model = "?" }
        let data: String
        if case let .string(name)? = recipe["data"] { data = name } else { data = "?" }
        let budgetText = costs.values.allSatisfy { $0 == 1 } ? "\(Int(budget)) network(s)" : "cost \(fixed(budget, 2))"
        return GroupingChart.svg(title: "Task grouping: \(model) on \(data), budget \(budgetText), \(seeds.count) seed(s)",
                                 caption: "left: the affinities measured; right: each method's recommended networks (tables averaged over the seeds)",
                                 tasks: tasks, affinity: affinity, rows: rows)
    }
}
