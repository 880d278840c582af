import Foundation
import Testing
@testable import Tandem
import TandemRunLog

/// Issue 19, item 1: `tandem group` — the choice of networks under a budget (Standley et al. 2020),
/// the higher-order approximation, TAG's affinity grouping (Fifty et al. 2021), the trainings they
/// read, and the command.
@Suite("Task grouping")
struct TaskGroupingTests {
    /// A table from `rows`: group members → per-task values (tasks outside the group ignored).
    static func table(_ tasks: Int, _ rows: [([Int], [Double])]) throws -> GroupScores {
        var scores = GroupScores(taskCount: tasks)
        for (members, values) in rows { try scores.set(TaskGroup(members), values) }
        return scores
    }

    @Test("groups: bit sets ordered by size, every subset once, pairs and singles for HOA")
    func groups() {
        let all = TaskGroup.all(tasks: 3)
        #expect(all.map(\.members) == [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]])
        #expect(TaskGroup.all(tasks: 4, upTo: 2).count == 10 && HigherOrderApproximation.trainedGroups(tasks: 4).count == 10)
        #expect(TaskGroup([2, 0, 2]).members == [0, 2] && TaskGroup([0, 2]).label(["a", "b", "c"]) == "{a, c}")
        #expect(TaskGroup.all(tasks: 6).count == 63)
    }

    /// Three tasks, worked by hand. Alone every task is worth 1; {0,1} gives 0.8 and 0.9; {1,2} 0.95
    /// and 0.7; {0,2} 1.1 and 1.2; all three 0.9, 1.0, 0.85.
    static func handTable() throws -> GroupScores {
        try table(3, [([0], [1, 0, 0]), ([1], [0, 1, 0]), ([2], [0, 0, 1]),
                      ([0, 1], [0.8, 0.9, 0]), ([1, 2], [0, 0.95, 0.7]), ([0, 2], [1.1, 0, 1.2]), ([0, 1, 2], [0.9, 1.0, 0.85])])
    }

    @Test("the choice under a budget, by hand: one, two and three networks; shared tasks or a partition; costs")
    func selectionByHand() throws {
        let scores = try Self.handTable()
        // One network: it must hold every task: {0,1,2} = 0.9 + 1.0 + 0.85 = 2.75.
        let one = try GroupSelection.search(scores, budget: 1)
        #expect(one.groups == [TaskGroup([0, 1, 2])] && abs(one.total - 2.75) < 1e-12)
        // Two networks may share task 1: {0,1} serves 0 (0.8) and 1 (0.9), {1,2} serves 2 (0.7): 2.4.
        let two = try GroupSelection.search(scores, budget: 2)
        #expect(two.groups == [TaskGroup([0, 1]), TaskGroup([1, 2])] && abs(two.total - 2.4) < 1e-12)
        #expect(two.serving == [TaskGroup([0, 1]), TaskGroup([0, 1]), TaskGroup([1, 2])] && two.values == [0.8, 0.9, 0.7])
        // As a partition: {0} + {1,2} = 1 + 0.95 + 0.7 = 2.65 beats {0,1} + {2} = 2.7, {0,2} + {1} = 3.3 and {0,1,2} = 2.75.
        let partition = try GroupSelection.search(scores, budget: 2, disjoint: true)
        #expect(partition.groups == [TaskGroup([0]), TaskGroup([1, 2])] && abs(partition.total - 2.65) < 1e-12)
        // Three networks: {0,1} and {1,2} already give each task its best value, so a third is not added.
        let three = try GroupSelection.search(scores, budget: 3)
        #expect(three.groups == two.groups && three.cost == 2)
        // Costs: a pair costs 0.7, the triple 1, a single 0.4; budget 1.1 allows a pair and a single (1.1) but not two
        // pairs (1.4) or three singles (1.2): {0} + {1,2} = 2.65 is the best of those and the triple (2.75).
        let costed = try GroupSelection.search(scores, budget: 1.1) { $0.count == 1 ? 0.4 : ($0.count == 2 ? 0.7 : 1) }
        #expect(costed.groups == [TaskGroup([0]), TaskGroup([1, 2])] && abs(costed.total - 2.65) < 1e-12 && abs(costed.cost - 1.1) < 1e-12)
        // Nothing fits: a budget below every network's cost, or a task no scored group holds.
        #expect(throws: TandemError.self) { try GroupSelection.search(scores, budget: 0.3) { _ in 0.5 } }
        #expect(throws: TandemError.self) { try GroupSelection.search(try Self.table(2, [([0], [1, 0])]), budget: 2) }
        #expect(throws: TandemError.self) { try GroupSelection.search(scores, budget: .nan) }
    }

