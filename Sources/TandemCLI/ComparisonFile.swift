import Tandem
import TandemRunLog

/// A comparison as `tandem compare --json` writes it, read back so that several can be merged
/// (`tandem compare --merge`): comparisons of other methods or other seeds with one recipe, run one
/// after another or side by side, give one table.
struct ComparisonFile {
    /// The recipe as written (its first seed, the weighting of whichever method came first).
    var recipe: JSON
    var device: String
    var deviceName: String
    var columns: [MethodComparison.Column]
    /// seed → task → metric → single-task value.
    var baselines: [UInt64: [String: [String: Double]]]
    var methods: [MethodComparison.Method]
    /// False for the runs an interrupted or failed comparison had finished.
    var complete: Bool

    /// The recipe keys that may differ between merged comparisons (they vary per method and seed).
    static let perRunKeys: Set<String> = ["weighting", "weights", "weighting_args", "seed"]

    /// Reads the comparison at `path`; a file that cannot be read or is not one is a `CommandError`
    /// naming it and what is wrong.
    static func read(_ path: String) throws -> ComparisonFile {
        func fail(_ message: String) -> CommandError { CommandError("--merge \(path): \(message)") }
        let bytes: [UInt8]
        switch System.readRegularFile(path, limit: 64 << 20) {
        case let .success(read): bytes = read
        case let .failure(error): throw CommandError("--merge: \(error)")
        }
        let json: JSON
        do { json = try JSON.parse(bytes) } catch { throw fail("\(error)") }
        guard let recipe = json["recipe"], case .object = recipe, case let .string(device)? = json["device"],
              case let .string(deviceName)? = json["device_name"], case let .array(columnItems)? = json["columns"],
              case let .object(baselineItems)? = json["baselines"], case let .array(methodItems)? = json["methods"] else {
            throw fail("not a comparison written by 'tandem compare --json' (it needs recipe, device, device_name, columns, baselines and methods)")
        }
        let columns = try columnItems.map { item -> MethodComparison.Column in
            guard case let .string(task)? = item["task"], case let .string(metric)? = item["metric"],
                  case let .bool(higher)? = item["higher_is_better"] else {
                throw fail("a column needs task, metric and higher_is_better")
            }
            var auxiliary = false
            if let flag = item["auxiliary"] {
                guard case let .bool(value) = flag else { throw fail("a column's auxiliary must be true or false") }
                auxiliary = value
            }
            return MethodComparison.Column(task: task, metric: metric, higherIsBetter: higher, auxiliary: auxiliary)
        }
        func seed(_ value: JSON?, _ what: String) throws -> UInt64 {
            guard let n = value?.exactInteger, n >= 0 else { throw fail("\(what) is not a seed (a whole number ≥ 0)") }
            return UInt64(n)
        }
        func number(_ value: JSON?) -> Double? {
            switch value {
            case let .number(n)?: return n
            case .null?: return .nan
            default: return nil
            }
        }
        func metrics(_ value: JSON, _ what: String) throws -> [String: [String: Double]] {
            guard case let .object(tasks) = value else { throw fail("\(what) must be an object of tasks") }
            var out: [String: [String: Double]] = [:]
            for (task, metricsValue) in tasks {
                guard case let .object(items) = metricsValue else { throw fail("\(what).\(task) must be an object of metrics") }
                var values: [String: Double] = [:]
                for (name, v) in items {
                    guard let n = number(v) else { throw fail("\(what).\(task).\(name) must be a number") }
                    values[name] = n
                }
                out[task] = values
            }
            return out
        }
        var baselines: [UInt64: [String: [String: Double]]] = [:]
        for (key, value) in baselineItems {
            guard let n = UInt64(key) else { throw fail("baseline key '\(key)' is not a seed") }
            baselines[n] = try metrics(value, "baselines.\(key)")
        }
        let methods = try methodItems.map { item -> MethodComparison.Method in
            guard case let .string(name)? = item["name"], case let .array(runItems)? = item["runs"] else {
                throw fail("a method needs a name and runs")
            }
            let runs = try runItems.map { run -> MethodComparison.Run in
                let s = try seed(run["seed"], "a run's seed of \(name)")
                guard let test = run["test"], let seconds = number(run["seconds_per_step"]) else {
                    throw fail("\(name), seed \(s): a run needs test and seconds_per_step")
                }
                let values = try metrics(test, "\(name).test")
                let result = EvaluationResult(tasks: try Self.taskOrder(columns).map { task in
                    guard let taskValues = values[task] else { throw fail("\(name), seed \(s): no test metrics of task '\(task)'") }
                    let metrics = columns.filter { $0.task == task }.map { column in
                        Metric(name: column.metric, value: taskValues[column.metric] ?? .nan, higherIsBetter: column.higherIsBetter)
                    }
                    return TaskMetrics(task: task, loss: taskValues["loss"] ?? .nan, metrics: metrics,
                                       auxiliary: columns.contains { $0.task == task && $0.auxiliary })
                })
                return MethodComparison.Run(seed: s, test: result, deltaM: number(run["delta_m"]).flatMap { $0.isNaN ? nil : $0 },
                                            secondsPerStep: seconds)
            }
            var settings: [String: String] = [:]
            if case let .object(items)? = item["weighting_args"] {
                for (key, value) in items {
                    guard case let .string(text) = value else { throw fail("\(name).weighting_args.\(key) must be a string") }
                    settings[key] = text
                }
            }
            return MethodComparison.Method(name: name, runs: runs, settings: settings)
        }
        var complete = true
        if case let .bool(flag)? = json["complete"] { complete = flag }
        return ComparisonFile(recipe: recipe, device: device, deviceName: deviceName, columns: columns, baselines: baselines, methods: methods,
                              complete: complete)
    }

