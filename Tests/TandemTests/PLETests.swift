import Testing
@testable import Tandem

/// PLE and CGC (Tang et al. 2020).
@Suite("PLE and CGC")
struct PLETests {
    /// Every parameter's gradient of `loss` (autodiff) against central differences (step 2e-3), at
    /// five elements of each parameter, on the CPU.
    static func expectCentralDifferences(_ model: Module, loss: () throws -> Tensor,
                                         sourceLocation: SourceLocation = #_sourceLocation) throws {
        for p in model.parameters { p.grad = nil }
        try loss().backward()
        let h: Float = 2e-3
        for p in model.parameters {
            let analytic = try #require(p.grad).values()
            var values = try p.values()
            for i in stride(from: 0, to: values.count, by: max(1, values.count / 5)) {
                let original = values[i]
                func value(at value: Float) throws -> Float {
                    values[i] = value
                    try p.assign(Tensor(values, shape: p.shape, on: p.device))
                    return try Tensor.withoutGradient { try loss().item() }
                }
                let numeric = (try value(at: original + h) - value(at: original - h)) / (2 * h)
                _ = try value(at: original)
                #expect(abs(numeric - analytic[i]) <= 1e-3 + 2e-2 * abs(analytic[i]), "\(p.name ?? "") [\(i)]: \(numeric) vs \(analytic[i])",
                        sourceLocation: sourceLocation)
            }
        }
    }

    @Test("CGC without task experts is MMoE with the same weights", arguments: allSelectors)
    func cgcIsMMoE(selector: String) throws {
        let device = try Devices.select(selector)
        let tasks = [TaskSpec("a", .regression), TaskSpec("b", .regression)]
        let random = RandomSource(seed: 7)
        let towers: [any Layer & Module] = try (0..<2).map { _ in try Linear(5, 1, random: random, on: device) }
        let ple = try PLE(tasks: tasks, inputs: 11, levels: 1, sharedExperts: 3, taskExperts: 0, units: 5, towers: towers, random: random, on: device)
        let mmoe = try MMoE(tasks: tasks, inputs: 11, experts: 3, expertUnits: 5, towers: towers, random: random, on: device)
        let level = ple.levels[0]
        try mmoe.expertWeight.assign(level.sharedWeight)
        try mmoe.expertBias.assign(level.sharedBias)
        for t in 0..<2 { for (a, b) in zip(mmoe.gates[t].parameters, level.taskGates[t].parameters) { try a.assign(b) } }
        #expect(level.sharedGate == nil && level.taskWeights.isEmpty)
        let x = try Tensor(random.uniform(7 * 11, low: -1, high: 1), shape: [7, 11], on: device)
        for (a, b) in zip(try ple.forward(x), try mmoe.forward(x)) {
            for (u, v) in zip(try a.values(), try b.values()) { #expect(abs(u - v) <= 1e-5 * max(1, abs(v)), "\(u) vs \(v)") }
        }
    }

    @Test("two-level PLE: parameters by hand, gradients of every parameter against central differences")
    func gradients() throws {
        let cpu = CPUDevice.shared
        let tasks = [TaskSpec("a", .regression), TaskSpec("b", .regression)]
        let random = RandomSource(seed: 11)
        let towers: [any Layer & Module] = try (0..<2).map { _ in try Linear(3, 1, random: random, on: cpu) }
        let model = try PLE(tasks: tasks, inputs: 4, levels: 2, sharedExperts: 2, taskExperts: 1, units: 3, towers: towers, random: random, on: cpu)
        // Level 1: experts (2 + 2·1)·(3·4 + 3) = 60, task gates 2·(4·3 + 3) = 30, shared gate 4·4 + 4 = 20;
        // level 2: experts 4·(3·3 + 3) = 48, task gates 2·(3·3 + 3) = 24; towers 2·4 = 8.
        #expect(model.parameterCount == 60 + 30 + 20 + 48 + 24 + 8)
        #expect(model.levels[1].sharedGate == nil && model.levels[0].sharedGate != nil)
        let x = try Tensor(random.uniform(5 * 4, low: -1, high: 1), shape: [5, 4], on: cpu)
        func loss() throws -> Tensor {
            let out = try model.forward(x)
            return try (out[0].square().sum() + out[1].sum() * 0.7)
        }
        try Self.expectCentralDifferences(model, loss: loss)
    }

    // MARK: DSelect-k

    static func dselect(gamma: Float = 1, k: Int = 2, on device: any Device) throws -> DSelectK {
        let random = RandomSource(seed: 5)
        let towers: [any Layer & Module] = try (0..<2).map { _ in try Linear(4, 1, random: random, on: device) }
        return try DSelectK(tasks: [TaskSpec("a", .regression), TaskSpec("b", .regression)], inputs: 6, experts: 8, units: 4, k: k,
                            gamma: gamma, towers: towers, random: random, on: device)
    }

    @Test("DSelect-k: the smooth step by hand; selectors on the simplex, one-hot at the coded expert once saturated; at most k experts per gate", arguments: allSelectors)
    func dselectGates(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try Self.dselect(on: device)
        #expect(model.bits == 3)
        let t = try Tensor([-1, -0.5, 0, 0.25, 0.5, 1], shape: [6], on: device, requiresGrad: true)
        expectClose(try model.smoothStep(t).values(), [0, 0, 0.5, 0.84375, 1, 1], tolerance: 1e-6)
        try model.smoothStep(t).sum().backward()
        // S′(t) = −6t²/γ³ + 3/(2γ) inside (−γ/2, γ/2), 0 outside.
        expectClose(try #require(t.grad).values(), [0, 0, 1.5, 1.125, 0, 0], tolerance: 1e-5)
        let random = RandomSource(seed: 9)
        let z = try Tensor(random.uniform(5 * 3, low: -0.4, high: 0.4), shape: [5, 3], on: device)
        let r = try model.selector(z).values()
        for row in 0..<5 { #expect(abs(r[(row * 8)..<(row * 8 + 8)].reduce(0, +) - 1) < 1e-5) }
        // Saturated codes (+, −, +) select expert 1·1 + 0·2 + 1·4 = 5.
        let saturated = try model.selector(Tensor([2, -2, 0.7], shape: [1, 3], on: device)).values()
        expectClose(saturated, [0, 0, 0, 0, 0, 1, 0, 0])
        // A gate whose code layer outputs saturated codes: at most k = 2 experts get weight.
        for gate in model.codeGates {
            try gate.weight.assign(Tensor.zeros(gate.weight.shape, on: device))
            try #require(gate.bias).assign(Tensor([1, 1, 1, -1, 1, -1], shape: [6], on: device))
        }
        let x = try Tensor(random.uniform(4 * 6, low: -1, high: 1), shape: [4, 6], on: device)
        let q = try model.gate(0, x).values()
        for row in 0..<4 {
            let weights = Array(q[(row * 8)..<(row * 8 + 8)])
            #expect(weights.filter { $0 > 0 }.count <= 2 && abs(weights.reduce(0, +) - 1) < 1e-5, "\(weights)")
            #expect(weights[7] > 0 && weights[2] > 0, "experts 7 (codes +,+,+) and 2 (−,+,−): \(weights)")
        }
        _ = try model.forward(x)
        #expect(try #require(try model.regularization()).item() >= 0)
        #expect(model.namedBuffers().isEmpty, "the codes and selectors stay out of the state dictionary")
    }

    @Test("DSelect-k: gradients of every parameter, the entropy penalty included, against central differences")
    func dselectGradients() throws {
        let cpu = CPUDevice.shared
        let model = try Self.dselect(gamma: 8, on: cpu)  // a wide smooth step keeps the check away from its kinks
        let x = try Tensor(RandomSource(seed: 3).uniform(5 * 6, low: -1, high: 1), shape: [5, 6], on: cpu)
        func loss() throws -> Tensor {
            let out = try model.forward(x)
            return try out[0].square().sum() + out[1].sum() * 0.7 + model.regularization()!
        }
        try Self.expectCentralDifferences(model, loss: loss)
    }

    @Test("DSelect-k and PLE train through the trainer, the entropy penalty backpropagated after the losses", arguments: ["dselect-k", "ple", "cgc", "ltb"])
    func trainerSteps(name: String) throws {
        let cpu = CPUDevice.shared
        let tasks = [TaskSpec("a", .regression), TaskSpec("b", .regression)]
        let model = try ModelFactory.make(name, tasks: tasks, inputShape: [10], seed: 2, on: cpu)
        let weighting = EqualWeighting()
        let trainer = try Trainer(model: model, optimizer: try Adam(model.parameters, learningRate: 0.01), weighting: weighting, device: cpu)
        let random = RandomSource(seed: 6)
        let batch = try TrainingBatch(input: Tensor(random.uniform(16 * 10, low: -1, high: 1), shape: [16, 10], on: cpu),
                                      targets: (0..<2).map { _ in try Tensor(random.uniform(16, low: -1, high: 1), shape: [16], on: cpu) })
        var first: Float = 0, last: Float = 0
        for step in 0..<30 {
            let losses = try trainer.trainStep(batch)
            if step == 0 { first = losses.reduce(0, +) }
            last = losses.reduce(0, +)
        }
        #expect(last.isFinite && last < first, "\(name): loss \(first) → \(last)")
    }
}