    @Test("branch and bound equals exhaustive search on random tables (3–4 tasks, costs, shared or disjoint)")
    func selectionExhaustive() throws {
        let seed = TestSeed()
        var random = seed.generator
        for round in 0..<40 {
            let tasks = round % 2 == 0 ? 3 : 4
            var scores = GroupScores(taskCount: tasks)
            var costs: [TaskGroup: Double] = [:]
            for group in TaskGroup.all(tasks: tasks) {
                try scores.set(group, (0..<tasks).map { _ in Double(random.next() % 1000) / 1000 + 0.5 })
                costs[group] = round % 4 < 2 ? 1 : Double(random.next() % 100) / 100 + 0.2
            }
            let budget = Double(random.next() % 3 + 1) * (round % 4 < 2 ? 1 : 0.6)
            let disjoint = round % 3 == 0
            let candidates = scores.groups
            var best = Double.infinity
            for subset in 1..<(1 << candidates.count) {
                let chosen = candidates.indices.filter { subset & (1 << $0) != 0 }.map { candidates[$0] }
                guard chosen.map({ costs[$0]! }).reduce(0, +) <= budget + 1e-9 else { continue }
                if disjoint, chosen.map(\.count).reduce(0, +) != TaskGroup(chosen.flatMap(\.members)).count { continue }
                var total = 0.0
                for t in 0..<tasks {
                    let values = chosen.filter { $0.contains(t) }.map { scores[$0, t]! }
                    total += values.min() ?? .infinity
                }
                best = Swift.min(best, total)
            }
            if best.isFinite {
                let found = try GroupSelection.search(scores, budget: budget, disjoint: disjoint) { costs[$0]! }
                #expect(abs(found.total - best) < 1e-9, "round \(round), \(seed): \(found.total) vs exhaustive \(best)")
                #expect(found.cost <= budget + 1e-9 && (0..<tasks).allSatisfy { t in found.groups.contains { $0.contains(t) } })
            } else {
                #expect(throws: TandemError.self, "round \(round), \(seed)") {
                    try GroupSelection.search(scores, budget: budget, disjoint: disjoint) { costs[$0]! }
                }
            }
        }
    }

    @Test("HOA: a task's value in a larger group is the mean of its pairs in it; relative values divide by the task alone")
    func higherOrder() throws {
        // Task losses: alone 2, 4, 8; in pairs {0,1}: 1.5, 3; {0,2}: 1.8, 6; {1,2}: 4.4, 7.
        let measured = try Self.table(3, [([0], [2, 0, 0]), ([1], [0, 4, 0]), ([2], [0, 0, 8]),
                                          ([0, 1], [1.5, 3, 0]), ([0, 2], [1.8, 0, 6]), ([1, 2], [0, 4.4, 7])])
        let relative = try measured.relativeToSingles()
        #expect(relative[TaskGroup([0, 1]), 0] == 0.75 && relative[TaskGroup([1, 2]), 2] == 0.875 && relative[TaskGroup([2]), 2] == 1)
        let hoa = try HigherOrderApproximation.scores(from: relative)
        let all = TaskGroup([0, 1, 2])
        #expect(abs(hoa[all, 0]! - (0.75 + 0.9) / 2) < 1e-12)
        #expect(abs(hoa[all, 1]! - (0.75 + 1.1) / 2) < 1e-12)
        #expect(abs(hoa[all, 2]! - (0.75 + 0.875) / 2) < 1e-12)
        #expect(hoa.groups.count == 7)
        // A pair missing is an error that names it; so is a single missing for the relative values.
        var partial = GroupScores(taskCount: 3)
        try partial.set(TaskGroup([0]), [1, 0, 0])
        #expect(throws: TandemError.self) { try HigherOrderApproximation.scores(from: partial) }
        #expect(throws: TandemError.self) { try partial.relativeToSingles() }
        #expect(throws: TandemError.self) { try partial.set(TaskGroup([0, 1]), [1, .nan, 0]) }
        // The mean of two tables, group by group.
        let mean = try GroupScores.mean([relative, try measured.relativeToSingles()])
        #expect(mean == relative)
    }

    @Test("TAG: minus the mean affinity onto each task from its group; planted pairs are chosen with two networks")
    func affinityGrouping() throws {
        // Z[i][j]: pairs {0,1} and {2,3} help each other, the rest hurts a little.
        let z: [[Double]] = [[0, 0.05, -0.01, 0.0], [0.04, 0, -0.02, -0.01], [-0.01, 0.0, 0, 0.03], [0.0, -0.02, 0.06, 0]]
        let scores = try AffinityGrouping.scores(lookahead: z)
        #expect(scores[TaskGroup([0]), 0] == 0 && scores[TaskGroup([0, 1]), 0] == -0.04 && scores[TaskGroup([0, 1]), 1] == -0.05)
        #expect(abs(scores[TaskGroup([0, 1, 2]), 2]! - -(-0.01 - 0.02) / 2) < 1e-12)
        let choice = try GroupSelection.search(scores, budget: 2)
        #expect(choice.groups == [TaskGroup([0, 1]), TaskGroup([2, 3])] && abs(choice.total - -0.18) < 1e-12)
        var unmeasured = z
        unmeasured[1][3] = .nan
        #expect(throws: TandemError.self) { try AffinityGrouping.scores(lookahead: unmeasured) }
        #expect(throws: TandemError.self) { try AffinityGrouping.scores(lookahead: [[0, 1]]) }
    }

    @Test("ESA reads the best epoch among the first k, as a run of k epochs would pick it")
    func earlyStoppingEpoch() {
        let run = GroupRun(group: TaskGroup([0]), seed: 0, validationLosses: [[3], [2], [2.5], [1]], scores: [0, 0.4, 0.3, 0.9],
                           bestEpoch: 3, test: EvaluationResult(tasks: []), seconds: 0)
        #expect(run.selectedEpoch(within: 1) == 0 && run.selectedEpoch(within: 3) == 1 && run.selectedEpoch() == 3)
        #expect(run.values(within: 3) == [2] && run.values() == [1] && run.selectedEpoch(within: 10) == 3)
    }

    @Test("SegNet-MTAN of some of its tasks: only their branches and heads; all three as before; out of order refused")
    func segNetSubsets() throws {
        let widths = Workload.tinySegNetWidths
        let full = try SegNetMTAN(widths: widths, random: RandomSource(seed: 3), on: CPUDevice.shared)
        let explicit = try SegNetMTAN(widths: widths, tasks: full.tasks, random: RandomSource(seed: 3), on: CPUDevice.shared)
        let a = full.namedTensors(), b = explicit.namedTensors()
        #expect(a.map(\.0) == b.map(\.0) && a.contains { $0.0 == "pred_task1.1.bias" })
        for ((name, x), (_, y)) in zip(a, b) { #expect(try x.values() == y.values(), "\(name)") }
        let pair = try ModelFactory.make("mtan", tasks: [TaskSpec("depth", .depth), TaskSpec("normal", .normals)], inputShape: [3, 64, 64],
                                         seed: 3, on: CPUDevice.shared)
        let names = (pair as! SegNetMTAN).namedTensors().map(\.0)
        #expect(!names.contains { $0.hasPrefix("pred_task1") } && names.contains("pred_task2.1.bias") && names.contains("decoder_att.1.4.0.weight"))
        let three = try SegNetMTAN(random: RandomSource(seed: 3), on: CPUDevice.shared)
        #expect(!names.contains { $0.hasPrefix("decoder_att.2") } && pair.parameterCount < three.parameterCount)
        let x = try Tensor((0..<(2 * 3 * 64 * 64)).map { Float($0 % 17) / 17 }, shape: [2, 3, 64, 64], on: CPUDevice.shared)
        let outputs = try pair.forward(x)
        #expect(outputs.map(\.shape) == [[2, 1, 64, 64], [2, 3, 64, 64]])
        #expect(throws: TandemError.self) {
            try ModelFactory.make("mtan", tasks: [TaskSpec("normal", .normals), TaskSpec("depth", .depth)], inputShape: [3, 64, 64], on: CPUDevice.shared)
        }
    }

    @Test("the grouping picture: valid SVG with long or odd task names, a colour and letter per network, the affinity's scale")
    func picture() throws {
        let tasks = ["segmentation", "depth", "normal <&>"]
        let rows = [GroupingChart.Row(name: "exact", groups: ["{segmentation}", "{depth, normal <&>}"], serving: [0, 1, 1], note: "Δm +1.29 %"),
                    GroupingChart.Row(name: "tag", groups: ["{a}"], serving: [0, -1, 0], note: "")]
        let affinity = GroupingChart.Affinity(title: "Z × 10^3", matrix: [[.nan, 0.002, -0.001], [0.004, .nan, 0], [0, 0, .nan]], scale: 0.004, unit: 1000)
        let svg = GroupingChart.svg(title: "t", caption: "c", tasks: tasks, affinity: affinity, rows: rows)
        #expect(RunReportTests.xmlProblem(svg) == nil, "\(RunReportTests.xmlProblem(svg) ?? "")")
        #expect(svg.contains("rotate(-40") && svg.contains("normal &lt;&amp;&gt;") && svg.contains(">B<") && svg.contains(">?<"))
        #expect(svg.contains("+4.0") && svg.contains(">4.00<") && svg.contains("n/a"))
    }

    /// A small recipe on mmoe-pairs.
    static func recipe() -> TrainingRecipe {
        var recipe = TrainingRecipe()
        recipe.model = "hps"
        recipe.data = "mmoe-pairs"
        recipe.epochs = 2
        recipe.batchSize = 64
        recipe.limit = 300
        recipe.seed = 4
        return recipe
    }

    @Test("a group's network: validation losses per epoch for its tasks only; TAG's measurement changes nothing; CPU and OpenCL agree")
    func groupTraining() throws {
        let recipe = Self.recipe()
        let data = try RunData(recipe: recipe)
        let group = TaskGroup([1, 3])
        let plain = try GroupTraining.train(recipe: recipe, data: data, group: group, device: CPUDevice.shared)
        #expect(plain.affinities == nil && plain.run.validationLosses.count == 2 && plain.run.scores.count == 2)
        for row in plain.run.validationLosses {
            #expect(row[0].isNaN && row[2].isNaN && row[1] > 0 && row[3] > 0)
        }
        #expect(plain.run.test.tasks.map(\.task) == ["task2", "task4"])
        let measured = try GroupTraining.train(recipe: recipe, data: data, group: group, device: CPUDevice.shared, lookahead: (batches: 2, rate: 0.01))
        // Measuring restores the parameters bit for bit and leaves the gradients: the run is the same.
        #expect(measured.run.validationLosses.joined().map(\.bitPattern) == plain.run.validationLosses.joined().map(\.bitPattern), "\(measured.run.validationLosses) vs \(plain.run.validationLosses)")
        let affinities = try #require(measured.affinities)
        #expect(affinities.tasks == [1, 3] && affinities.lookahead.count == 2 && affinities.cosine.count == 2)
        let z = GroupTraining.Affinities.mean(affinities.lookahead)
        #expect(z[0][1].isFinite && z[1][0].isFinite && abs(z[0][1]) < 1)
        // Without a validation split there is nothing to read.
        var none = recipe
        none.validationFraction = 0
        #expect(throws: TandemError.self) { try GroupTraining.train(recipe: none, data: try RunData(recipe: none), group: group, device: CPUDevice.shared) }
        for selector in openCLSelectors {
            let other = try GroupTraining.train(recipe: recipe, data: data, group: group, device: try Devices.select(selector), lookahead: (batches: 2, rate: 0.01))
            for (a, b) in zip(other.run.validationLosses.joined(), plain.run.validationLosses.joined()) where b.isFinite {
                #expect(abs(a - b) <= 1e-3 * Swift.max(1, abs(b)), "\(selector): \(a) vs \(b)")
            }
            let otherZ = GroupTraining.Affinities.mean(try #require(other.affinities).lookahead)
            #expect(abs(otherZ[0][1] - z[0][1]) <= 1e-3 * Swift.max(1e-3, abs(z[0][1])) + 1e-5, "\(selector): Z \(otherZ) vs \(z)")
        }
    }

    @Test("tandem group: every method chooses, --verify tests the choices, JSON and picture are written; bad input is refused")
    func command() throws {
        let folder = temporaryDirectory("group")
        let json = folder + "/g.json", svg = folder + "/g.svg"
        let result = try runTandem(["group", "--model", "hps", "--data", "mmoe-pairs", "--limit", "300", "--epochs", "3", "--batch-size", "64",
                                    "--seeds", "2", "--verify", "--device", "cpu", "--json", json, "--picture", svg])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("Recommended networks") && result.stdout.contains("Verified on the test split"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let tasks = try #require(object["tasks"] as? [String])
        #expect(tasks == ["task1", "task2", "task3", "task4"])
        let methods = try #require(object["methods"] as? [String: Any])
        #expect(Set(methods.keys) == ["tag", "hoa", "esa", "exact"])
        for (name, value) in methods {
            let method = try #require(value as? [String: Any])
            let recommended = try #require(method["recommended"] as? [String: Any])
            let networks = try #require(recommended["networks"] as? [[String]])
            #expect(networks.count <= 2 && Set(networks.joined()) == Set(tasks), "\(name): \(networks)")
            #expect((method["per_seed"] as? [Any])?.count == 2 && (method["table"] as? [Any])?.count == 15)
        }
        // 15 groups × 2 seeds fully trained (exact), each with its epochs' validation losses.
        let runs = try #require(object["runs"] as? [[String: Any]])
        #expect(runs.count == 30 && runs.allSatisfy { ($0["validation_loss"] as? [Any])?.count == 3 })
        let verification = try #require(object["verification"] as? [String: [String: Any]])
        let alone = try #require(verification["each alone"]?["delta_m"] as? [String: Double])
        #expect(alone["mean"] == 0 && verification["all together"] != nil && verification["exact"] != nil)
        // The exact method's test Δm recomputed from the runs: each task's mse from the network serving it.
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(RunReportTests.xmlProblem(picture) == nil && picture.contains("TAG lookahead") && picture.contains("{task1, task2"))
        // A cost budget: each network costs its parameters over the all-task network's.
        let costed = folder + "/costed.json"
        let budget = try runTandem(["group", "--model", "hps", "--data", "mmoe-pairs", "--limit", "300", "--epochs", "2", "--batch-size", "64",
                                    "--methods", "hoa", "--budget", "1.5", "--device", "cpu", "--json", costed])
        #expect(budget.status == 0 && budget.stdout.contains("budget 1.50 ×"), "\(budget.stdout)\(budget.stderr)")
        let costObject = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: costed))) as? [String: Any])
        let costs = try #require(costObject["costs"] as? [[String: Any]])
        // Groups of one size cost the same (each task's head is the same size).
        let byGroup = Dictionary(costs.compactMap { entry -> (Int, Double)? in
            guard let group = entry["group"] as? [String], let cost = entry["cost"] as? Double else { return nil }
            return (group.count, cost)
        }, uniquingKeysWith: { a, b in Swift.max(a, b) })
        #expect(byGroup[4] == 1 && (byGroup[1] ?? 1) < (byGroup[2] ?? 0) && (byGroup[2] ?? 1) < 1, "\(costs)")
        let hoa = try #require((costObject["methods"] as? [String: Any])?["hoa"] as? [String: Any])
        let chosen = try #require((hoa["recommended"] as? [String: Any])?["cost"] as? Double)
        #expect(chosen <= 1.5 + 1e-9)
        // Bad input: clear errors, nothing written.
        let bad = folder + "/bad.json"
        for (arguments, message) in [(["--methods", "tag,foo"], "unknown grouping method 'foo'"), (["--networks", "0"], "--networks"),
                                     (["--networks", "2", "--budget", "1.5"], "not both"), (["--auxiliary", "task1"], "auxiliary")] {
            let r = try runTandem(["group", "--data", "mmoe-pairs", "--json", bad] + arguments)
            #expect(r.status == 64 && r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
        let noValidation = try runTandem(["group", "--model", "hps", "--data", "mmoe-pairs", "--val-fraction", "0", "--device", "cpu", "--json", bad])
        #expect(noValidation.status == 1 && noValidation.stderr.contains("--val-fraction"), "\(noValidation.stderr)")
        let shortESA = try runTandem(["group", "--model", "hps", "--data", "mmoe-pairs", "--epochs", "3", "--esa-epochs", "3", "--device", "cpu"])
        #expect(shortESA.status == 1 && shortESA.stderr.contains("--esa-epochs"), "\(shortESA.stderr)")
        #expect(!FileManager.default.fileExists(atPath: bad))
    }
}
