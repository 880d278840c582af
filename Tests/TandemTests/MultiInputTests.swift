import Testing
@testable import Tandem

/// Issue 20, item 0: multi-input training (each task with its own data) and the loader's task sampling.
@Suite("Multi-input data and task sampling")
struct MultiInputTests {
    /// A one-task part of `count` samples whose inputs are all `value + i/1000` and labels `i % classes`.
    static func part(_ name: String, count: Int, value: Float, classes: Int = 3) throws -> any MultiTaskDataset {
        try ArrayDataset(name: name, inputs: (0..<(count * 4)).map { value + Float($0 / 4) / 1000 }, inputShape: [4],
                         tasks: [DatasetTask(name, .classification(classes: classes))], labels: [(0..<count).map { Float($0 % classes) }])
    }

    static func joined(_ counts: [Int]) throws -> MultiInputDataset {
        try MultiInputDataset(name: "toy", parts: try counts.enumerated().map { t, n in
            MultiInputDataset.Part(name: "t\(t)", data: try part("p\(t)", count: n, value: Float(t + 1) * 10))
        })
    }

    @Test("each sample carries its own task's label only; the parts are interleaved in proportion, so a prefix keeps every share")
    func ownLabels() throws {
        let data = try Self.joined([4, 8])
        #expect(data.count == 12 && data.tasks.map(\.name) == ["t0", "t1"])
        #expect((0..<6).filter { data.part(of: $0) == 0 }.count == 2)
        let batch = data.batch(Array(0..<12))
        for slot in 0..<12 {
            let p = data.part(of: slot)
            let input = batch.inputs[slot * 4]
            #expect((p == 0 ? 10..<11 : 20..<21).contains(input), "sample \(slot) of task \(p) has input \(input)")
            #expect(batch.masks[p]?[slot] == 1 && batch.masks[1 - p]?[slot] == 0)
            #expect(batch.labels[1 - p][slot] == -1)
            let own = Int(((input - Float(p + 1) * 10) * 1000).rounded())
            #expect(batch.labels[p][slot] == Float(own % 3))
        }
        #expect(data.labelledMask(task: 1)?.filter { $0 }.count == 8)
        #expect(throws: TandemError.self) {
            try MultiInputDataset(name: "bad", parts: [.init(name: "a", data: try Self.part("a", count: 2, value: 0)),
                                                       .init(name: "a", data: try Self.part("b", count: 2, value: 0))])
        }
    }

    @Test("every task sees only its own data: a task's loss over a mixed batch is its loss over its own samples alone")
    func ownLoss() throws {
        let cpu = CPUDevice.shared
        let data = try Self.joined([5, 9])
        let loader = try DataLoader(data, batchSize: 8, seed: 3, prefetch: 0, taskSampling: try TaskBatchSampling())
        let indices = try #require(loader.batchIndices(epoch: 0).first)
        #expect(indices.filter { data.part(of: $0) == 0 }.count == 4 && indices.count == 8)
        let tasks = data.tasks.map(TaskSpec.init)
        let model = try ModelFactory.make("hps", tasks: tasks, inputShape: [4], seed: 1, on: cpu)
        let mixed = try TrainingBatch(data.batch(indices), tasks: data.tasks, on: cpu)
        let outputs = try model.forward(mixed.input)
        for t in 0..<2 {
            let own = indices.filter { data.part(of: $0) == t }
            let alone = try TrainingBatch(data.batch(own), tasks: data.tasks, on: cpu)
            let a = try tasks[t].maskedLoss(outputs[t], mixed.targets[t], mask: mixed.masks[t]).item()
            let b = try tasks[t].loss(try model.forward(alone.input)[t], alone.targets[t]).item()
            #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "task \(t): \(a) vs \(b)")
        }
    }

    @Test("one task per step is drawn uniformly, in proportion to its samples or with a temperature, as the rule says",
          arguments: ["uniform", "proportional", "temperature=2"])
    func samplingRule(rule: String) throws {
        let counts = [10, 40, 150]
        let data = try Self.joined(counts)
        let sampling = try TaskBatchSampling(parsing: rule, tasksPerStep: 1)
        let loader = try DataLoader(data, batchSize: 4, seed: 7, prefetch: 0, taskSampling: sampling)
        #expect(loader.batchesPerEpoch == 50)
        var drawn = [0, 0, 0]
        for epoch in 0..<40 {
            let batches = loader.batchIndices(epoch: epoch)
            #expect(batches.count == 50)
            for batch in batches {
                let owners = Set(batch.map(data.part(of:)))
                #expect(owners.count == 1 && batch.count == 4, "a step holds one task's samples only")
                drawn[owners.first!] += 1
            }
        }
        let expected = sampling.probabilities(counts: counts)
        let want: [Double]
        switch rule {
        case "uniform": want = [1.0 / 3, 1.0 / 3, 1.0 / 3]
        case "proportional": want = counts.map { Double($0) / 200 }
        default: want = counts.map { Double($0).squareRoot() / (10.0.squareRoot() + 40.0.squareRoot() + 150.0.squareRoot()) }
        }
        for t in 0..<3 {
            #expect(abs(expected[t] - want[t]) < 1e-12)
            // 2,000 draws: three standard deviations of a frequency are at most 0.034.
            #expect(abs(Double(drawn[t]) / 2000 - want[t]) < 0.035, "\(rule): task \(t) drawn \(drawn[t]) of 2000, expected \(want[t])")
        }
        #expect(loader.batchIndices(epoch: 3) == loader.batchIndices(epoch: 3), "a pure function of the seed and the epoch")
    }

    @Test("every task in every step: each step holds batch ÷ T samples of each task, and an epoch visits every task's samples")
    func everyTask() throws {
        let data = try Self.joined([6, 12])
        let loader = try DataLoader(data, batchSize: 6, seed: 1, prefetch: 0, taskSampling: try TaskBatchSampling())
        let batches = loader.batchIndices(epoch: 0)
        #expect(batches.count == 3)
        for batch in batches { #expect(batch.filter { data.part(of: $0) == 0 }.count == 3 && batch.count == 6) }
        let seen = Set(batches.joined())
        #expect(seen.filter { data.part(of: $0) == 0 }.count == 6, "the small task's samples come round again")
        // A single-task baseline's data (one task kept) samples only that task's own samples.
        let one = try DataLoader(TaskSubset(data, [1]), batchSize: 6, seed: 1, prefetch: 0, taskSampling: try TaskBatchSampling())
        #expect(one.batchIndices(epoch: 0).joined().allSatisfy { data.part(of: $0) == 1 } && one.batchesPerEpoch == 2)
    }

    @Test("task=source[:label] data specs, fashion-split, and the recipe's checks")
    func specs() throws {
        var options = DatasetCatalog.Options()
        options.trainCount = 50
        options.testCount = 20
        let splits = try DatasetCatalog.load("first=mmoe-synth:task1,second=mmoe-synth:task2", options: options)
        #expect(splits.train.tasks.map(\.name) == ["first", "second"] && splits.train.count == 100 && splits.test.count == 40)
        #expect(splits.train is MultiInputDataset)
        for bad in ["first=mmoe-synth", "first=mmoe-synth:task9", "first", "=mmoe-synth:task1", "a=mmoe-synth:task1,a=mmoe-synth:task2"] {
            #expect(throws: TandemError.self, "\(bad)") { try DatasetCatalog.load(bad, options: options) }
        }
        var recipe = TrainingRecipe()
        recipe.data = "multifashion"
        recipe.tasksPerStep = 1
        #expect(throws: TandemError.self) { try recipe.validate() }
        recipe.data = "fashion-split"
        recipe.taskSampling = "temperature=0"
        #expect(throws: TandemError.self) { try recipe.validate() }
        recipe.taskSampling = "temperature=2"
        var tooMany = recipe
        tooMany.tasksPerStep = 3
        #expect(CheckpointTests.message { try tooMany.checkTaskRoles(splits.train.tasks) }.contains("exceeds"))
        let back = try TrainingRecipe(json: recipe.json, source: "test")
        #expect(back.taskSampling == "temperature=2" && back.tasksPerStep == 1)

        var limit = DatasetCatalog.Options()
        limit.limit = 300
        let fashion = try DatasetCatalog.load("fashion-split", options: limit)
        #expect(fashion.train.tasks.map(\.name) == ["clothes", "others"])
        let batch = fashion.train.batch(Array(0..<fashion.train.count))
        let labelled = (0..<2).map { t in batch.masks[t]!.filter { $0 == 1 }.count }
        #expect(labelled[0] + labelled[1] == fashion.train.count && labelled.allSatisfy { $0 > 100 })
        #expect(batch.labels.allSatisfy { $0.allSatisfy { (-1..<5).contains($0) } })
    }
}
