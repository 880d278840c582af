import Foundation
import Testing
@testable import Tandem

/// Equal weighting, optionally with learnable log-weights s (Σ e^{−s}·L + ½s, a tiny UW), so the
/// trainer tests do not depend on the weighting methods' own files.
final class TestWeighting: LossWeighting {
    let name: String
    let logWeights: Tensor?
    private(set) var endEpochCalls: [[Float]] = []

    init(tasks: Int, learnable: Bool = false, on device: any Device) throws {
        name = learnable ? "test-uw" : "test-ew"
        logWeights = learnable ? try Tensor.zeros([tasks], on: device, requiresGrad: true) : nil
    }

    var parameters: [Tensor] { logWeights.map { [$0] } ?? [] }

    func backward(losses: [Tensor], model: any MultiTaskModel) throws {
        var total: Tensor?
        for (i, loss) in losses.enumerated() {
            var term = loss
            if let s = logWeights {
                let si = try s.slice(axis: 0, i..<(i + 1)).reshape(loss.shape)
                term = try si.neg().exp() * loss + si * 0.5
            }
            total = try total.map { try $0 + term } ?? term
        }
        try #require(total).backward()
    }

    func endEpoch(meanLosses: [Float]) throws { endEpochCalls.append(meanLosses) }

    func currentWeights() throws -> [Float] {
        try logWeights.map { try $0.values().map { Float(exp(Double(-$0))) } } ?? [1, 1]
    }
}

/// Random but learnable W2 data: 28×28 low noise plus, per task, a bright 4×4 patch whose position
/// (one of 10 in the task's half of the image) is the task's class.
enum LearnableData {
    static func host(n: Int, seed: UInt64) -> (x: [Float], labels: [[Float]]) {
        var random = SplitMix64(seed: seed)
        var x = random.uniform(n * 28 * 28).map { $0 * 0.1 }
        var labels: [[Float]] = [[], []]
        for i in 0..<n {
            for task in 0..<2 {
                let c = Int.random(in: 0..<10, using: &random)
                labels[task].append(Float(c))
                let top = task * 14 + 1 + 6 * (c / 5), left = 1 + 5 * (c % 5)
                for r in top..<(top + 4) { for col in left..<(left + 4) { x[i * 784 + r * 28 + col] += 1 } }
            }
        }
        return (x, labels)
    }

    static func batch(n: Int, seed: UInt64, on device: any Device, masks: [[Float]?] = [nil, nil]) throws -> TrainingBatch {
        let (x, labels) = host(n: n, seed: seed)
        return try TrainingBatch(input: Tensor(x, shape: [n, 1, 28, 28], on: device),
                         targets: labels.map { try Tensor($0, shape: [n], on: device) },
                         masks: masks.map { try $0.map { try Tensor($0, shape: [n], on: device) } })
    }

    static func batches(_ count: Int, n: Int, seed: UInt64, on device: any Device) throws -> [TrainingBatch] {
        try (0..<count).map { try batch(n: n, seed: seed &+ UInt64($0) &* 7919, on: device) }
    }
}

@Suite("Trainer and metrics")
struct TrainerTests {
    // MARK: Metrics against hand-computed cases

    @Test("classification accuracy and regression MSE/MAE honour masks and missing labels")
    func classificationRegression() throws {
        var accuracy = MetricAccumulator(kind: .classification(classes: 3))
        // Argmaxes 2, 0, 1, 1; labels 2, 1, 1, −1 (missing); sample 2 masked out → 1 of 2 right.
        try accuracy.add(prediction: [0, 1, 5, 3, 1, 0, 0, 2, 1, 0, 9, 0], predictionShape: [4, 3],
                         target: [2, 1, 1, -1], targetShape: [4], mask: [1, 1, 0, 1])
        #expect(accuracy.result() == [Metric(name: "accuracy", value: 0.5, higherIsBetter: true)])

        var regression = MetricAccumulator(kind: .regression)
        try regression.add(prediction: [1, 2, 3], predictionShape: [3, 1], target: [0, 4, 3], targetShape: [3])
        try regression.add(prediction: [10], predictionShape: [1], target: [0], targetShape: [1], mask: [0])
        let r = regression.result()
        #expect(abs(r[0].value - 5.0 / 3) < 1e-12 && r[0].name == "mse" && !r[0].higherIsBetter)
        #expect(abs(r[1].value - 1) < 1e-12 && r[1].name == "mae")
    }

