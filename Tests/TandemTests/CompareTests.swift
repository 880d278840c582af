import Foundation
import Testing
@testable import Tandem
import TandemRunLog

/// `tandem compare` and what it summarises (`MethodComparison`, `ComparisonChart`).
@Suite("comparing weightings")
struct CompareTests {
    static func result(_ values: [(String, [(String, Double, Bool)])]) -> EvaluationResult {
        EvaluationResult(tasks: values.map { task, metrics in
            TaskMetrics(task: task, loss: 0, metrics: metrics.map { Metric(name: $0.0, value: $0.1, higherIsBetter: $0.2) })
        })
    }

    @Test("ranks share places on ties; statistics use n − 1; Δm, rank and cost by hand")
    func summaries() throws {
        #expect(MethodComparison.ranks([0.9, 0.7, 0.9, 0.1], higherIsBetter: true) == [1.5, 3, 1.5, 4])
        #expect(MethodComparison.ranks([0.9, 0.7, 0.9, 0.1], higherIsBetter: false) == [3.5, 2, 3.5, 1])
        let s = MethodComparison.Statistic([1, 2, 3, 4])
        #expect(s.mean == 2.5 && abs(s.standardDeviation - (5.0 / 3).squareRoot()) < 1e-15)
        #expect(MethodComparison.Statistic([7]).standardDeviation == 0)
        // Two methods, two seeds, accuracy (higher better) and error (lower better).
        func run(_ seed: UInt64, _ accuracy: Double, _ error: Double, _ delta: Double, _ seconds: Double) -> MethodComparison.Run {
            .init(seed: seed, test: Self.result([("a", [("accuracy", accuracy, true)]), ("b", [("mae", error, false)])]),
                  deltaM: delta, secondsPerStep: seconds)
        }
        let comparison = MethodComparison(methods: [
            .init(name: "ew", runs: [run(0, 0.8, 1.0, 0.01, 0.010), run(1, 0.9, 1.2, 0.03, 0.012)]),
            .init(name: "nash-mtl", runs: [run(0, 0.7, 0.9, 0.02, 0.020), run(1, 0.8, 1.1, 0.04, 0.024)]),
        ])
        #expect(comparison.columns.map(\.metric) == ["accuracy", "mae"])
        let rows = try comparison.summaries()
        #expect(abs(rows[0].metrics[0].mean - 0.85) < 1e-12 && abs(rows[1].metrics[1].mean - 1.0) < 1e-12)
        // ew is first on accuracy, second on mae: mean rank 1.5; nash-mtl the other way round.
        #expect(rows[0].meanRank == 1.5 && rows[1].meanRank == 1.5)
        #expect(abs(rows[1].deltaM!.mean - 0.03) < 1e-12 && abs(rows[1].deltaM!.standardDeviation - 0.02.squareRoot() * 0.1) < 1e-12)
        #expect(abs(rows[1].relativeCost! - 2) < 1e-12 && rows[0].relativeCost == 1)
        // A run that lacks a metric is an error naming it.
        var broken = comparison
        broken.methods[1].runs[1].test = Self.result([("a", [("accuracy", 0.5, true)])])
        #expect(throws: TandemError.self) { try broken.summaries() }
    }

    @Test("the chart is well-formed SVG with one bar per method, also without baselines")
    func chart() throws {
        for withDelta in [true, false] {
            let rows = [ComparisonChart.Row(name: "ew", deltaM: withDelta ? (1.5, 0.5) : nil, meanRank: 2, relativeCost: 1),
                        ComparisonChart.Row(name: "<pcgrad>", deltaM: withDelta ? (-2, 0.3) : nil, meanRank: 1, relativeCost: 2.4)]
            let svg = ComparisonChart.svg(title: "a & b", rows: rows)
            #expect(RunReportTests.xmlProblem(svg) == nil, "\(RunReportTests.xmlProblem(svg) ?? "")")
            #expect(svg.components(separatedBy: "<rect ").count - 1 == 3, "background and two bars")
            #expect(svg.contains("&lt;pcgrad&gt;") && svg.contains("×2.40"))
        }
    }

