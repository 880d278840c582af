import Testing
@testable import Tandem

/// Issue 20, item 2: auxiliary tasks (left out of Δm, the best-epoch score and ranks), adversarial
/// tasks behind a gradient reversal layer, input reconstruction, and TCDCN's task-wise stopping.
@Suite("Auxiliary tasks: roles, adversarial heads, reconstruction, TCDCN stopping")
struct AuxiliaryTaskTests {
    static let data = [DatasetTask("left", .classification(classes: 10)), DatasetTask("right", .classification(classes: 10))]

    @Test("roles by name; unknown names, an all-auxiliary run, per-pixel adversaries and stopping with nothing to stop are refused")
    func roles() throws {
        var recipe = TrainingRecipe()
        recipe.data = "multifashion"
        recipe.auxiliaryTasks = ["right"]
        let specs = recipe.taskSpecs(Self.data)
        #expect(specs.map(\.auxiliary) == [false, true])
        #expect(specs[1].adversarialLambda == nil)
        try recipe.checkTaskRoles(Self.data)
        recipe.auxiliaryTasks = []
        recipe.adversarialTasks = ["right"]
        recipe.adversarialLambda = 0.3
        #expect(recipe.taskSpecs(Self.data).map(\.auxiliary) == [false, true])
        #expect(recipe.taskSpecs(Self.data)[1].adversarialLambda == 0.3)

        var unknown = recipe
        unknown.auxiliaryTasks = ["middle"]
        let why = CheckpointTests.message { try unknown.checkTaskRoles(Self.data) }
        #expect(why.contains("middle") && why.contains("left, right"), "\(why)")
        var all = recipe
        all.auxiliaryTasks = ["left"]
        #expect(CheckpointTests.message { try all.checkTaskRoles(Self.data) }.contains("primary"))
        var dense = TrainingRecipe()
        dense.adversarialTasks = ["depth"]
        #expect(throws: TandemError.self) {
            try dense.checkTaskRoles([DatasetTask("seg", .segmentation(classes: 7), labelShape: [4, 4]), DatasetTask("depth", .depth, labelShape: [1, 4, 4])])
        }
        var nothing = TrainingRecipe()
        nothing.auxiliaryStopping = true
        #expect(CheckpointTests.message { try nothing.checkTaskRoles(Self.data) }.contains("--auxiliary"))
        var reconstructing = TrainingRecipe()
        reconstructing.reconstruction = true
        #expect(reconstructing.isAuxiliary("reconstruction") && !reconstructing.isAuxiliary("left"))