    /// The tasks of `columns`, in their first order.
    static func taskOrder(_ columns: [MethodComparison.Column]) -> [String] {
        var seen: [String] = []
        for column in columns where !seen.contains(column.task) { seen.append(column.task) }
        return seen
    }

    /// The recipe without the keys that vary per run.
    static func sharedRecipe(_ recipe: JSON) -> JSON {
        guard case let .object(fields) = recipe else { return recipe }
        return .object(fields.filter { !perRunKeys.contains($0.0) })
    }

    /// One comparison of every method and seed of `files` (named by `paths` in errors). The files
    /// must share the recipe (but for the weighting and seed), the device and the metrics; a
    /// baseline given twice must agree; a method's seed may come from one file only. Δm is computed
    /// anew for every run whose seed has baselines in any file.
    static func merge(_ files: [ComparisonFile], paths: [String]) throws -> ComparisonFile {
        guard var merged = files.first else { throw CommandError("--merge names no file") }
        for (file, path) in zip(files, paths).dropFirst() {
            if sharedRecipe(file.recipe) != sharedRecipe(merged.recipe) {
                throw CommandError("--merge: \(path) has another recipe than \(paths[0]) (beyond the weighting and seed): \(sharedRecipe(file.recipe).rendered()) vs \(sharedRecipe(merged.recipe).rendered())")
            }
            guard file.device == merged.device else {
                throw CommandError("--merge: \(path) ran on \(file.device), \(paths[0]) on \(merged.device); times per step would not compare")
            }
            guard file.columns == merged.columns else {
                throw CommandError("--merge: \(path) has other metrics than \(paths[0])")
            }
            for (seed, values) in file.baselines {
                if let existing = merged.baselines[seed], existing != values {
                    throw CommandError("--merge: the single-task baselines of seed \(seed) differ between the files (\(path))")
                }
                merged.baselines[seed] = values
            }
            for method in file.methods {
                guard let index = merged.methods.firstIndex(where: { $0.name == method.name }) else {
                    merged.methods.append(method)
                    continue
                }
                guard merged.methods[index].settings == method.settings else {
                    throw CommandError("--merge: \(path) runs \(method.label), another file \(merged.methods[index].label); one table holds one setting per method")
                }
                let seeds = Set(merged.methods[index].runs.map(\.seed))
                if let twice = method.runs.first(where: { seeds.contains($0.seed) }) {
                    throw CommandError("--merge: \(method.name) with seed \(twice.seed) is in more than one file (\(path))")
                }
                merged.methods[index].runs += method.runs
            }
        }
        for m in merged.methods.indices {
            merged.methods[m].runs.sort { $0.seed < $1.seed }
            for r in merged.methods[m].runs.indices {
                let run = merged.methods[m].runs[r]
                merged.methods[m].runs[r].deltaM = try merged.baselines[run.seed].map { try DeltaM.compute(run.test, baselines: $0) }
            }
        }
        return merged
    }

    /// The seeds of every run, in order.
    var seeds: [UInt64] { Array(Set(methods.flatMap { $0.runs.map(\.seed) })).sorted() }
}
