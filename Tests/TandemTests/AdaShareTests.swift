import Foundation
import Testing
@testable import Tandem

/// Issue 19, item 3: AdaShare (Sun et al. 2020) — the Gumbel-softmax sampling, the policy
/// regularisers, the curriculum and the phases, on the CPU and OpenCL.
@Suite("AdaShare")
struct AdaShareTests {
    static let tasks = [TaskSpec("left", .classification(classes: 3)), TaskSpec("right", .classification(classes: 4))]

    static func model(seed: UInt64 = 5, on device: any Device = CPUDevice.shared) throws -> AdaShare {
        try AdaShare(tasks: tasks, inputShape: [1, 8, 8], outputs: [3, 4], seed: seed, on: device)
    }

    static func batch(_ count: Int, seed: UInt64, on device: any Device) throws -> TrainingBatch {
        let random = RandomSource(seed: seed)
        let x = try Tensor(random.uniform(count * 64, low: 0, high: 1), shape: [count, 1, 8, 8], on: device)
        let targets = try [3, 4].enumerated().map { t, classes in
            try Tensor((0..<count).map { Float(($0 * (2 + t)) % classes) }, shape: [count], on: device)
        }
        return try TrainingBatch(input: x, targets: targets)
    }

    @Test("Gumbel-softmax: soft samples are distributions; hard samples are one-hot, drawn with softmax(θ)'s frequencies, with the soft gradient")
    func gumbelSoftmax() throws {
        let seed = TestSeed()
        let cpu = CPUDevice.shared
        let theta = try Tensor([1, 0, -1], shape: [1, 3], on: cpu, requiresGrad: true)
        let soft = try GumbelSoftmax.sample(theta, temperature: 0.7, stream: seed.value).values()
        #expect(abs(soft.reduce(0, +) - 1) < 1e-5 && soft.allSatisfy { $0 > 0 && $0 < 1 }, "\(soft), \(seed)")
        // The Gumbel-max trick: arg-max(θ + g) follows softmax(θ) whatever τ.
        let draws = 3000
        var counts = [0, 0, 0]
        for k in 0..<draws {
            let hard = try GumbelSoftmax.sample(theta, temperature: 0.5, stream: seed.derived(k), hard: true).values()
            #expect(hard.filter { $0 == 1 }.count == 1 && hard.filter { $0 == 0 }.count == 2, "\(hard), \(seed)")
            counts[hard.firstIndex(of: 1)!] += 1
        }
        let z = [1.0, 0, -1].map { Foundation.exp($0) }, total = z.reduce(0, +)
        for i in 0..<3 {
            let p = z[i] / total, sd = (p * (1 - p) / Double(draws)).squareRoot()
            #expect(abs(Double(counts[i]) / Double(draws) - p) < 4.5 * sd, "class \(i): \(counts[i])/\(draws) vs p \(p), \(seed)")
        }
        // Straight-through: the one-hot forward carries the soft sample's gradient to θ.
        let hard = try GumbelSoftmax.sample(theta, temperature: 0.5, stream: seed.value, hard: true)
        try (hard * Tensor([1, 2, 3], shape: [1, 3], on: cpu)).sum().backward()
        let grad = try #require(theta.grad).values()
        #expect(grad.contains { $0 != 0 } && abs(grad.reduce(0, +)) < 1e-5, "\(grad), \(seed)")
        #expect(throws: TandemError.self) { try GumbelSoftmax.sample(theta, temperature: 0, stream: 1) }
        // The same stream draws the same sample on every device.
        for selector in openCLSelectors {
            let device = try Devices.select(selector)
            let other = try GumbelSoftmax.sample(Tensor([1, 0, -1], shape: [1, 3], on: device), temperature: 0.7, stream: seed.value).values()
            for (a, b) in zip(other, soft) { #expect(abs(a - b) < 1e-5, "\(selector): \(other) vs \(soft), \(seed)") }
        }
    }

    @Test("the curriculum unlocks blocks from the last backwards; τ anneals over the policy phase; locked blocks stay selected")
    func curriculum() throws {
        let unlocked = (0..<7).map { AdaShare.unlocked(epoch: $0, warmup: 2, policyEpochs: 3, blocks: 6) }
        #expect(unlocked == [0, 0, 2, 4, 6, 6, 6])
        #expect(AdaShare.unlocked(epoch: 1, warmup: 1, policyEpochs: 4, blocks: 6) == 2)  // ⌈6/4⌉
        #expect(AdaShare.temperature(epoch: 0, policyEpochs: 10) == 5)
        #expect(abs(AdaShare.temperature(epoch: 5, policyEpochs: 10) - 5 * Float(Foundation.pow(0.965, 80.0))) < 1e-4)
        let model = try Self.model()
        try model.plan(epochs: 10)  // warm-up 2, policy 4, re-training 4
        #expect(model.phases.warmup == 2 && model.phases.policy == 4)
        // Every task prefers to skip every block.
        try model.logits.assign(Tensor((0..<(2 * 6)).flatMap { _ in [Float(-1), 1] }, shape: [2, 6, 2], on: CPUDevice.shared))
        try model.schedule(epoch: 1)
        let warm = try model.policy()
        #expect(model.phase == .warmup && model.unlocked == 0 && warm.allSatisfy { $0.allSatisfy { $0 } })
        try model.schedule(epoch: 2)
        #expect(model.phase == .policy && model.unlocked == 2)
        let early = try model.policy()
        #expect(early == Array(repeating: [true, true, true, true, false, false], count: 2))
        try model.schedule(epoch: 5)
        let late = try model.policy()
        #expect(model.unlocked == 6 && late.allSatisfy { $0.allSatisfy { !$0 } })
        let text = try model.describePolicy()
        #expect(text.contains("left") && text.split(separator: "\n").count == 7 && text.contains(". (12%)"), "\(text)")
    }

    @Test("the regularisers by hand: sparsity (l + 1)/L · −log(1 − α) over the unlocked blocks, sharing (L − l)/L · |α₁ − α₂|; none outside policy learning")
    func regularisers() throws {
        let model = try Self.model()
        try model.plan(epochs: 5)  // warm-up 1, policy 2
        var theta: [Float] = []
        for i in 0..<12 {
            theta.append(Float(i % 5) * 0.3 - 0.5)
            theta.append(Float(i % 3) * 0.4 - 0.2)
        }
        try model.logits.assign(Tensor(theta, shape: [2, 6, 2], on: CPUDevice.shared))
        try model.schedule(epoch: 0)
        let warmNone = try model.regularization()
        #expect(warmNone == nil)
        let alpha = (0..<12).map { i -> Double in
            let a = Double(theta[2 * i]), b = Double(theta[2 * i + 1])
            return Foundation.exp(a) / (Foundation.exp(a) + Foundation.exp(b))
        }
        for (epoch, open) in [(1, 3), (2, 6)] {
            try model.schedule(epoch: epoch)
            #expect(model.unlocked == open)
            var sparsity = 0.0
            for t in 0..<2 {
                for l in (6 - open)..<6 { sparsity += Double(l + 1) / 6 * -Foundation.log(1 - alpha[t * 6 + l]) / Double(open) }
            }
            var sharing = 0.0
            for l in 0..<6 { sharing += Double(6 - l) / 6 * abs(alpha[l] - alpha[6 + l]) }
            let expected = 0.01 * sparsity + 0.05 * sharing
            let value = try #require(try model.regularization()).values()[0]
            #expect(abs(Double(value) - expected) < 1e-5, "epoch \(epoch): \(value) vs \(expected)")
        }
        // The regulariser's gradient against central differences, one logit at a time.
        let loss = try #require(try model.regularization())
        try loss.backward()
        let grad = try #require(model.logits.grad).values()
        for index in [0, 5, 13, 22] {
            func value(_ delta: Float) throws -> Double {
                var moved = theta
                moved[index] += delta
                try model.logits.assign(Tensor(moved, shape: [2, 6, 2], on: CPUDevice.shared))
                return Double(try model.regularization()!.values()[0])
            }
            let numeric = (try value(1e-2) - value(-1e-2)) / 2e-2
            #expect(abs(numeric - Double(grad[index])) < 2e-4 + 0.02 * abs(numeric), "θ[\(index)]: \(grad[index]) vs \(numeric)")
        }
        try model.schedule(epoch: 3)
        let none = try model.regularization()
        #expect(model.phase == .retraining && none == nil)
    }

    @Test("re-training: fresh weights once, the optimizer's state for them reset, skipped blocks not run; the phase survives a state round trip; CPU and OpenCL agree")
    func phases() throws {
        func run(_ device: any Device) throws -> (losses: [Float], model: AdaShare, optimizer: Adam) {
            let model = try Self.model(on: device)
            try model.plan(epochs: 5)  // warm-up 1, policy 2, re-training 2
            let optimizer = try Adam(model.parameters, learningRate: 0.01)
            let trainer = try Trainer(model: model, optimizer: optimizer, weighting: EqualWeighting(), device: device)
            let batches = try (0..<2).map { try Self.batch(6, seed: 30 + UInt64($0), on: device) }
            var losses: [Float] = []
            trainer.callbacks.append(ClosureCallback(step: { _, report in losses += report.losses }))
            _ = try trainer.fit(epochs: 3, train: batches)
            return (losses, model, optimizer)
        }
        let cpu = try run(CPUDevice.shared)
        #expect(cpu.model.phase == .policy && cpu.losses.count == 12 && cpu.losses.allSatisfy(\.isFinite))
        let thetaGrad = try #require(cpu.model.logits.grad).values()
        #expect(thetaGrad.contains { $0 != 0 }, "θ trains in policy learning")
        for selector in openCLSelectors {
            let other = try run(try Devices.select(selector))
            // Adam at lr 0.01 over batch norm amplifies rounding: the first steps agree closely, the rest within 1%.
            for (k, (a, b)) in zip(other.losses, cpu.losses).enumerated() {
                #expect(abs(a - b) <= (k < 4 ? 1e-4 : 1e-2) * max(1, abs(b)), "\(selector) loss \(k): \(other.losses) vs \(cpu.losses)")
            }
        }
        // Into re-training: block 3 skipped by both tasks, the rest selected.
        let model = cpu.model
        var theta = [Float](repeating: 0, count: 24)
        for t in 0..<2 { for l in 0..<6 { theta[(t * 6 + l) * 2] = l == 2 ? -2 : 2 } }
        try model.logits.assign(Tensor(theta, shape: [2, 6, 2], on: CPUDevice.shared))
        let before = try model.stem.parameters[0].values()
        #expect(cpu.optimizer.hasState(for: model.stem.parameters[0]))
        try model.schedule(epoch: 3)
        let fresh = model.takeReinitialized()
        #expect(model.phase == .retraining && fresh.count == model.parameters.count - 1, "every weight but θ")
        let after = try model.stem.parameters[0].values()
        #expect(after != before)
        // The trainer drops the optimizer's state of what was re-initialised.
        cpu.optimizer.resetState(of: fresh)
        #expect(!cpu.optimizer.hasState(for: model.stem.parameters[0]))
        #expect(model.takeReinitialized().isEmpty, "only once")
        try model.schedule(epoch: 4)
        #expect(model.takeReinitialized().isEmpty)
        let fixed = try model.policy()
        #expect(fixed == Array(repeating: [true, true, false, true, true, true], count: 2))
        let used = try model.activeParameterCount()
        let expectedUsed = model.parameterCount - model.logits.count - model.blocks[2].parameterCount + (model.blocks[2].shortcut?.parameterCount ?? 0)
        #expect(used == expectedUsed)
        for p in model.parameters { p.grad = nil }
        let batch = try Self.batch(4, seed: 9, on: CPUDevice.shared)
        let outputs = try model.forward(batch.input)
        try (outputs[0].sum() + outputs[1].sum()).backward()
        #expect(model.blocks[2].body.parameters.allSatisfy { $0.grad == nil }, "a skipped block is not run")
        #expect(model.blocks[3].body.parameters.allSatisfy { $0.grad != nil } && model.logits.grad == nil)
        // A state round trip keeps the phase (no second re-initialisation on resume).
        let copy = try Self.model(seed: 77)
        try copy.loadStateDict(Dictionary(uniqueKeysWithValues: try model.stateDict().map { ($0.0, $0.1) }))
        try copy.schedule(epoch: 4)
        let copied = try copy.policy()
        #expect(copy.phase == .retraining && copy.takeReinitialized().isEmpty && copied == fixed)
        let a = try copy.stem.parameters[0].values(), b = try model.stem.parameters[0].values()
        #expect(a == b)
    }

    @Test("hps on per-pixel tasks: AdaShare's ResNet with every block shared, one pass for all tasks, equal to running each task's path")
    func sharedBackbone() throws {
        let tasks = [TaskSpec("segmentation", .segmentation(classes: 7)), TaskSpec("depth", .depth), TaskSpec("normal", .normals)]
        let model = try #require(try ModelFactory.make("hps", tasks: tasks, inputShape: [3, 32, 32], seed: 8, on: CPUDevice.shared) as? AdaShare)
        #expect(!model.learnsPolicy && model.isFinal(epoch: 0))
        try model.plan(epochs: 2)
        try model.schedule(epoch: 1)
        let penalty = try model.regularization()
        #expect(model.phase == .warmup && model.takeReinitialized().isEmpty && penalty == nil)
        let random = RandomSource(seed: 9)
        let x = try Tensor(random.uniform(2 * 3 * 32 * 32, low: 0, high: 1), shape: [2, 3, 32, 32], on: CPUDevice.shared)
        model.eval()
        let outputs = try model.forward(x)
        var h = try model.stem(x)
        for block in model.blocks { h = try block(h) }
        let expected = [try model.heads[0](h).logSoftmax(axis: 1), try model.heads[1](h), try model.heads[2](h).l2Normalize(axis: 1)]
        for (a, b) in zip(outputs, expected) {
            let (u, v) = (try a.values(), try b.values())
            #expect(u.count == v.count && zip(u, v).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
        }
    }

    @Test("tandem train --model adashare prints the policy; dense tasks get dense heads; vectors are refused")
    func factory() throws {
        let dense = try ModelFactory.make("adashare", tasks: [TaskSpec("segmentation", .segmentation(classes: 7)), TaskSpec("depth", .depth)],
                                          inputShape: [3, 32, 32], on: CPUDevice.shared)
        let x = try Tensor([Float](repeating: 0.5, count: 2 * 3 * 32 * 32), shape: [2, 3, 32, 32], on: CPUDevice.shared)
        let shapes = try dense.forward(x).map(\.shape)
        #expect(shapes == [[2, 7, 32, 32], [2, 1, 32, 32]])
        #expect(throws: TandemError.self) { try ModelFactory.make("adashare", tasks: Self.tasks, inputShape: [100], on: CPUDevice.shared) }
        let folder = temporaryDirectory("adashare")
        let report = folder + "/run.json"
        let result = try runTandem(["train", "--model", "adashare", "--data", "multifashion", "--limit", "64", "--epochs", "4",
                                    "--batch-size", "16", "--device", "cpu", "--affinity-batches", "0", "--report", report])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("AdaShare policy after re-training") && result.stdout.contains("Parameters the policy uses"), "\(result.stdout)")
        // Only the re-trained network's epochs (the last two of four: warm-up 1, policy 1) can be the best.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let best = try #require(object["best_epoch"] as? Int)
        #expect(best >= 3, "best epoch \(best)")
        let tooShort = try runTandem(["train", "--model", "adashare", "--data", "multifashion", "--limit", "64", "--epochs", "2", "--device", "cpu"])
        #expect(tooShort.status == 1 && tooShort.stderr.contains("at least 3 epochs"), "\(tooShort.stderr)")
    }
}
