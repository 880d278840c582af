import Testing
@testable import Tandem

/// The architectures of issue 20: network cascades, modulation, gated multi-head, sluice networks
/// and low supervision. Each test checks the computation that defines the method against the same
/// computation done by hand.
@Suite("Cascades, modulation, gating, sluice, low supervision")
struct SurveyArchitectureTests {
    static let tasks = Presets.multiFashionTasks
    static let names = ["cascade", "modulation", "gated", "sluice", "low-supervision"]

    /// `count` LeNet-shaped images and class labels for both tasks.
    static func batch(_ count: Int, seed: UInt64, on device: any Device) throws -> (x: Tensor, targets: [Tensor]) {
        let random = RandomSource(seed: seed)
        let x = try Tensor(random.uniform(count * 784, low: 0, high: 1), shape: [count, 1, 28, 28], on: device)
        let targets = try (0..<2).map { t in try Tensor((0..<count).map { Float(($0 * (3 + t)) % 10) }, shape: [count], on: device) }
        return (x, targets)
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    static func clearGradients(_ model: Module) { for p in model.parameters { p.grad = nil } }

    /// Sum of squares of a tensor's gradient (0 without one).
    static func gradientSquare(_ t: Tensor) throws -> Float { try t.grad?.values().reduce(0) { $0 + $1 * $1 } ?? 0 }

    @Test("cascade: task t's head reads [features, yₜ₋₁]; the second task's loss reaches the first head, not the reverse")
    func cascade() throws {
        let cpu = CPUDevice.shared
        let model = try #require(try ModelFactory.make("cascade", tasks: Self.tasks, inputShape: [1, 28, 28], seed: 2, on: cpu) as? NetworkCascade)
        let (x, targets) = try Self.batch(6, seed: 3, on: cpu)
        let outputs = try model.forward(x)
        let features = try model.shared(x)
        let first = try model.heads[0](features)
        let f = try features.values(), y0 = try first.values()
        var rows: [Float] = []
        for n in 0..<6 {
            rows.append(contentsOf: f[(n * 50)..<(n * 50 + 50)])
            rows.append(contentsOf: y0[(n * 10)..<(n * 10 + 10)])
        }
        let appended = try Tensor(rows, shape: [6, 60], on: cpu)
        #expect(appended.shape == [6, 60])
        #expect(Self.maxDifference(try outputs[0].values(), try first.values()) == 0)
        #expect(Self.maxDifference(try outputs[1].values(), try model.heads[1](appended).values()) <= 1e-6)

        let head0 = (model.heads[0] as! Module).parameters, head1 = (model.heads[1] as! Module).parameters
        try Self.tasks[1].loss(outputs[1], targets[1]).backward()
        #expect(try head0.map(Self.gradientSquare).reduce(0, +) > 0, "task 2's loss must reach task 1's head")
        Self.clearGradients(model)
        try Self.tasks[0].loss(try model.forward(x)[0], targets[0]).backward()
        #expect(try head1.map(Self.gradientSquare).reduce(0, +) == 0, "task 1's loss must not reach the later head")

        // The gradient through the appended output: ∂L₂/∂(head₀'s last bias) against central differences.
        let bias = try #require(head0.last)
        Self.clearGradients(model)
        try Self.tasks[1].loss(try model.forward(x)[1], targets[1]).backward()
        try Self.checkCentralDifferences(bias, at: [0, 4, 9], absolute: 2e-3) {
            try Self.tasks[1].loss(try model.forward(x)[1], targets[1]).item()
        }
    }

    /// `parameter`'s gradient (already in `.grad`) at `indices` against central differences (step
    /// 10⁻²) of `loss`, within `absolute` + 2% of the gradient.
    static func checkCentralDifferences(_ parameter: Tensor, at indices: [Int], absolute: Float, loss: () throws -> Float) throws {
        let analytic = try #require(parameter.grad).values()
        let base = try parameter.values()
        for i in indices {
            var values = base
            let h: Float = 1e-2
            values[i] = base[i] + h
            try parameter.assign(Tensor(values, shape: parameter.shape, on: parameter.device))
            let plus = try loss()
            values[i] = base[i] - h
            try parameter.assign(Tensor(values, shape: parameter.shape, on: parameter.device))
            let minus = try loss()
            try parameter.assign(Tensor(base, shape: parameter.shape, on: parameter.device))
            let numeric = (plus - minus) / (2 * h)
            #expect(abs(numeric - analytic[i]) <= absolute + 0.02 * abs(analytic[i]), "\(parameter.shape)[\(i)]: \(numeric) vs \(analytic[i])")
        }
    }

    /// Projects (or gates) every position's channel vector of `y` [N, C, positions…] by hand.
    static func transformByHand(_ y: [Float], shape: [Int], table: [Float], task: Int, projection: Bool) -> [Float] {
        let n = shape[0], c = shape[1], positions = shape.dropFirst(2).reduce(1, *)
        var out = [Float](repeating: 0, count: y.count)
        for s in 0..<n {
            for p in 0..<positions {
                for i in 0..<c {
                    if projection {
                        var sum: Float = 0
                        for j in 0..<c { sum += table[task * c * c + i * c + j] * y[(s * c + j) * positions + p] }
                        out[(s * c + i) * positions + p] = sum
                    } else {
                        out[(s * c + i) * positions + p] = table[task * c + i] * y[(s * c + i) * positions + p]
                    }
                }
            }
        }
        return out
    }

    @Test("modulation and gating: each task's output is its head on the shared layers with its own W or gate after each latter layer, by hand",
          arguments: ["modulation", "gated"])
    func modulation(name: String) throws {
        let cpu = CPUDevice.shared
        let model = try #require(try ModelFactory.make(name, tasks: Self.tasks, inputShape: [1, 28, 28], seed: 4, on: cpu) as? TaskModulation)
        #expect(model.transforms.map(\.shape) == (name == "modulation" ? [[2, 20, 20], [2, 50, 50]] : [[2, 20], [2, 50]]))
        // The start is the identity: both tasks' passes give the same features.
        let random = RandomSource(seed: 5)
        let (x, targets) = try Self.batch(3, seed: 6, on: cpu)
        for table in model.transforms {
            let start = try table.values()
            #expect(start.allSatisfy { $0 == 0 || $0 == 1 })
            try table.assign(Tensor(random.normal(table.count, std: 0.4), shape: table.shape, on: cpu))
        }
        let outputs = try model.forward(x)
        let h0 = try model.shared(x)
        for t in 0..<2 {
            var h = h0
            for s in model.layers.indices {
                let y = try model.layers[s](h)
                let byHand = Self.transformByHand(try y.values(), shape: y.shape, table: try model.transforms[s].values(), task: t,
                                                  projection: name == "modulation")
                h = try model.after[s](Tensor(byHand, shape: y.shape, on: cpu))
            }
            let expected = try model.heads[t](h).values()
            #expect(Self.maxDifference(try outputs[t].values(), expected) <= 1e-5 * (expected.map(abs).max() ?? 1), "task \(t)")
        }
        // Task 0's loss trains task 0's transform rows only.
        try Self.tasks[0].loss(outputs[0], targets[0]).backward()
        for table in model.transforms {
            let g = try #require(table.grad).values()
            let row = g.count / 2
            #expect(g[..<row].contains { $0 != 0 } && g[row...].allSatisfy { $0 == 0 })
        }
    }

    @Test("gated multi-head with one label per sample = each sample's own task's pass alone (the head selected by the task id)")
    func gatedOneLabelPerSample() throws {
        let cpu = CPUDevice.shared
        func model() throws -> TaskModulation {
            let m = try #require(try ModelFactory.make("gated", tasks: Self.tasks, inputShape: [1, 28, 28], seed: 7, on: cpu) as? TaskModulation)
            let random = RandomSource(seed: 8)
            for table in m.transforms { try table.assign(Tensor(random.uniform(table.count, low: 0.5, high: 1.5), shape: table.shape, on: cpu)) }
            return m
        }
        let (x, targets) = try Self.batch(8, seed: 9, on: cpu)
        let labels = try targets.map { try $0.values() }
        // Even samples carry the left label, odd ones the right (−1: no label).
        let masked = try (0..<2).map { t in try Tensor((0..<8).map { $0 % 2 == t ? labels[t][$0] : -1 }, shape: [8], on: cpu) }
        let whole = try model()
        let outputs = try whole.forward(x)
        try (Self.tasks[0].loss(outputs[0], masked[0]) + Self.tasks[1].loss(outputs[1], masked[1])).backward()

        // By hand: each task's samples alone through that task's pass and head.
        let split = try model()
        let images = try x.values()
        var total: Tensor?
        for t in 0..<2 {
            let mine = (0..<8).filter { $0 % 2 == t }
            let xt = try Tensor(mine.flatMap { Array(images[($0 * 784)..<($0 * 784 + 784)]) }, shape: [mine.count, 1, 28, 28], on: cpu)
            let yt = try Tensor(mine.map { labels[t][$0] }, shape: [mine.count], on: cpu)
            let loss = try Self.tasks[t].loss(try split.forward(xt)[t], yt)
            total = try total.map { try $0 + loss } ?? loss
        }
        try total!.backward()
        for (a, b) in zip(whole.parameters, split.parameters) {
            let ga = try a.grad?.values() ?? [], gb = try b.grad?.values() ?? []
            #expect(ga.count == gb.count)
            let scale = max(1e-6, gb.map(abs).max() ?? 0)
            #expect(Self.maxDifference(ga, gb) <= 1e-4 * scale, "\(a.shape)")
        }
    }

    @Test("sluice: α [TG, TG] mixes the channel subspaces as written by hand; β and α gradients match central differences")
    func sluice() throws {
        let cpu = CPUDevice.shared
        let tasks = [TaskSpec("a", .regression), TaskSpec("b", .regression)]
        let model = try #require(try ModelFactory.make("sluice", tasks: tasks, inputShape: [7], seed: 10, on: cpu) as? SluiceNetwork)
        #expect(model.alphas.map(\.shape) == [[4, 4], [4, 4], [4, 4]])
        #expect(model.beta.shape == [2, 3])
        #expect(try model.alphas[0].values() == [0.9, 0, 0.1, 0, 0, 0.9, 0, 0.1, 0.1, 0, 0.9, 0, 0, 0.1, 0, 0.9])
        #expect(try model.beta.values() == [0, 0, 1, 0, 0, 1])
        let images = try #require(try ModelFactory.make("sluice", tasks: Self.tasks, inputShape: [1, 28, 28], seed: 10, on: cpu) as? SluiceNetwork)
        #expect(images.alphas.count == 4 && images.beta.shape == [2, 2])

        // α applied to two columns' [N, C, H, W] outputs, by hand.
        let random = RandomSource(seed: 11)
        let alpha = try Tensor(random.normal(16, std: 0.5), shape: [4, 4], on: cpu)
        let columns = try (0..<2).map { _ in try Tensor(random.normal(3 * 6 * 2 * 2, std: 1), shape: [3, 6, 2, 2], on: cpu) }
        let mixed = try model.mix(columns, alpha: alpha)
        let a = try alpha.values(), c = try columns.map { try $0.values() }
        for t in 0..<2 {
            var expected = [Float](repeating: 0, count: 72)
            for n in 0..<3 {
                for g in 0..<2 {
                    for e in 0..<12 {  // 3 channels × 2 × 2 per subspace
                        var sum: Float = 0
                        for u in 0..<2 { for h in 0..<2 { sum += a[(t * 2 + g) * 4 + u * 2 + h] * c[u][n * 24 + h * 12 + e] } }
                        expected[n * 24 + g * 12 + e] = sum
                    }
                }
            }
            #expect(Self.maxDifference(try mixed[t].values(), expected) <= 1e-5, "column \(t)")
        }

        // Gradients of the summed losses with respect to β and α, against central differences.
        for p in model.mixingParameters { try p.assign(Tensor(try p.values().map { $0 + Float(random.uniform(1, low: -0.3, high: 0.3)[0]) }, shape: p.shape, on: cpu)) }
        let x = try Tensor(random.normal(5 * 7, std: 1), shape: [5, 7], on: cpu)
        let y = try (0..<2).map { _ in try Tensor(random.normal(5, std: 1), shape: [5], on: cpu) }
        func loss() throws -> Tensor {
            let outputs = try model.forward(x)
            return try tasks[0].loss(outputs[0], y[0]) + tasks[1].loss(outputs[1], y[1])
        }
        try loss().backward()
        for (parameter, indices) in [(model.beta, [0, 1, 2, 5]), (model.alphas[1], [0, 3, 6, 13])] {
            try Self.checkCentralDifferences(parameter, at: indices, absolute: 3e-3) { try loss().item() }
        }
        // β's rows are the tasks': task a's loss leaves task b's row without gradient.
        Self.clearGradients(model)
        try tasks[0].loss(try model.forward(x)[0], y[0]).backward()
        let g = try #require(model.beta.grad).values()
        #expect(g[..<3].contains { $0 != 0 } && g[3...].allSatisfy { $0 == 0 })
    }

    @Test("low supervision: the first task's head reads the lower stage and its loss reaches no stage above it")
    func lowSupervision() throws {
        let cpu = CPUDevice.shared
        let model = try #require(try ModelFactory.make("low-supervision", tasks: Self.tasks, inputShape: [1, 28, 28], seed: 12, on: cpu) as? LowSupervision)
        #expect(model.levels == [1, 2])
        let alone = try #require(try ModelFactory.make("low-supervision", tasks: [Self.tasks[1]], inputShape: [1, 28, 28], seed: 12, on: cpu) as? LowSupervision)
        #expect(alone.levels == [2], "a single task is supervised at the top")
        let (x, targets) = try Self.batch(4, seed: 13, on: cpu)
        let outputs = try model.forward(x)
        let low = try model.stages[1](model.stages[0](x))
        #expect(low.shape == [4, 20, 4, 4])
        #expect(Self.maxDifference(try outputs[0].values(), try model.heads[0](low).values()) == 0)
        #expect(Self.maxDifference(try outputs[1].values(), try model.heads[1](model.stages[2](low)).values()) == 0)
        try Self.tasks[0].loss(outputs[0], targets[0]).backward()
        let stageParameters = model.stages.map { ($0 as! Module).parameters }
        #expect(try stageParameters[0...1].joined().map(Self.gradientSquare).reduce(0, +) > 0)
        #expect(try stageParameters[2].map(Self.gradientSquare).reduce(0, +) == 0)
    }

    @Test("each trains 10 trainer steps on multifashion-shaped data on the CPU and OpenCL: losses fall, the devices agree to 1e-3",
          arguments: names)
    func trainsOnEveryDevice(name: String) throws {
        func run(_ device: any Device) throws -> [Float] {
            let model = try ModelFactory.make(name, tasks: Self.tasks, inputShape: [1, 28, 28], seed: 14, on: device)
            let trainer = try Trainer(model: model, optimizer: try Adam(model.parameters, learningRate: 0.003), weighting: EqualWeighting(),
                                      device: device)
            let (x, targets) = try Self.batch(8, seed: 15, on: device)
            var trace: [Float] = []
            for _ in 0..<10 { trace += try trainer.trainStep(TrainingBatch(input: x, targets: targets)) }
            return trace
        }
        let cpu = try run(CPUDevice.shared)
        #expect(cpu.allSatisfy { $0.isFinite })
        #expect(cpu[18] + cpu[19] < cpu[0] + cpu[1], "\(name): the summed loss falls over 10 steps: \(cpu)")
        for selector in openCLSelectors {
            let other = try run(try Devices.select(selector))
            for (a, b) in zip(other, cpu) { #expect(abs(a - b) <= 1e-3 * max(1, abs(b)), "\(name) on \(selector): \(other) vs \(cpu)") }
        }
    }
}