        // The settings survive the recipe's JSON (checkpoints, --config); bad values are refused.
        recipe.reconstruction = true
        recipe.auxiliaryStopping = true
        recipe.auxiliaryStoppingStrip = 4
        recipe.auxiliaryStoppingThreshold = 0.25
        let back = try TrainingRecipe(json: recipe.json, source: "test")
        #expect(back.adversarialTasks == ["right"] && back.adversarialLambda == 0.3 && back.reconstruction && back.auxiliaryStopping
                && back.auxiliaryStoppingStrip == 4 && back.auxiliaryStoppingThreshold == 0.25)
        var bad = recipe
        bad.auxiliaryStoppingStrip = 2
        #expect(throws: TandemError.self) { try bad.validate() }
        bad = recipe
        bad.adversarialLambda = 0
        #expect(throws: TandemError.self) { try bad.validate() }
        // Stopping zeroes a task's gradient: gradient methods cannot take it.
        var gradientMethod = recipe
        gradientMethod.weighting = "pcgrad"
        gradientMethod.model = "hps"
        let why2 = CheckpointTests.message {
            _ = try TrainingSetup(recipe: gradientMethod, tasks: gradientMethod.taskSpecs(Self.data), inputShape: [6], labelCounts: nil,
                                  stepsPerEpoch: 1, device: CPUDevice.shared)
        }
        #expect(why2.contains("pcgrad"), "\(why2)")
    }

    @Test("Δm, the best-epoch score and compare's ranks leave auxiliary tasks out")
    func primaryOnly() throws {
        func result(_ a: Double, _ b: Double) -> EvaluationResult {
            EvaluationResult(tasks: [TaskMetrics(task: "a", loss: 0, metrics: [Metric(name: "accuracy", value: a, higherIsBetter: true)]),
                                     TaskMetrics(task: "b", loss: 0, metrics: [Metric(name: "accuracy", value: b, higherIsBetter: true)],
                                                 auxiliary: true)])
        }
        // b has no baseline and needs none.
        #expect(abs(try DeltaM.compute(result(0.9, 0.1), baselines: ["a": ["accuracy": 0.8]]) - 0.125) < 1e-12)
        var onlyAuxiliary = result(0.9, 0.1)
        onlyAuxiliary.tasks[0].auxiliary = true
        #expect(throws: TandemError.self) { try DeltaM.compute(onlyAuxiliary, baselines: ["a": ["accuracy": 0.8]]) }
        #expect(result(0.9, 0.1).primary.map(\.task) == ["a"])
        // x is better on the primary task and far worse on the auxiliary one: it ranks first.
        let comparison = MethodComparison(methods: [
            MethodComparison.Method(name: "x", runs: [MethodComparison.Run(seed: 0, test: result(0.9, 0.1), deltaM: nil, secondsPerStep: 1)]),
            MethodComparison.Method(name: "ew", runs: [MethodComparison.Run(seed: 0, test: result(0.8, 0.9), deltaM: nil, secondsPerStep: 1)]),
        ])
        #expect(comparison.columns.map(\.auxiliary) == [false, true])
        #expect(try comparison.summaries().map(\.meanRank) == [1, 2])
    }

    @Test("an adversarial head learns its task while the layers below get −λ times its gradient")
    func adversarialGradient() throws {
        let cpu = CPUDevice.shared
        var tasks = Presets.multiFashionTasks
        let plain = try ModelFactory.make("hps", tasks: tasks, inputShape: [1, 28, 28], seed: 5, on: cpu)
        tasks[1].auxiliary = true
        tasks[1].adversarialLambda = 0.5
        let adversarial = try ModelFactory.make("hps", tasks: tasks, inputShape: [1, 28, 28], seed: 5, on: cpu)
        #expect(plain.parameters.count == adversarial.parameters.count)
        let (x, targets) = try SurveyArchitectureTests.batch(6, seed: 6, on: cpu)
        for model in [plain, adversarial] { try tasks[1].loss(try model.forward(x)[1], targets[1]).backward() }
        let trunk = Set(plain.sharedParameters.map(ObjectIdentifier.init))
        var checked = 0
        for (p, a) in zip(plain.parameters, adversarial.parameters) {
            guard let gradient = p.grad else {
                #expect(a.grad == nil, "\(p.shape): the left head gets no gradient from the right task")
                continue
            }
            let gp = try gradient.values(), ga = try #require(a.grad).values()
            let factor: Float = trunk.contains(ObjectIdentifier(p)) ? -0.5 : 1
            let scale = max(1e-6, gp.map(abs).max() ?? 0)
            #expect(SurveyArchitectureTests.maxDifference(ga, gp.map { $0 * factor }) <= 1e-5 * scale, "\(p.shape)")
            if factor < 0 { checked += 1 }
        }
        #expect(checked == plain.sharedParameters.count && checked > 0)
        // Presets build their own heads: an adversarial task is refused there, with the reason.
        #expect(throws: TandemError.self) { try ModelFactory.make("lenet-hps", tasks: tasks, inputShape: [1, 28, 28], on: cpu) }
    }

    @Test("reconstruction: the added task's targets are the inputs; the model predicts them through the trunk with MSE")
    func reconstruction() throws {
        let cpu = CPUDevice.shared
        let inputs = (0..<(5 * 6)).map { Float($0) / 7 }
        let base = try ArrayDataset(name: "toy", inputs: inputs, inputShape: [6], tasks: [DatasetTask("y", .regression)],
                                    labels: [(0..<5).map(Float.init)])
        let data = ReconstructionTask(base)
        #expect(data.tasks.map(\.name) == ["y", "reconstruction"] && data.tasks[1].labelShape == [6])
        let batch = data.batch([3, 1])
        #expect(batch.labels[1] == Array(inputs[18..<24]) + Array(inputs[6..<12]))
        #expect(batch.labels[0] == [3, 1] && batch.masks.count == 2)

        var recipe = TrainingRecipe()
        recipe.reconstruction = true
        let specs = recipe.taskSpecs(data.tasks)
        let model = try ModelFactory.make("hps", tasks: specs, inputShape: [6], labelCounts: data.tasks.map(\.labelCount), seed: 1, on: cpu)
        let device = try TrainingBatch(batch, tasks: data.tasks, on: cpu)
        let output = try model.forward(device.input)[1]
        #expect(output.shape == [2, 6])
        let loss = try specs[1].loss(output, device.targets[1]).item()
        let byHand = zip(try output.values(), batch.labels[1]).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / 12
        #expect(abs(Double(loss) - byHand) <= 1e-5 * max(1, byHand))
    }

    @Test("TCDCN's criterion: hand-computed values, the flat-strip and at-best cases, and the stops over a history")
    func criterion() throws {
        let rule = try AuxiliaryStopping(strip: 3, threshold: 1)
        // Strip [1.0, 0.8, 0.7]: median 0.8, Σ − 3·0.8 = 0.1, tendency 24; validation 0.04 above its best 0.4: 0.1.
        let value = try #require(rule.criterion(train: [1.0, 0.8, 0.7], validation: [0.5, 0.4, 0.44]))
        #expect(abs(value - 2.4) < 1e-9)
        #expect(rule.stops(train: [1.0, 0.8, 0.7], validation: [0.5, 0.4, 0.44]))
        #expect(try !AuxiliaryStopping(strip: 3, threshold: 3).stops(train: [1.0, 0.8, 0.7], validation: [0.5, 0.4, 0.44]))
        // Only the last k training epochs count: an earlier 9.0 changes nothing.
        #expect(rule.criterion(train: [9.0, 1.0, 0.8, 0.7], validation: [0.6, 0.5, 0.4, 0.44]) == value)
        #expect(rule.criterion(train: [1.0, 0.8, 0.7], validation: [0.5, 0.45, 0.4]) == 0)
        #expect(rule.criterion(train: [1.0, 0.8], validation: [0.5, 0.6]) == nil)
        #expect(rule.criterion(train: [0.5, 0.5, 0.5], validation: [0.5, 0.4, 0.41]) == .infinity)
        #expect(throws: TandemError.self) { try AuxiliaryStopping(strip: 2) }
        #expect(throws: TandemError.self) { try AuxiliaryStopping(threshold: 0) }

        func report(_ epoch: Int, train: [Float], validation: [Double]?) -> EpochReport {
            EpochReport(epoch: epoch, trainLosses: train,
                        validation: validation.map { v in EvaluationResult(tasks: v.enumerated().map { TaskMetrics(task: "t\($0)", loss: $1, metrics: []) }) },
                        deltaM: nil, score: nil, isBest: false, weights: [1, 1])
        }
        let history = [report(0, train: [2, 1.0], validation: [1, 0.5]), report(1, train: [1.5, 0.8], validation: nil),
                       report(2, train: [1.2, 0.8], validation: [0.9, 0.4]), report(3, train: [1.1, 0.7], validation: [0.8, 0.44]),
                       report(4, train: [1.0, 0.6], validation: [0.7, 0.6])]
        // Task 1 over the validated epochs 0, 2, 3 is the hand-computed case: it stops at epoch 3.
        #expect(rule.stops(history: history, auxiliary: [false, true]) == [1: 3])
        #expect(rule.stops(history: history, auxiliary: [false, false]).isEmpty)
    }

    @Test("a stopped auxiliary task trains nothing from then on; a resumed trainer knows it stopped")
    func trainerStops() throws {
        let cpu = CPUDevice.shared
        var tasks = [TaskSpec("main", .regression), TaskSpec("aux", .regression)]
        tasks[1].auxiliary = true
        func make() throws -> Trainer {
            let model = try ModelFactory.make("hps", tasks: tasks, inputShape: [4], seed: 2, on: cpu)
            let trainer = try Trainer(model: model, optimizer: try Adam(model.parameters, learningRate: 0.01), weighting: EqualWeighting(), device: cpu)
            trainer.auxiliaryStopping = try AuxiliaryStopping(strip: 3, threshold: 1e-9)
            return trainer
        }
        let random = RandomSource(seed: 3)
        let xs = random.normal(32 * 4, std: 1)
        let x = try Tensor(xs, shape: [32, 4], on: cpu)
        let main = try Tensor((0..<32).map { n in xs[(n * 4)..<(n * 4 + 4)].reduce(0, +) }, shape: [32], on: cpu)
        let aux = (0..<32).map { xs[$0 * 4] * 2 }
        // Validation asks the auxiliary task for the opposite: its validation loss rises as it learns.
        let train = try TrainingBatch(input: x, targets: [main, try Tensor(aux, shape: [32], on: cpu)])
        let validation = try TrainingBatch(input: x, targets: [main, try Tensor(aux.map { -$0 }, shape: [32], on: cpu)])
        let trainer = try make()
        try trainer.fit(epochs: 6, train: [TrainingBatch](repeating: train, count: 5), validation: [validation])
        let stopped = try #require(trainer.stoppedAuxiliaryTasks[1], "the auxiliary task must stop: \(trainer.history.map { $0.validation?.tasks[1].loss ?? .nan })")
        #expect(stopped >= 2 && stopped < 5 && trainer.stoppedAuxiliaryTasks[0] == nil)
        // The last step's gradients: none reached the auxiliary head, the main head's are there.
        let model = try #require(trainer.model as? HardParameterSharing)
        let auxHead = (model.heads[1] as! Module).parameters, mainHead = (model.heads[0] as! Module).parameters
        #expect(try auxHead.allSatisfy { try $0.grad?.values().allSatisfy { $0 == 0 } ?? true })
        #expect(try mainHead.contains { try $0.grad?.values().contains { $0 != 0 } ?? false })

        let path = temporaryDirectory("aux-stop") + "/run.safetensors"
        try trainer.saveCheckpoint(to: path)
        let resumed = try make()
        try resumed.loadCheckpoint(from: path)
        #expect(resumed.stoppedAuxiliaryTasks == trainer.stoppedAuxiliaryTasks)
        #expect(resumed.history.map { $0.validation?.tasks[1].auxiliary } == trainer.history.map { _ in true })
    }

    @Test("a recipe with an adversarial task, reconstruction and auxiliary stopping on multi-input data trains on the CPU and OpenCL alike")
    func recipeOnEveryDevice() throws {
        var recipe = TrainingRecipe()
        recipe.model = "hps"
        recipe.data = "fashion-split"
        recipe.limit = 400
        recipe.epochs = 3
        recipe.batchSize = 32
        recipe.adversarialTasks = ["others"]
        recipe.reconstruction = true
        recipe.auxiliaryStopping = true
        recipe.affinityBatches = 0
        let data = try RunData(recipe: recipe)
        #expect(data.multiInput && data.train.tasks.map(\.name) == ["clothes", "others", "reconstruction"])
        func run(_ device: any Device) throws -> [Float] {
            let training = try RecipeTraining(recipe: recipe, data: data, tasks: Array(data.train.tasks.indices), device: device)
            #expect(training.model.tasks.map(\.auxiliary) == [false, true, true])
            try training.fit()
            return training.trainer.history.flatMap(\.trainLosses)
        }
        let cpu = try run(CPUDevice.shared)
        #expect(cpu.count == 9 && cpu.allSatisfy(\.isFinite))
        for selector in openCLSelectors {
            let other = try run(try Devices.select(selector))
            for (a, b) in zip(other, cpu) { #expect(abs(a - b) <= 2e-3 * max(1, abs(b)), "\(selector): \(other) vs \(cpu)") }
        }
    }

    @Test("the C API's configuration marks tasks auxiliary or adversarial; bad values are refused")
    func configuration() throws {
        func config(_ extra: String, _ extraA: String = "") -> String {
            #"{"model": "hps", "input_shape": [6], "tasks": [{"name": "a", "kind": "classification", "classes": 3"# + extraA
                + #"}, {"name": "b", "kind": "classification", "classes": 3"# + extra + "}]}"
        }
        let adversarial = try ModelConfiguration(parsing: config(#", "adversarial_lambda": 0.5"#))
        #expect(adversarial.taskSpecs.map(\.auxiliary) == [false, true] && adversarial.taskSpecs[1].adversarialLambda == 0.5)
        #expect(try ModelConfiguration(parsing: config(#", "auxiliary": true"#)).taskSpecs[1].adversarialLambda == nil)
        for bad in [config(#", "adversarial_lambda": -1"#), config(#", "auxiliary": "yes""#),
                    config(#", "auxiliary": true"#, #", "auxiliary": true"#)] {
            #expect(throws: TandemError.self, "\(bad)") { try ModelConfiguration(parsing: bad) }
        }
        let model = try ModelFactory.make("hps", tasks: adversarial.taskSpecs, inputShape: [6], on: CPUDevice.shared)
        #expect(model.tasks.map(\.auxiliary) == [false, true])
    }

    @Test("Ganin's ramp: λ's factor 2/(1 + e^{−10p}) − 1 follows the run's progress, from 0 at the first step")
    func ramp() throws {
        #expect(GradientReversal.rampScale(progress: 0) == 0)
        #expect(abs(GradientReversal.rampScale(progress: 0.5) - 0.986614) < 1e-5)
        #expect(GradientReversal.rampScale(progress: 2) == GradientReversal.rampScale(progress: 1))
        let cpu = CPUDevice.shared
        var tasks = [TaskSpec("main", .regression), TaskSpec("adversary", .regression)]
        tasks[1].auxiliary = true
        tasks[1].adversarialLambda = 0.7
        let model = try ModelFactory.make("hps", tasks: tasks, inputShape: [4], seed: 2, on: cpu)
        let layers = GradientReversal.all(in: model)
        #expect(layers.count == 1 && layers[0].lambda == 0.7)
        let trainer = try Trainer(model: model, optimizer: try Adam(model.parameters, learningRate: 0.01), weighting: EqualWeighting(), device: cpu)
        trainer.adversarialRamp = true
        let random = RandomSource(seed: 4)
        let batch = try TrainingBatch(input: Tensor(random.normal(16 * 4, std: 1), shape: [16, 4], on: cpu),
                                      targets: (0..<2).map { _ in try Tensor(random.normal(16, std: 1), shape: [16], on: cpu) })
        var scales: [Float] = []
        trainer.callbacks.append(ClosureCallback(step: { _, _ in scales.append(layers[0].scale) }, epoch: { _, _ in }))
        try trainer.fit(epochs: 2, train: [batch, batch, batch])
        #expect(trainer.plannedSteps == 6)
        #expect(scales == (0..<6).map { GradientReversal.rampScale(progress: Double($0) / 6) })
        #expect(scales[0] == 0 && scales[5] > 0.99)
        // The recipe ramps only where there is an adversary, and --adversarial-constant keeps λ.
        var recipe = TrainingRecipe()
        recipe.model = "hps"
        let plain = try TrainingSetup(recipe: recipe, tasks: [tasks[0], TaskSpec("b", .regression)], inputShape: [4], labelCounts: nil,
                                      stepsPerEpoch: 1, device: cpu)
        #expect(!plain.trainer.adversarialRamp)
        recipe.adversarialRamp = false
        let constant = try TrainingSetup(recipe: recipe, tasks: tasks, inputShape: [4], labelCounts: nil, stepsPerEpoch: 1, device: cpu)
        #expect(!constant.trainer.adversarialRamp)
    }
}
