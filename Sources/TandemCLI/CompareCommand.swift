import ArgumentParser
import Tandem
import TandemRunLog

/// `tandem compare`: the experiment multi-task papers run. Every weighting of `--weightings` trains
/// the same model on the same data with the same recipe, once per seed; single-task baselines (one
/// model per task, EW, the same recipe and seed) give each run's Δm. Prints a table (per-task test
/// metrics as mean ± sd over the seeds, Δm, mean rank, time per step and its ratio to EW's), and
/// writes JSON and an SVG chart on request.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train one model with several loss weightings and seeds, and compare them (metrics, Δm, rank, cost).",
        discussion: """
        Each method trains with the recipe (every option of 'tandem train' that sets it; --weighting is chosen by \
        --weightings) for each seed, is tested once on the model of its best validation epoch, and is compared on the \
        test split. Δm (Maninis et al. 2019) is the mean relative improvement over the single-task baselines of the same \
        seed, in percent (positive: better than training each task alone). The mean rank ranks the methods on every \
        task's every metric (seed means) and averages. Time per step covers the training steps alone (no validation). \
        Methods run at their papers' settings; --weighting-arg METHOD:key=value changes one (the table names it: cagrad (c=0.8)).

        Example: tandem compare --model lenet-hps --data multifashion --weightings ew,uw,pcgrad,cagrad --seeds 3 --epochs 10 \
        --device cpu --json compare.json --chart compare.svg
        """)

    @OptionGroup(title: "Recipe") var recipeOptions: RecipeOptions

    @Option(help: "Comma-separated weightings to compare (default: all but fixed, and graddrop without --rep-grad or gradnorm with it): \(WeightingMethods.names.joined(separator: ", ")).")
    var weightings: String?
    @Option(help: "Seeds per method: the recipe's seed and the ones after it (default 3).")
    var seeds = 3
    @Flag(name: .customLong("no-baselines"), help: "Skip the single-task baselines (no Δm; methods are ranked on their metrics).")
    var noBaselines = false
    @Option(help: "Device selector: cpu, opencl, opencl:N, gpu, name:TEXT or auto (default: $TANDEM_DEVICE, else auto).")
    var device: String?
    @Option(help: "Read the recipe from a JSON file (keys: the long option names with _ for -); options given here override it.")
    var config: String?
    @Option(help: "Write the comparison as JSON here (every run's test metrics, Δm and time per step, and the summary).")
    var json: String?
    @Option(help: "Draw the comparison (Δm per method with its spread, and the cost per step) as an SVG picture here.")
    var chart: String?
    @Option(help: ArgumentHelp("Train nothing: merge comparisons written by --json (comma-separated files; other methods or seeds of one recipe, for example run side by side) into one table, --json and --chart.",
                               valueName: "files"))
    var merge: String?

    /// The files of `--merge`, in order.
    var mergePaths: [String] { merge.map { $0.split(separator: ",").map { String($0.trimmingSpaces) } } ?? [] }

    /// The methods to compare, in the order given.
    var methods: [String] {
        weightings.map { $0.split(separator: ",").map(\.trimmingSpaces) }
            ?? WeightingMethods.names.filter { $0 != "fixed" && $0 != (recipeOptions.repGrad ? "gradnorm" : "graddrop") }
    }

    func validate() throws {
        if merge != nil {
            if weightings != nil || device != nil || config != nil || noBaselines || !recipeOptions.given.isEmpty {
                throw ValidationError("--merge combines finished comparisons; give it no recipe, --weightings, --device, --config or --no-baselines")
            }
            if mergePaths.contains(where: \.isEmpty) { throw ValidationError("--merge names an empty file: '\(merge ?? "")'") }
            return
        }
        if recipeOptions.weighting != nil {
            throw ValidationError("compare trains every method of --weightings; leave --weighting out")
        }
        if recipeOptions.singleTask { throw ValidationError("compare trains the single-task baselines itself (--no-baselines skips them)") }
        guard (1...100).contains(seeds) else { throw ValidationError("--seeds must be in 1...100, got \(seeds)") }
        let names = methods
        guard !names.isEmpty else { throw ValidationError("--weightings names no method") }
        if let unknown = names.first(where: { !WeightingMethods.names.contains($0) }) {
            throw ValidationError("unknown weighting '\(unknown)'; available: \(WeightingMethods.names.joined(separator: ", "))")
        }
        if Set(names).count != names.count { throw ValidationError("--weightings names a method twice: \(names.joined(separator: ","))") }
        if names.contains("fixed"), recipeOptions.weights == nil { throw ValidationError("'fixed' needs --weights") }
        _ = try methodSettings()
    }

    /// Each method's settings from `--weighting-arg METHOD:key=value` (the papers' defaults for the rest).
    func methodSettings() throws -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        let names = methods
        for item in recipeOptions.weightingArg {
            guard let colon = item.firstIndex(of: ":"), colon != item.startIndex else {
                throw ValidationError("compare runs several methods: write --weighting-arg METHOD:key=value (for example cagrad:c=0.5), got '\(item)'")
            }
            let method = String(item[..<colon]), setting = String(item[item.index(after: colon)...])
            guard names.contains(method) else {
                throw ValidationError("--weighting-arg \(item): '\(method)' is not one of the compared methods (\(names.joined(separator: ",")))")
            }
            do {
                let parsed = try WeightingSettings.parse([setting])
                for (key, value) in parsed {
                    guard out[method]?[key] == nil else { throw ValidationError("--weighting-arg sets \(method):\(key) twice") }
                    out[method, default: [:]][key] = value
                }
                _ = try WeightingSettings(method: method, arguments: out[method] ?? [:])
            } catch TandemError.invalidArgument(let op, let message) {
                throw ValidationError("--weighting-arg \(item): \(op): \(message)")
            }
        }
        return out
    }

    func run() throws {
        if merge != nil {
            let paths = mergePaths
            for path in [json, chart].compactMap({ $0 }) { try OutputPaths.checkFile(path, option: path == json ? "--json" : "--chart") }
            let files = try paths.map(ComparisonFile.read)
            let merged = try ComparisonFile.merge(files, paths: paths)
            say("Merged \(merged.methods.count) weightings over seeds \(merged.seeds.map(String.init).joined(separator: ", ")) from \(paths.count) file(s)")
            for (file, path) in zip(files, paths) where !file.complete { say("  \(path) holds the finished runs of an interrupted comparison") }
            try report(MethodComparison(methods: merged.methods, reference: "ew"), recipe: merged.recipe, device: merged.device,
                       deviceName: merged.deviceName, seeds: merged.seeds, baselines: merged.baselines)
            return
        }
        let target = try Devices.select(device)
        var (recipe, fileKeys) = try recipeOptions.resolve(config: config, excluding: ["weighting_args"], command: Self.self)
        if !recipe.weightingArguments.isEmpty {
            throw CommandError("--config sets weighting_args \(recipe.weightingArguments); compare takes each method's as --weighting-arg METHOD:key=value")
        }
        let settings = try methodSettings()
        for path in [json, chart].compactMap({ $0 }) { try OutputPaths.checkFile(path, option: path == json ? "--json" : "--chart") }
        let names = methods
        let seedList = (0..<seeds).map { recipe.seed &+ UInt64($0) }
        var results = names.map { MethodComparison.Method(name: $0, runs: [], settings: settings[$0] ?? [:]) }
        var baselineResults: [UInt64: [String: [String: Double]]] = [:]
        var firstResolved = recipe
        // The --json file once it holds a finished run (what an interrupt leaves behind).
        var saved: String?
        Interrupts.install()
        defer { Interrupts.remove() }
        for seed in seedList {
            recipe.seed = seed
            var data = try RunData(recipe: recipe)
            let resolved = recipeOptions.resolvedBatch(recipe, data: data, fileKeys: fileKeys)
            try resolved.validate()
            if seed == seedList[0] {
                firstResolved = resolved
                say("Comparing \(names.count) weightings on \(resolved.model) / \(resolved.data), \(seeds) seed(s), \(resolved.epochs) epochs, batch \(resolved.batchSize), \(target.info.selector)")
                for warning in data.warnings { say("Warning: \(warning)") }
            }
            data.warnings = []
            var baselines: [String: [String: Double]]?
            if !noBaselines {
                var single = resolved
                single.weighting = "ew"
                single.weights = nil
                var values: [String: [String: Double]] = [:]
                for (index, task) in data.train.tasks.enumerated() where !resolved.isAuxiliary(task.name) {
                    let outcome = try Self.trainAndTest(single, data: data, tasks: [index], device: target, saved: saved)
                    values[task.name] = Dictionary(uniqueKeysWithValues: (outcome.test[task.name]?.metrics ?? []).map { ($0.name, $0.value) })
                    say("seed \(seed): single-task \(task.name): \(Self.metricsLine(outcome.test))")
                    try Self.checkInterrupt(saved: saved)
                }
                baselines = values
                baselineResults[seed] = values
            }
            for (m, name) in names.enumerated() {
                var methodRecipe = resolved
                methodRecipe.weighting = name
                methodRecipe.weightingArguments = settings[name] ?? [:]
                if name != "fixed" { methodRecipe.weights = nil }
                let outcome = try Self.trainAndTest(methodRecipe, data: data, tasks: Array(data.train.tasks.indices), device: target, saved: saved)
                let deltaM = try baselines.map { try DeltaM.compute(outcome.test, baselines: $0) }
                results[m].runs.append(MethodComparison.Run(seed: seed, test: outcome.test, deltaM: deltaM, secondsPerStep: outcome.secondsPerStep))
                let delta = deltaM.map { "  Δm \(Self.signed(100 * $0))%" } ?? ""
                let stops = outcome.auxiliaryStops.map { "  (\($0.task) stopped after epoch \($0.epoch + 1))" }.joined()
                say("seed \(seed): \(name): \(Self.metricsLine(outcome.test))\(delta)  \(fixed(1000 * outcome.secondsPerStep, 2)) ms/step\(stops)")
                // The runs so far, so that an interrupted or failed comparison keeps them (--merge joins them with the rest).
                if let json {
                    let done = MethodComparison(methods: results.filter { !$0.runs.isEmpty }, reference: "ew")
                    try Self.write(done, summaries: try done.summaries(), to: json, recipe: firstResolved.json, device: target.info.selector,
                                   deviceName: target.info.name, seeds: seedList.filter { $0 <= seed }, baselines: baselineResults, complete: false)
                    saved = json
                }
                try Self.checkInterrupt(saved: saved)
            }
        }
        try report(MethodComparison(methods: results, reference: "ew"), recipe: firstResolved.json, device: target.info.selector,
                   deviceName: target.info.name, seeds: seedList, baselines: baselineResults)
    }

    /// Prints the summary table and writes --json and --chart.
    func report(_ comparison: MethodComparison, recipe: JSON, device: String, deviceName: String, seeds: [UInt64],
                baselines: [UInt64: [String: [String: Double]]]) throws {
        let summaries = try comparison.summaries()
        say("")
        say(Self.summaryTable(comparison: comparison, summaries: summaries))
        if let json {
            try Self.write(comparison, summaries: summaries, to: json, recipe: recipe, device: device, deviceName: deviceName, seeds: seeds,
                           baselines: baselines, complete: true)
            say("Comparison written to \(json)")
        }
        if let chart {
            let rows = summaries.map { s in
                ComparisonChart.Row(name: s.name, deltaM: s.deltaM.map { (100 * $0.mean, 100 * $0.standardDeviation) },
                                    meanRank: s.meanRank, relativeCost: s.relativeCost)
            }
            func text(_ key: String) -> String {
                switch recipe[key] {
                case let .string(value)?: return value
                case let .number(value)?: return value == value.rounded() ? "\(Int(value))" : "\(value)"
                default: return "?"
                }
            }
            let title = "\(text("model")) on \(text("data")): \(seeds.count) seed(s), \(text("epochs")) epochs, \(device)"
            try OutputPaths.write(ComparisonChart.svg(title: title, rows: rows), to: chart, what: "comparison chart")
            say("Chart drawn to \(chart)")
        }
    }

    /// What one training run gives: the test metrics of its best epoch (by validation, else its
    /// last) and the time per training step.
    static func trainAndTest(_ recipe: TrainingRecipe, data: RunData, tasks indices: [Int], device: any Device, saved: String?) throws
        -> (test: EvaluationResult, secondsPerStep: Double, auxiliaryStops: [(task: String, epoch: Int)]) {
        let run = try RecipeTraining(recipe: recipe, data: data, tasks: indices, device: device)
        // Steps are timed from the end of the previous step (or of the last epoch's validation).
        var mark = Bench.now(), stepSeconds = 0.0, steps = 0
        run.trainer.callbacks.append(ClosureCallback(step: { trainer, _ in
            let now = Bench.now()
            stepSeconds += now - mark
            mark = now
            steps += 1
            if Interrupts.received != nil { trainer.requestStop() }
        }, epoch: { _, _ in mark = Bench.now() }))
        try run.fit()
        try checkInterrupt(saved: saved)
        try run.restoreBestEpoch()
        if let adaShare = run.model as? AdaShare, adaShare.learnsPolicy {
            say("  AdaShare policy (x runs the block, . skips it): \(try adaShare.compactPolicy()); \(try adaShare.activeParameterCount()) parameters used")
        }
        return (try run.test(), steps > 0 ? stepSeconds / Double(steps) : .nan, run.trainer.auxiliaryStops)
    }

    /// Stops the comparison at an interrupt; the runs finished so far are printed, and are in `saved`
    /// (the --json file) when it was written.
    static func checkInterrupt(saved: String?) throws {
        if let signal = Interrupts.received {
            if let saved {
                say("\nInterrupted: the runs finished so far are in \(saved) (marked incomplete); compare the rest with --json and join both with --merge.")
            } else {
                say("\nInterrupted: nothing was saved (finished runs are kept in the --json file when one is given); run the same command again to start over.")
            }
            throw Interrupts.exitCode(signal)
        }
    }

    static func metricsLine(_ result: EvaluationResult) -> String {
        result.tasks.map { task in "\(task.task) " + task.metrics.map { "\($0.name) \(fixed($0.value, 4))" }.joined(separator: ", ") }
            .joined(separator: "; ")
    }

    static func signed(_ value: Double) -> String { (value >= 0 ? "+" : "") + fixed(value, 2) }

    /// The summary table: method, each task's metrics (mean ± sd), Δm %, mean rank, ms/step, × EW.
    static func summaryTable(comparison: MethodComparison, summaries: [MethodComparison.Summary]) -> String {
        let columns = comparison.columns
        var header = ["method"] + columns.map { "\($0.task)\($0.auxiliary ? " (aux)" : "") \($0.metric) \($0.higherIsBetter ? "↑" : "↓")" }
        header += ["Δm %", "rank", "ms/step", "× ew"]
        let rows = summaries.map { s -> [String] in
            var row = [s.name] + s.metrics.map { "\(fixed($0.mean, 4)) ± \(fixed($0.standardDeviation, 4))" }
            row.append(s.deltaM.map { "\(signed(100 * $0.mean)) ± \(fixed(100 * $0.standardDeviation, 2))" } ?? "-")
            row.append(fixed(s.meanRank, 2))
            row.append(fixed(1000 * s.secondsPerStep.mean, 2))
            row.append(s.relativeCost.map { fixed($0, 2) } ?? "-")
            return row
        }
        return table(header, rows)
    }

    /// task → metric → value as a JSON object, keys sorted.
    static func metricsObject(_ values: [String: [String: Double]]) -> JSON {
        .object(values.keys.sorted().map { task -> (String, JSON) in
            let metrics = values[task] ?? [:]
            return (task, .object(metrics.keys.sorted().map { name -> (String, JSON) in (name, .number(metrics[name] ?? .nan)) }))
        })
    }

    /// Writes the comparison's JSON (`json(...)`) to `path`, replacing it whole.
    static func write(_ comparison: MethodComparison, summaries: [MethodComparison.Summary], to path: String, recipe: JSON, device: String,
                      deviceName: String, seeds: [UInt64], baselines: [UInt64: [String: [String: Double]]], complete: Bool) throws {
        try OutputPaths.write(json(recipe: recipe, device: device, deviceName: deviceName, seeds: seeds, comparison: comparison, summaries: summaries,
                                   baselines: baselines, complete: complete).rendered() + "\n", to: path, what: "comparison")
    }

    static func json(recipe: JSON, device: String, deviceName: String, seeds: [UInt64], comparison: MethodComparison,
                     summaries: [MethodComparison.Summary], baselines: [UInt64: [String: [String: Double]]], complete: Bool) -> JSON {
        func statistic(_ s: MethodComparison.Statistic) -> JSON { .object([("mean", .number(s.mean)), ("sd", .number(s.standardDeviation))]) }
        let columns = comparison.columns
        let baselineFields: [(String, JSON)] = baselines.keys.sorted().map { seed in ("\(seed)", metricsObject(baselines[seed] ?? [:])) }
        var methodObjects: [JSON] = []
        for (method, s) in zip(comparison.methods, summaries) {
            let runs: [JSON] = method.runs.map { run in
                let fields: [(String, JSON)] = [("seed", .number(Double(run.seed))), ("test", .object(metricsJSON(run.test))),
                                                ("delta_m", run.deltaM.map(JSON.number) ?? .null),
                                                ("seconds_per_step", .number(run.secondsPerStep))]
                return .object(fields)
            }
            let metrics: [(String, JSON)] = zip(columns, s.metrics).map { ("\($0.task).\($0.metric)", statistic($1)) }
            let fields: [(String, JSON)] = [
                ("name", .string(method.name)),
                ("weighting_args", .object(method.settings.keys.sorted().map { ($0, .string(method.settings[$0] ?? "")) })),
                ("runs", .array(runs)), ("metrics", .object(metrics)),
                ("delta_m", s.deltaM.map(statistic) ?? .null), ("mean_rank", .number(s.meanRank)),
                ("seconds_per_step", statistic(s.secondsPerStep)), ("relative_cost", s.relativeCost.map(JSON.number) ?? .null),
            ]
            methodObjects.append(.object(fields))
        }
        let columnObjects: [JSON] = columns.map { column in
            .object([("task", .string(column.task)), ("metric", .string(column.metric)), ("higher_is_better", .bool(column.higherIsBetter))]
                    + (column.auxiliary ? [("auxiliary", .bool(true))] : []))
        }
        let fields: [(String, JSON)] = [
            ("recipe", recipe), ("device", .string(device)), ("device_name", .string(deviceName)),
            ("seeds", .array(seeds.map { .number(Double($0)) })), ("columns", .array(columnObjects)),
            ("baselines", .object(baselineFields)), ("methods", .array(methodObjects)), ("complete", .bool(complete)),
        ]
        return .object(fields)
    }
}