    @Test("segmentation mIoU over classes present, pixel accuracy, label −1 ignored")
    func segmentation() throws {
        var metric = MetricAccumulator(kind: .segmentation(classes: 3))
        // One image, 4 pixels, class scores [N, C, 4]: predictions 0, 0, 1, 1; labels 0, 1, 1, −1.
        let scores: [Float] = [5, 5, 0, 0,   // class 0
                               0, 0, 5, 5,   // class 1
                               1, 1, 1, 1]   // class 2
        try metric.add(prediction: scores, predictionShape: [1, 3, 2, 2], target: [0, 1, 1, -1], targetShape: [1, 2, 2])
        // Class 0: TP 1, FP 1 → IoU 1/2; class 1: TP 1, FN 1 → 1/2; class 2 absent → left out.
        let result = metric.result()
        #expect(result[0].name == "miou" && abs(result[0].value - 0.5) < 1e-12)
        #expect(result[1].name == "pixel_accuracy" && abs(result[1].value - 2.0 / 3) < 1e-12)
    }

    @Test("depth errors over valid pixels and normal angles with their thresholds")
    func depthNormals() throws {
        var depth = MetricAccumulator(kind: .depth)
        try depth.add(prediction: [1, 3, 7, 2], predictionShape: [1, 1, 2, 2], target: [2, 0, 5, 4], targetShape: [1, 1, 2, 2])
        let d = depth.result()  // |−1|, |2|, |−2| over t = 2, 5, 4.
        #expect(abs(d[0].value - 5.0 / 3) < 1e-12 && abs(d[1].value - (0.5 + 0.4 + 0.5) / 3) < 1e-12)

        var normals = MetricAccumulator(kind: .normals)
        // Pixels: 0°, 90°, 45°, 20° (prediction not unit length), and one with a zero target (ignored).
        let c20 = Float(cos(20 * Double.pi / 180)), s20 = Float(sin(20 * Double.pi / 180))
        let px: [Float] = [1, 0, 1, 2 * c20, 5], py: [Float] = [0, 1, 1, 2 * s20, 5], pz: [Float] = [0, 0, 0, 0, 5]
        let tx: [Float] = [1, 1, 1, 1, 0], ty: [Float] = [0, 0, 0, 0, 0], tz: [Float] = [0, 0, 0, 0, 0]
        try normals.add(prediction: px + py + pz, predictionShape: [1, 3, 5], target: tx + ty + tz, targetShape: [1, 3, 5])
        let n = normals.result()
        #expect(n.map(\.name) == ["angle_mean", "angle_median", "within_11.25", "within_22.5", "within_30"])
        #expect(abs(n[0].value - (0 + 90 + 45 + 20) / 4.0) < 1e-3)
        #expect(abs(n[1].value - 32.5) < 1e-3)
        #expect(n[2].value == 0.25 && n[3].value == 0.5 && n[4].value == 0.5)
    }

    @Test("Δm follows LibMTL's definition")
    func deltaM() throws {
        let result = EvaluationResult(tasks: [
            TaskMetrics(task: "seg", loss: 0, metrics: [Metric(name: "miou", value: 0.55, higherIsBetter: true),
                                                        Metric(name: "pixel_accuracy", value: 0.8, higherIsBetter: true)]),
            TaskMetrics(task: "depth", loss: 0, metrics: [Metric(name: "abs_err", value: 0.9, higherIsBetter: false)]),
        ])
        let baselines = ["seg": ["miou": 0.5, "pixel_accuracy": 0.8], "depth": ["abs_err": 1.0]]
        // seg: (+0.1 + 0) / 2 = 0.05; depth: −(0.9 − 1)/1 = +0.1; mean 0.075.
        #expect(abs(try DeltaM.compute(result, baselines: baselines) - 0.075) < 1e-12)
        #expect(throws: TandemError.self) { try DeltaM.compute(result, baselines: ["seg": ["miou": 0.5]]) }
        #expect(throws: TandemError.self) { try DeltaM.compute(result, baselines: baselines.merging(["x": ["a": 1]]) { a, _ in a }) }
        #expect(throws: TandemError.self) { try DeltaM.compute(result, baselines: ["seg": ["miou": 0], "depth": ["abs_err": 1]]) }
    }

    // MARK: Masks