    @Test("tandem compare: a small comparison prints the table, writes JSON whose Δm matches its runs, and an SVG")
    func command() throws {
        let folder = temporaryDirectory("compare")
        let json = folder + "/c.json", svg = folder + "/c.svg"
        let result = try runTandem(["compare", "--model", "mmoe", "--data", "mmoe-synth", "--weightings", "ew,cagrad,upgrad",
                                    "--seeds", "2", "--epochs", "2", "--limit", "300", "--batch-size", "64", "--device", "cpu",
                                    "--json", json, "--chart", svg])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("Δm %") && result.stdout.contains("upgrad") && result.stdout.contains("× ew"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let methods = try #require(object["methods"] as? [[String: Any]])
        #expect(methods.map { $0["name"] as? String } == ["ew", "cagrad", "upgrad"])
        let baselines = try #require(object["baselines"] as? [String: [String: [String: Double]]])
        #expect(baselines.keys.sorted() == ["0", "1"])
        for method in methods {
            let runs = try #require(method["runs"] as? [[String: Any]])
            #expect(runs.count == 2)
            var deltas: [Double] = []
            for run in runs {
                let seed = "\(try #require(run["seed"] as? Int))"
                let test = try #require(run["test"] as? [String: [String: Double]])
                // Δm recomputed from the run's test metrics and the seed's baselines (mse and mae: lower is better).
                var total = 0.0
                for (task, metrics) in test {
                    let base = try #require(baselines[seed]?[task])
                    var sum = 0.0
                    for (name, b) in base { sum -= (try #require(metrics[name]) - b) / b }
                    total += sum / Double(base.count)
                }
                let delta = try #require(run["delta_m"] as? Double)
                #expect(abs(delta - total / Double(test.count)) < 1e-9, "\(method["name"]!) seed \(seed)")
                deltas.append(delta)
                #expect((run["seconds_per_step"] as? Double ?? 0) > 0)
            }
            let summary = try #require(method["delta_m"] as? [String: Double])
            #expect(abs(summary["mean"]! - deltas.reduce(0, +) / 2) < 1e-12)
        }
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(RunReportTests.xmlProblem(picture) == nil && picture.contains("upgrad"))
        // Bad input: a clear usage error, nothing written.
        let bad = try runTandem(["compare", "--weightings", "ew,nash", "--json", folder + "/bad.json"])
        #expect(bad.status == 64 && bad.stderr.contains("unknown weighting 'nash'"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/bad.json"))
        let twice = try runTandem(["compare", "--weighting", "ew"])
        #expect(twice.status == 64 && twice.stderr.contains("--weightings"), "\(twice.stderr)")

        // --merge: a third seed of the same methods, and a method without baselines, join the first comparison.
        let common = ["compare", "--model", "mmoe", "--data", "mmoe-synth", "--epochs", "2", "--limit", "300", "--batch-size", "64", "--device", "cpu"]
        let third = folder + "/seed2.json", extra = folder + "/stch.json", merged = folder + "/merged.json"
        let r1 = try runTandem(common + ["--weightings", "ew,cagrad,upgrad", "--seed", "2", "--seeds", "1", "--json", third])
        let r2 = try runTandem(common + ["--weightings", "stch", "--seeds", "2", "--no-baselines", "--json", extra])
        #expect(r1.status == 0 && r2.status == 0, "\(r1.stderr)\(r2.stderr)")
        let m = try runTandem(["compare", "--merge", "\(json),\(third),\(extra)", "--json", merged, "--chart", folder + "/merged.svg"])
        #expect(m.status == 0 && m.stdout.contains("Merged 4 weightings over seeds 0, 1, 2"), "\(m.stdout)\(m.stderr)")
        func load(_ path: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        }
        func runs(_ object: [String: Any], _ name: String) throws -> [[String: Any]] {
            let methods = try #require(object["methods"] as? [[String: Any]])
            return try #require(methods.first { $0["name"] as? String == name }?["runs"] as? [[String: Any]])
        }
        let out = try load(merged), first = try load(json), extraObject = try load(extra)
        #expect((out["methods"] as? [[String: Any]])?.map { $0["name"] as? String } == ["ew", "cagrad", "upgrad", "stch"])
        #expect(try runs(out, "ew").map { $0["seed"] as? Int } == [0, 1, 2])
        for (a, b) in zip(try runs(out, "ew").prefix(2), try runs(first, "ew")) {
            #expect(a["test"] as? [String: [String: Double]] == b["test"] as? [String: [String: Double]])
            #expect(a["delta_m"] as? Double == b["delta_m"] as? Double)
        }
        // stch had no baselines of its own: its Δm comes from the first file's.
        let outBaselines = try #require(out["baselines"] as? [String: [String: [String: Double]]])
        #expect(outBaselines.keys.sorted() == ["0", "1", "2"])
        for run in try runs(out, "stch") {
            let seed = "\(try #require(run["seed"] as? Int))"
            let test = try #require(run["test"] as? [String: [String: Double]])
            var total = 0.0
            for (task, metrics) in test {
                let base = try #require(outBaselines[seed]?[task])
                total += base.reduce(0.0) { $0 - (metrics[$1.key]! - $1.value) / $1.value } / Double(base.count)
            }
            #expect(abs(try #require(run["delta_m"] as? Double) - total / Double(test.count)) < 1e-9)
        }
        #expect(try runs(extraObject, "stch").allSatisfy { $0["delta_m"] is NSNull })
        // Bad merges: a file twice, another recipe, something that is not a comparison, options that train.
        let again = try runTandem(["compare", "--merge", "\(json),\(json)"])
        #expect(again.status != 0 && again.stderr.contains("in more than one file"), "\(again.stderr)")
        let other = folder + "/other.json"
        _ = try runTandem(common.map { $0 == "2" ? "1" : $0 } + ["--weightings", "ew", "--seed", "5", "--seeds", "1", "--json", other])
        let mismatch = try runTandem(["compare", "--merge", "\(json),\(other)"])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("another recipe"), "\(mismatch.stderr)")
        let notOne = try runTandem(["compare", "--merge", svg])
        #expect(notOne.status != 0 && notOne.stderr.contains(svg), "\(notOne.stderr)")
        let mixed = try runTandem(["compare", "--merge", json, "--weightings", "ew"])
        #expect(mixed.status == 64 && mixed.stderr.contains("--merge"), "\(mixed.stderr)")
    }

    @Test("--weighting-arg METHOD:key=value sets one method's settings, named in the table and the JSON; bad ones are usage errors")
    func settings() throws {
        let folder = temporaryDirectory("compare-settings")
        let recipe = ["compare", "--model", "mmoe", "--data", "mmoe-synth", "--epochs", "1", "--limit", "300", "--batch-size", "64",
                      "--seeds", "1", "--device", "cpu", "--weightings", "ew,cagrad"]
        let set = try runTandem(recipe + ["--weighting-arg", "cagrad:c=0.8", "--json", folder + "/c08.json"])
        #expect(set.status == 0 && set.stdout.contains("cagrad (c=0.8)"), "\(set.stdout)\(set.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/c08.json"))) as? [String: Any])
        let methods = try #require(object["methods"] as? [[String: Any]])
        #expect(methods.map { $0["weighting_args"] as? [String: String] } == [[:], ["c": "0.8"]])
        let plain = try runTandem(recipe + ["--seed", "1", "--json", folder + "/plain.json"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let merged = try runTandem(["compare", "--merge", folder + "/c08.json," + folder + "/plain.json"])
        #expect(merged.status != 0 && merged.stderr.contains("one setting per method"), "\(merged.stderr)")
        for (argument, message) in [("c=0.8", "METHOD:key=value"), ("pcgrad:c=1", "not one of the compared methods"),
                                    ("cagrad:radius=1", "unknown setting 'radius'"), ("cagrad:c=-1", "'c' must be a number")] {
            let bad = try runTandem(recipe + ["--weighting-arg", argument])
            #expect(bad.status == 64 && bad.stderr.contains(message), "\(argument): \(bad.stderr)")
        }
    }

    @Test("an interrupted comparison keeps its finished runs in --json (marked incomplete); --merge joins them with the rest")
    func interrupted() throws {
        let folder = temporaryDirectory("compare-interrupted")
        let part = folder + "/part.json", rest = folder + "/rest.json", whole = folder + "/whole.json"
        let recipe = ["compare", "--model", "mmoe", "--data", "mmoe-synth", "--epochs", "3", "--limit", "2000", "--batch-size", "16",
                      "--seeds", "1", "--device", "cpu"]
        let (status, text) = try TrustworthyRunTests.runAndTerminate(recipe + ["--weightings", "ew,pcgrad", "--json", part], after: "seed 0: ew:")
        #expect(status == 143, "\(text)")
        #expect(text.contains("the runs finished so far are in \(part)"), "\(text)")
        let saved = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: part))) as? [String: Any])
        #expect(saved["complete"] as? Bool == false)
        #expect((saved["methods"] as? [[String: Any]])?.map { $0["name"] as? String } == ["ew"])
        let r = try runTandem(recipe + ["--weightings", "pcgrad", "--no-baselines", "--json", rest])
        let w = try runTandem(recipe + ["--weightings", "ew,pcgrad", "--json", whole])
        #expect(r.status == 0 && w.status == 0, "\(r.stderr)\(w.stderr)")
        let merged = try runTandem(["compare", "--merge", "\(part),\(rest)"])
        #expect(merged.status == 0 && merged.stdout.contains("holds the finished runs of an interrupted comparison"), "\(merged.stdout)\(merged.stderr)")
        // The same table as one uninterrupted comparison, but for the times.
        func rows(_ output: String) -> [String] {
            output.split(separator: "\n").filter { $0.hasPrefix("ew ") || $0.hasPrefix("pcgrad ") }.map { line in
                String(line.split(separator: " ", omittingEmptySubsequences: true).prefix(11).joined(separator: " "))
            }
        }
        #expect(rows(merged.stdout).count == 2 && rows(merged.stdout) == rows(w.stdout), "\(merged.stdout)\n\(w.stdout)")
    }
}
