import Testing
@testable import Tandem
@testable import TandemMTL

/// Learning to Branch: the tree the forward pass composes, the straight-through Gumbel-softmax
/// (its samples' frequencies and its gradient), the warm-up and temperature schedule, the schedule's
/// state, and one run in which the branching is learned from the task losses.
@Suite("Learning to Branch")
struct LearningToBranchTests {
    /// Three tasks, three stages of Linear(4→4) nodes, Linear(4→1) heads.
    static func model(seed: UInt64 = 3, warmup: Int = 0, on device: any Device) throws -> LearningToBranch {
        let random = RandomSource(seed: seed)
        let tasks = (0..<3).map { TaskSpec("t\($0)", .regression) }
        let stages: [[any Layer & Module]] = try (0..<3).map { _ in try (0..<3).map { _ in try Linear(4, 4, random: random, on: device) } }
        return try LearningToBranch(tasks: tasks, stages: stages, heads: try (0..<3).map { _ in try Linear(4, 1, random: random, on: device) },
                                    warmup: warmup, seed: 11, on: device)
    }

    static func setLogits(_ model: LearningToBranch, _ values: [Float]) throws {
        try model.logits.assign(Tensor(values, shape: model.logits.shape, on: model.logits.device))
    }

    @Test("evaluation composes the most likely tree; its gradients match central differences", arguments: allSelectors)
    func treeByHand(selector: String) throws {
        let device = try Devices.select(selector)
        let m = try Self.model(on: device)
        // Stage 1: nodes 0 and 1 read node 0, node 2 reads node 2; stage 2: nodes 0 and 1 read node 1, node 2 reads node 0.
        try Self.setLogits(m, [3, 0, 1, 2, 0, 1, 0, 1, 5,
                               0, 4, 1, 1, 2, 0, 2, 1, 0])
        m.eval()
        #expect(try m.branching() == [[0, 0, 2], [1, 1, 0]])
        // Paths: t0 → node 0 → node 1 → node 0 of stage 1; t1 the same; t2 → node 2 → node 0 → node 0.
        #expect(try m.describeBranching() == "stage 1: {t0, t1, t2}\nstage 2: {t0, t1} {t2}\nstage 3: {t0} {t1} {t2}")
        let x = try Tensor(RandomSource(seed: 5).uniform(5 * 4, low: -1, high: 1), shape: [5, 4], on: device)
        let outputs = try m.forward(x).map { try $0.values() }
        let s0 = try m.stages[0].map { try $0(x) }
        let s1 = try [0, 0, 2].enumerated().map { k, parent in try m.stages[1][k](s0[parent]) }
        let s2 = try [1, 1, 0].enumerated().map { k, parent in try m.stages[2][k](s1[parent]) }
        for k in 0..<3 { #expect(outputs[k] == (try m.heads[k](s2[k]).values())) }
        let stageParameters = m.stages.flatMap { $0.flatMap { ($0 as? Module)?.parameters ?? [] } }
        #expect(m.sharedParameters.count == stageParameters.count + 1)
        let probe = try Tensor(RandomSource(seed: 8).uniform(5, low: -1, high: 1), shape: [5, 1], on: device)
        let frozenLogits = try m.logits.values()
        // θ gets no gradient in evaluation (the tree is fixed); every node and head does.
        for layer in m.stages.flatMap({ $0 }) + m.heads {
            try PLETests.expectCentralDifferences(try #require(layer as? Module)) {
                try m.logits.assign(Tensor(frozenLogits, shape: m.logits.shape, on: device))
                return try m.forward(x).reduce(try Tensor.zeros([], on: device)) { try $0 + ($1 * probe).sum() }
            }
        }
    }

    @Test("training draws one-hot parents with the frequencies softmax(θ); CPU and OpenCL draw the same", arguments: openCLSelectors + ["cpu"])
    func gumbelSampling(selector: String) throws {
        let device = try Devices.select(selector)
        let cpu = CPUDevice.shared
        let m = try Self.model(on: device), reference = try Self.model(on: cpu)
        let p: [Double] = [0.2, 0.5, 0.3]
        let row = p.map { Float(HostMath.log($0)) }
        for model in [m, reference] { try Self.setLogits(model, Array((0..<6).map { _ in row }.joined())) }
        let draws = selector == "cpu" ? 3_000 : 40
        var counts = [Double](repeating: 0, count: 3)
        for _ in 0..<draws {
            let a = try m.mixing(0).values()
            let b = try reference.mixing(0).values()
            #expect(a == b, "\(selector) draws \(a), the CPU \(b)")
            for k in 0..<3 {
                let r = Array(a[(3 * k)..<(3 * k + 3)])
                #expect(r.filter { $0 == 1 }.count == 1 && r.filter { $0 == 0 }.count == 2, "\(r)")
                if k == 0, let chosen = r.firstIndex(of: 1) { counts[chosen] += 1 / Double(draws) }
            }
        }
        if selector == "cpu" {
            for i in 0..<3 { #expect(abs(counts[i] - p[i]) < 0.03, "frequencies \(counts) vs \(p) over \(draws) draws (seed 11)") }
        }
    }

    @Test("the straight-through gradient is the soft sample's: ∂/∂θ = J_softmax((θ + g)/τ)ᵀc/τ", arguments: allSelectors)
    func straightThrough(selector: String) throws {
        let device = try Devices.select(selector)
        let m = try Self.model(on: device)
        let theta: [Float] = [0.3, -0.2, 0.5, 1, 0, -1, 0.1, 0.2, 0.3]
        try Self.setLogits(m, theta + [Float](repeating: 0, count: 9))
        try m.schedule(epoch: 2)
        let tau = Double(m.temperature(epoch: 2))
        #expect(abs(tau - 0.5 / 3.0.squareRoot()) < 1e-7)
        let c: [Float] = [1, -2, 0.5, 0.3, 0.7, -1, 2, 0, 1]
        // The noise of draw 0, from the same counter-based stream on the CPU.
        let u = try Tensor.uniform([3, 3], seed: 11, on: CPUDevice.shared).values().map { Double(min(max($0, 1e-7), 1 - 1e-7)) }
        let a = try m.mixing(0)
        try (a * Tensor(c, shape: [3, 3], on: device)).sum().backward()
        let grad = try #require(m.logits.grad).values()
        var expected = [Double](repeating: 0, count: 18)
        for k in 0..<3 {
            let z = (0..<3).map { (Double(theta[3 * k + $0]) - HostMath.log(-HostMath.log(u[3 * k + $0]))) / tau }
            let top = z.max()!
            let e = z.map { HostMath.exp($0 - top) }
            let y = e.map { $0 / e.reduce(0, +) }
            let mean = (0..<3).reduce(0.0) { $0 + y[$1] * Double(c[3 * k + $1]) }
            for j in 0..<3 { expected[3 * k + j] = y[j] * (Double(c[3 * k + j]) - mean) / tau }
            let hard = try a.values()[(3 * k)..<(3 * k + 3)]
            #expect(hard.firstIndex(of: 1).map { $0 - 3 * k } == z.indices.max { z[$0] < z[$1] }, "row \(k): \(hard) vs z \(z)")
        }
        expectClose(grad, expected, tolerance: 1e-4)
    }

    @Test("warm-up: every node reads the mean of the parents and θ gets no gradient; the schedule survives a state round trip")
    func scheduleAndState() throws {
        let cpu = CPUDevice.shared
        let m = try Self.model(warmup: 2, on: cpu)
        try Self.setLogits(m, (0..<18).map { Float($0 % 5) })
        try m.schedule(epoch: 1)
        #expect(m.inWarmup)
        expectClose(try m.mixing(0).values(), [Double](repeating: 1.0 / 3, count: 9))
        let x = try Tensor(RandomSource(seed: 5).uniform(5 * 4, low: -1, high: 1), shape: [5, 4], on: cpu)
        try m.forward(x).reduce(try Tensor.zeros([], on: cpu)) { try $0 + $1.sum() }.backward()
        #expect(m.logits.grad == nil)
        #expect(throws: TandemError.self) { try LearningToBranch(tasks: m.tasks, stages: [m.stages[0].map { $0 as! any Layer & Module }], heads: m.heads.map { $0 as! any Layer & Module }, on: cpu) }
        // After the warm-up: draws advance; a model loaded from the state draws the same next tree.
        try m.schedule(epoch: 3)
        #expect(!m.inWarmup && abs(Double(m.temperature(epoch: 1)) - 0.5 / 2.0.squareRoot()) < 1e-7)
        for _ in 0..<4 { _ = try m.forward(x) }
        let state = try m.stateDict()
        let next = try m.forward(x).map { try $0.values() }
        let resumed = try Self.model(seed: 99, warmup: 2, on: cpu)
        try resumed.loadStateDict(Dictionary(uniqueKeysWithValues: state))
        let resumedNext = try resumed.forward(x).map { try $0.values() }
        #expect(resumedNext == next)
        // Evaluation after loading uses the loaded schedule: past the warm-up, the most likely tree.
        let fresh = try Self.model(seed: 99, warmup: 2, on: cpu)
        try fresh.loadStateDict(Dictionary(uniqueKeysWithValues: state))
        fresh.eval()
        m.eval()
        let loaded = try fresh.forward(x).map { try $0.values() }, original = try m.forward(x).map { try $0.values() }
        #expect(loaded == original)
        #expect(!fresh.inWarmup)
    }

    @Test("20 trainer steps of ltb on multifashion-shaped data: CPU and OpenCL agree to 1e-3 (losses and θ)")
    func devicesAgree() throws {
        func run(_ device: any Device) throws -> [Float] {
            let tasks = Presets.multiFashionTasks
            let model = try ModelFactory.make("ltb", tasks: tasks, inputShape: [1, 28, 28], seed: 3, on: device)
            let ltb = try #require(model as? LearningToBranch)
            #expect(ltb.warmup == 1 && ltb.stages.count == 3)
            let trainer = try Trainer(model: model, optimizer: try Adam(model.parameters, learningRate: 0.01), weighting: EqualWeighting(), device: device)
            let random = RandomSource(seed: 6)
            let batch = try TrainingBatch(input: Tensor(random.uniform(8 * 784, low: 0, high: 1), shape: [8, 1, 28, 28], on: device),
                                          targets: (0..<2).map { _ in try Tensor((0..<8).map { Float(($0 * 3) % 10) }, shape: [8], on: device) })
            var trace: [Float] = []
            for step in 0..<20 {
                trainer.epoch = step / 5  // warm-up in the first five steps, then three temperatures
                trace += try trainer.trainStep(batch)
            }
            return trace + (try ltb.logits.values())
        }
        let cpu = try run(CPUDevice.shared)
        #expect(cpu.allSatisfy { $0.isFinite })
        for selector in openCLSelectors {
            let other = try run(try Devices.select(selector))
            for (a, b) in zip(other, cpu) { #expect(abs(a - b) <= 1e-3 * max(1, abs(b)), "\(selector): \(other) vs \(cpu)") }
        }
    }

    @Test("θ gets a parameter group of its own at the recipe's mixing learning-rate multiplier, as cross-stitch α does")
    func mixingGroup() throws {
        var recipe = TrainingRecipe()
        recipe.stitchLearningRateMultiplier = 30
        for name in ["ltb", "cross-stitch"] {
            let model = try ModelFactory.make(name, tasks: Presets.multiFashionTasks, inputShape: [1, 28, 28], seed: 1, on: CPUDevice.shared)
            let mixing = try #require((model as? any MixingParameters)?.mixingParameters)
            let groups = try TrainingSetup.optimizer(recipe, model: model).parameterGroups
            #expect(groups.count == 2 && groups[1].learningRateMultiplier == 30, "\(name)")
            #expect(groups[1].parameters.map(ObjectIdentifier.init) == mixing.map(ObjectIdentifier.init), "\(name)")
            #expect(groups[0].parameters.count + groups[1].parameters.count == model.parameters.count, "\(name)")
        }
    }

    @Test("a run learns the branching from the losses: every node comes to read the informative parent")
    func learnsBranching() throws {
        // Stage 0 has one node that passes the input on and two that output zeros; the targets need
        // the input, so each node of stage 1 must learn to read the informative node, wherever it is.
        let cpu = CPUDevice.shared
        for informative in [1, 2] {
            let random = RandomSource(seed: 4)
            let tasks = (0..<3).map { TaskSpec("t\($0)", .regression) }
            let first: [any Layer & Module] = try (0..<3).map { k in
                let layer = try Linear(4, 4, random: random, on: cpu)
                try layer.weight.assign(Tensor((0..<16).map { k == informative && $0 % 5 == 0 ? 1 : 0 }, shape: [4, 4], on: cpu))
                try layer.bias?.assign(Tensor.zeros([4], on: cpu))
                return layer
            }
            let second: [any Layer & Module] = try (0..<3).map { _ in try Linear(4, 4, random: random, on: cpu) }
            let heads: [any Layer & Module] = try (0..<3).map { _ in try Linear(4, 1, random: random, on: cpu) }
            let m = try LearningToBranch(tasks: tasks, stages: [first, second], heads: heads, warmup: 0, seed: 5, on: cpu)
            let trainable = second.flatMap(\.parameters) + heads.flatMap(\.parameters) + [m.logits]
            let optimizer = try Adam(trainable, learningRate: 0.05)
            let data = RandomSource(seed: 9)
            for step in 0..<150 {
                try m.schedule(epoch: step / 50)
                let x = try Tensor(data.uniform(32 * 4, low: -1, high: 1), shape: [32, 4], on: cpu)
                let y = try x.slice(axis: 1, 0..<1) - x.slice(axis: 1, 2..<3) * 2
                optimizer.zeroGrad()
                let loss = try m.forward(x).reduce(try Tensor.zeros([], on: cpu)) { try $0 + ($1 - y).square().mean() }
                try loss.backward()
                try optimizer.step()
            }
            let theta = try m.logits.values()
            #expect(try m.branching() == [[informative, informative, informative]], "informative node \(informative): θ \(theta)")
        }
    }
}