    @Test("a masked-out sample changes nothing for its task: losses, gradients and metrics", arguments: allSelectors)
    func masks(selector: String) throws {
        let device = try Devices.select(selector)
        let n = 6, keep: [Float] = [1, 0, 1, 1, 0, 1]
        let (x, labels) = LearnableData.host(n: n, seed: 3)
        let kept = keep.indices.filter { keep[$0] != 0 }
        func run(_ input: [Float], _ rows: Int, _ taskLabels: [Float], mask: [Float]?) throws -> (loss: Float, grads: [[Float]], metrics: TaskMetrics) {
            let model = try Presets.make("lenet-hps", seed: 9, on: device)
            let batch = try TrainingBatch(input: Tensor(input, shape: [rows, 1, 28, 28], on: device),
                                  targets: [try Tensor(taskLabels, shape: [rows], on: device), try Tensor(taskLabels, shape: [rows], on: device)],
                                  masks: [mask.map { try Tensor($0, shape: [rows], on: device) }, nil])
            let output = try model.forward(batch.input)
            let loss = try model.tasks[0].maskedLoss(output[0], batch.targets[0], mask: batch.masks[0])
            try loss.backward()
            let grads = try model.parameters.map { try $0.grad?.values() ?? [] }
            let trainer = try Trainer(model: model, optimizer: SGD(model.parameters, learningRate: 0.1),
                                      weighting: TestWeighting(tasks: 2, on: device), device: device)
            return (try loss.item(), grads, try trainer.evaluate([batch]).tasks[0])
        }
        let masked = try run(x, n, labels[0], mask: keep)
        let subset = try run(kept.flatMap { Array(x[($0 * 784)..<(($0 + 1) * 784)]) }, kept.count, kept.map { labels[0][$0] }, mask: nil)
        #expect(abs(masked.loss - subset.loss) <= 1e-5 * max(1, abs(subset.loss)))
        var worst: Float = 0
        for (a, b) in zip(masked.grads, subset.grads) {
            #expect(a.count == b.count)
            for (u, v) in zip(a, b) { worst = max(worst, abs(u - v) / max(1e-3, abs(v))) }
        }
        #expect(worst < 1e-3, "largest relative gradient difference \(worst)")
        #expect(masked.metrics.metrics == subset.metrics.metrics)
    }

    @Test("depth and normal losses honour a per-sample mask", arguments: ["cpu"])
    func denseMasks(selector: String) throws {
        let device = try Devices.select(selector)
        var random = SplitMix64(seed: 4)
        let p = random.uniform(2 * 3 * 4), t = random.uniform(2 * 3 * 4)
        let pred = try Tensor(p, shape: [2, 3, 2, 2], on: device), target = try Tensor(t, shape: [2, 3, 2, 2], on: device)
        let mask = try Tensor([0, 1], shape: [2], on: device)
        for kind in [TaskKind.depth, .normals] {
            let task = TaskSpec("t", kind)
            let full = try task.maskedLoss(pred, target, mask: mask).item()
            let second = try task.loss(Tensor(Array(p[12...]), shape: [1, 3, 2, 2], on: device),
                                       Tensor(Array(t[12...]), shape: [1, 3, 2, 2], on: device)).item()
            #expect(abs(full - second) < 1e-5, "\(kind)")
        }
    }

    // MARK: Training

    /// Losses of `steps` steps of W2 on `device` from seed-7 weights on learnable data.
    static func trainW2(on device: any Device, steps: Int, batchSize: Int = 8, learningRate: Float = 0.05, adam: Bool = false) throws -> [[Float]] {
        let model = try Presets.make("lenet-hps", seed: 7, on: device)
        let optimizer: any Optimizer = adam ? try Adam(model.parameters, learningRate: learningRate)
            : try SGD(model.parameters, learningRate: learningRate, momentum: 0.9)
        let trainer = try Trainer(model: model, optimizer: optimizer,
                                  weighting: TestWeighting(tasks: 2, on: device), device: device)
        let batches = try LearnableData.batches(4, n: batchSize, seed: 100, on: device)
        return try (0..<steps).map { try trainer.trainStep(batches[$0 % batches.count]) }
    }

