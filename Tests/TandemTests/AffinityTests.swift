import Testing
@testable import Tandem

@Suite("Task affinity")
struct AffinityTests {
    @Test("identical tasks give cosine 1, opposite gradients −1; the summary names the conflicting pair", arguments: allSelectors)
    func cosines(selector: String) throws {
        let device = try Devices.select(selector)
        let g: [Float] = [0.5, -1, 2]
        // Tasks 0 and 1 identical, task 2 opposite to both, task 3 orthogonal to all.
        let model = try ToyModel(theta: [1, 1, 1], gradients: [g, g, g.map { -$0 }, [2, 1, 0]], on: device)
        let affinity = try TaskAffinity(tasks: model.tasks)
        for _ in 0..<3 {
            let losses = try model.losses()
            try affinity.observe(losses: losses, model: model)
        }
        let report = affinity.endEpoch()
        #expect(report.steps == 3)
        let expected: [[Double]] = [[1, 1, -1, 0], [1, 1, -1, 0], [-1, -1, 1, 0], [0, 0, 0, 1]]
        for (row, e) in zip(report.cosine, expected) { expectClose(row, e, tolerance: 1e-5) }
        #expect(report.conflicts.map { [$0.0, $0.1] } == [[0, 2], [1, 2]])
        #expect(report.helps.map { [$0.0, $0.1] } == [[0, 1]])
        #expect(report.summary.contains("task0 and task2 conflict (gradient cosine -1.00)"))
        #expect(report.summary.contains("task0 and task1 help each other (gradient cosine 1.00)"))
        #expect(report.summary.contains("task0 and task3 are nearly independent (gradient cosine 0.00)"))
        // Observing leaves every gradient as it was (none here).
        #expect(model.parameters.allSatisfy { $0.grad == nil })
        // A new epoch starts empty.
        let empty = affinity.endEpoch()
        #expect(empty.steps == 0 && empty.cosine[0][1].isNaN)
        #expect(empty.summary.first == "no steps were measured this epoch")
    }

    @Test("the epoch matrix is the mean of per-step cosines, sampled every k steps; existing gradients survive")
    func sampling() throws {
        let cpu = CPUDevice.shared
        let affinity = try TaskAffinity(tasks: [TaskSpec("a", .regression), TaskSpec("b", .regression)], every: 2)
        let aligned = try ToyModel(theta: [0, 0], gradients: [[1, 0], [1, 1]], on: cpu)
        let opposite = try ToyModel(theta: [0, 0], gradients: [[1, 0], [-1, 0]], on: cpu)
        let marker = try Tensor([7, 7], shape: [1, 2], on: cpu)
        aligned.theta.grad = marker
        try affinity.observe(losses: aligned.losses(), model: aligned)   // step 0: measured, cos 1/√2
        try affinity.observe(losses: opposite.losses(), model: opposite) // step 1: skipped
        try affinity.observe(gram: [[1, -1], [-1, 1]])                   // step 2: measured, cos −1
        let report = affinity.endEpoch()
        #expect(report.steps == 2)
        #expect(abs(Double(report.cosine[0][1]) - (0.5.squareRoot() - 1) / 2) < 1e-5)
        #expect(aligned.theta.grad === marker)
        #expect(aligned.heads.allSatisfy { $0.grad == nil })
        #expect(throws: TandemError.self) { try affinity.observe(gram: [[1]]) }
        #expect(throws: TandemError.self) { try TaskAffinity(tasks: [], every: 1) }
    }

    @Test("TAG lookahead: Z_{i→j} = 1 − L_j(θ − η∇L_i)/L_j(θ), parameters restored exactly", arguments: allSelectors)
    func lookahead(selector: String) throws {
        let device = try Devices.select(selector)
        let theta: [Float] = [0.5, -1, 2]
        let gradients: [[Float]] = [[-0.5, -1, 1], [1, 0.5, -0.5]]
        let model = try ToyModel(theta: theta, gradients: gradients, on: device)
        let eta: Float = 0.1
        let affinity = try TaskAffinity(tasks: model.tasks, lookaheadLearningRate: eta)
        let before = try model.theta.values()
        try affinity.observe(losses: model.losses(), model: model, recompute: { try model.losses() })
        #expect(try model.theta.values() == before)
        let report = affinity.endEpoch()
        let lookahead = try #require(report.lookahead)
        // θ' = θ − η gᵢ, so θ' − aⱼ = gⱼ − η gᵢ; heads unchanged.
        let g = model.taskGradients, h = model.headValues
        for i in 0..<2 {
            for j in 0..<2 {
                let moved = zip(g[j], g[i]).map { $0 - Double(eta) * $1 }
                let after = 0.5 * dot(moved, moved) + 0.5 * h[j] * h[j]
                let z = 1 - after / model.lossValues[j]
                #expect(abs(Double(lookahead[i][j]) - z) < 1e-4, "Z[\(i)→\(j)] = \(lookahead[i][j]), expected \(z)")
            }
        }
        #expect(lookahead[0][1] < 0 && lookahead[1][0] < 0)
        #expect(report.summary.contains { $0.hasPrefix("a step on task0 raises task1's loss") })
        let cosine = Float(dot(g[0], g[1]) / (dot(g[0], g[0]) * dot(g[1], g[1])).squareRoot())
        #expect(abs(report.cosine[0][1] - cosine) < 1e-5)
        #expect(report.summary.contains("task0 and task1 conflict (gradient cosine \(TaskAffinity.format(cosine)))"))
    }

    @Test("affinity on a preset reuses a gradient method's Gram matrix")
    func withGradientMethod() throws {
        let cpu = CPUDevice.shared
        let model = try Presets.make("lenet-hps", seed: 2, on: cpu)
        let (x, targets) = try ArchitectureTests.batch("lenet-hps", on: cpu)
        let losses = try zip(model.tasks, zip(model.forward(x), targets)).map { try $0.loss($1.0, $1.1) }
        let affinity = try TaskAffinity(tasks: model.tasks)
        let reuse = try TaskAffinity(tasks: model.tasks)
        try affinity.observe(losses: losses, model: model)
        #expect(model.parameters.allSatisfy { $0.grad == nil })
        let method = PCGrad()
        try method.backward(losses: losses, model: model)
        try reuse.observe(gram: try #require(method.lastGram))
        let a = affinity.endEpoch(), b = reuse.endEpoch()
        #expect(abs(a.cosine[0][1] - b.cosine[0][1]) < 1e-4)
        #expect(a.summary.count == 1)
    }
}