    @Test("W2 on learnable data drives every task's loss down", arguments: allSelectors)
    func learns(selector: String) throws {
        // 4 batches of 8 cycled: Adam fits them within 24 steps (ln 10 ≈ 2.3 down to about 1).
        let losses = try Self.trainW2(on: try Devices.select(selector), steps: 24, learningRate: 5e-3, adam: true)
        for task in 0..<2 {
            let first = losses.prefix(4).map { $0[task] }.reduce(0, +) / 4
            let last = losses.suffix(4).map { $0[task] }.reduce(0, +) / 4
            #expect(last < 0.7 * first, "task \(task): \(first) → \(last)")
        }
    }

    @Test("20 steps of W2 on OpenCL agree with the CPU to 1e-3", arguments: openCLSelectors)
    func cpuAgreement(selector: String) throws {
        let cpu = try Self.trainW2(on: CPUDevice.shared, steps: 20, learningRate: 0.02)
        let cl = try Self.trainW2(on: try Devices.select(selector), steps: 20, learningRate: 0.02)
        for (step, (a, b)) in zip(cpu, cl).enumerated() {
            for t in 0..<2 { #expect(abs(a[t] - b[t]) <= 1e-3 * abs(a[t]), "step \(step) task \(t): \(a[t]) vs \(b[t])") }
        }
    }

    @Test("fit validates each epoch, picks the best epoch by Δm and calls the callbacks")
    func fit() throws {
        let device = CPUDevice.shared
        let model = try Presets.make("lenet-hps", seed: 7, on: device)
        let weighting = try TestWeighting(tasks: 2, on: device)
        let trainer = try Trainer(model: model, optimizer: SGD(model.parameters, learningRate: 0.05, momentum: 0.9),
                                  weighting: weighting, device: device,
                                  baselines: ["left": ["accuracy": 0.5], "right": ["accuracy": 0.5]], keepBestState: true)
        var steps = 0, epochs: [EpochReport] = []
        trainer.callbacks.append(ClosureCallback(step: { _, report in
            steps += 1
            #expect(report.losses.count == 2 && report.step == steps)
        }, epoch: { _, report in epochs.append(report) }))
        trainer.shuffleSeed = 5
        let reports = try trainer.fit(epochs: 3, train: try LearnableData.batches(3, n: 8, seed: 1, on: device),
                                      validation: [try LearnableData.batch(n: 16, seed: 99, on: device)])
        #expect(steps == 9)
        #expect(reports.count == 3 && trainer.epoch == 3)
        #expect(epochs == reports)
        #expect(weighting.endEpochCalls.count == 3)
        let deltas = try reports.map { try #require($0.deltaM) }
        let bestIndex = try #require(deltas.indices.max { deltas[$0] < deltas[$1] })
        #expect(trainer.best?.epoch == bestIndex && reports[bestIndex].isBest)
        let left = try #require(reports[0].validation?["left", "accuracy"])
        let right = try #require(reports[0].validation?["right", "accuracy"])
        #expect(abs(deltas[0] - ((left - 0.5) / 0.5 + (right - 0.5) / 0.5) / 2) < 1e-12)
        #expect(trainer.bestState?.count == model.namedTensors().count)
    }

    @Test("naive MT-SGD trains one sampled task per step; the other head is untouched")
    func taskSampling() throws {
        let device = CPUDevice.shared
        let model = try Presets.make("lenet-hps", seed: 7, on: device)
        func heads() throws -> [[[Float]]] {
            try (0..<2).map { t in try model.namedParameters().filter { $0.0.hasPrefix("heads.\(t).") }.map { try $0.1.values() } }
        }
        let trainer = try Trainer(model: model, optimizer: SGD(model.parameters, learningRate: 0.05),
                                  weighting: TestWeighting(tasks: 2, on: device), device: device, sampling: .oneTaskPerStep(seed: 3))
        var sampled: [Int] = []
        trainer.callbacks.append(ClosureCallback(step: { _, report in sampled.append(report.sampledTask ?? -1) }))
        let batch = try LearnableData.batch(n: 4, seed: 2, on: device)
        for _ in 0..<8 {
            let before = try heads()
            try trainer.trainStep(batch)
            let t = try #require(sampled.last)
            let after = try heads()
            #expect(!before[0].isEmpty && after[1 - t] == before[1 - t])
            #expect(after[t] != before[t])
        }
        #expect(Set(sampled) == [0, 1])
        #expect(sampled == (0..<8).map { Trainer.sampledTask(seed: 3, step: $0, tasks: 2) })
    }
}
