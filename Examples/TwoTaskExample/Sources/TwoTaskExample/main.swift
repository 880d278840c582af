// A two-task model of this example's own design, built from Tandem's layers and trained with
// Tandem's Trainer on the device the user picks:
//
//     swift run TwoTaskExample [device] [epochs]      # device: cpu, opencl, opencl:N, gpu, auto
//                                                     # (default $TANDEM_DEVICE, else auto)
//
// The model, a "gated shared trunk": a shared two-layer trunk; each task multiplies the shared
// features by its own sigmoid gate computed from the input (so a task can switch off the features it
// does not need), then adds a small private branch, then applies its head. The data are made here:
// task "quadrant" (4 classes) asks in which quadrant two fixed projections of x fall, task "radius"
// (regression) how far from the origin they are. The example prints each task's training loss per
// epoch and the final test metrics, and exits 1 if a task's loss does not go down.
import Tandem

#if canImport(Glibc)
import Glibc
#endif

/// The example's model: shared trunk, per-task input gates and private branches, per-task heads.
final class GatedSharedTrunk: Module, MultiTaskModel {
    let tasks: [TaskSpec]
    let trunk: Sequential
    let gates: [Linear]
    let branches: [Sequential]
    let heads: [Sequential]

    init(inputs: Int, width: Int, tasks: [TaskSpec], outputs: [Int], seed: UInt64, on device: any Device) throws {
        let random = RandomSource(seed: seed)
        self.tasks = tasks
        trunk = Sequential(try Linear(inputs, width, random: random, on: device), Activation.relu,
                           try Linear(width, width, random: random, on: device), Activation.relu)
        gates = try tasks.map { _ in try Linear(inputs, width, random: random, on: device) }
        branches = try tasks.map { _ in Sequential(try Linear(inputs, 8, random: random, on: device), Activation.relu) }
        heads = try outputs.map { count in
            Sequential(try Linear(width + 8, 16, random: random, on: device), Activation.relu,
                       try Linear(16, count, random: random, on: device))
        }
    }

    func forward(_ x: Tensor) throws -> [Tensor] {
        let shared = try trunk(x)
        return try tasks.indices.map { t in
            let gated = try shared * (try gates[t](x).sigmoid())
            let features = try Tensor.concat([gated, try branches[t](x)], axis: 1)
            return try heads[t](features)
        }
    }

    /// The trunk is what both tasks share (where PCGrad, MGDA and GradNorm look).
    var sharedParameters: [Tensor] { trunk.parameters }
}

/// The data: x ~ N(0, 1)^20; p = x·P for a fixed 20×2 matrix P; quadrant of p and its length.
func makeData(count: Int, projection: [Float], seed: UInt64) -> (inputs: [Float], quadrant: [Float], radius: [Float]) {
    var random = SplitMix64(seed: seed)
    func normal() -> Float {
        let u1 = Float(random.next() >> 40 + 1) / Float(1 << 24), u2 = Float(random.next() >> 40) / Float(1 << 24)
        return (-2 * logf(u1)).squareRoot() * cosf(2 * Float.pi * u2)
    }
    var inputs: [Float] = [], quadrant: [Float] = [], radius: [Float] = []
    for _ in 0..<count {
        let x = (0..<20).map { _ in normal() }
        var p: (Float, Float) = (0, 0)
        for d in 0..<20 {
            p.0 += x[d] * projection[2 * d]
            p.1 += x[d] * projection[2 * d + 1]
        }
        inputs += x
        quadrant.append((p.0 > 0 ? 2 : 0) + (p.1 > 0 ? 1 : 0))
        radius.append((p.0 * p.0 + p.1 * p.1).squareRoot())
    }
    return (inputs, quadrant, radius)
}

func run() throws -> Int32 {
    let arguments = CommandLine.arguments.dropFirst()
    let selector = arguments.first ?? Devices.defaultSelector
    let epochs = arguments.dropFirst().first.flatMap { Int($0) } ?? 8
    let device = try Devices.select(selector)
    print("Devices: " + Devices.all.map(\.description).joined(separator: "; "))
    print("Training on \(device.info.description)")

    var projectionRandom = SplitMix64(seed: 42)
    let projection = (0..<40).map { _ in Float(Int(projectionRandom.next() % 2001) - 1000) / 1000 / Float(20).squareRoot() }
    let train = makeData(count: 1024, projection: projection, seed: 1)
    let test = makeData(count: 256, projection: projection, seed: 2)

    let tasks = [TaskSpec("quadrant", .classification(classes: 4)), TaskSpec("radius", .regression)]
    let model = try GatedSharedTrunk(inputs: 20, width: 32, tasks: tasks, outputs: [4, 1], seed: 7, on: device)
    let weighting = try WeightingMethods.make("uw", tasks: tasks, on: device)
    let optimizer = try Adam(model.parameters + weighting.parameters, learningRate: 3e-3)
    let trainer = try Trainer(model: model, optimizer: optimizer, weighting: weighting, device: device)
    trainer.shuffleSeed = 3
    print("Model: gated shared trunk, \(model.parameterCount) parameters; weighting \(weighting.name), Adam lr 3e-3")

    func batches(_ data: (inputs: [Float], quadrant: [Float], radius: [Float]), size: Int) throws -> [TrainingBatch] {
        let count = data.quadrant.count
        return try stride(from: 0, to: count, by: size).map { start in
            let end = min(start + size, count)
            return try TrainingBatch(input: Tensor(Array(data.inputs[(start * 20)..<(end * 20)]), shape: [end - start, 20], on: device),
                                     targets: [Tensor(Array(data.quadrant[start..<end]), shape: [end - start], on: device),
                                               Tensor(Array(data.radius[start..<end]), shape: [end - start], on: device)])
        }
    }
    let trainBatches = try batches(train, size: 64)
    let testBatches = try batches(test, size: 128)

    trainer.callbacks.append(ClosureCallback(epoch: { _, report in
        let losses = zip(tasks, report.trainLosses).map { "\($0.name) \(format4($1))" }.joined(separator: "  ")
        let validation = report.validation.map { result in
            "  | test " + result.tasks.map { "\($0.task) \($0.main?.name ?? "") \(format4(Float($0.main?.value ?? 0)))" }.joined(separator: "  ")
        } ?? ""
        print("epoch \(report.epoch + 1)  \(losses)\(validation)")
    }))
    let reports = try trainer.fit(epochs: epochs, train: trainBatches, validation: testBatches)

    let final = try trainer.evaluate(testBatches)
    print("Final test metrics:")
    for task in final.tasks {
        print("  \(task.task): loss \(format4(Float(task.loss)))" + task.metrics.map { ", \($0.name) \(format4(Float($0.value)))" }.joined())
    }
    guard let first = reports.first, let last = reports.last else { return 1 }
    for (t, task) in tasks.enumerated() where !(last.trainLosses[t] < first.trainLosses[t]) {
        print("FAILED: \(task.name) loss did not decrease (\(first.trainLosses[t]) -> \(last.trainLosses[t]))")
        return 1
    }
    print("Per-task losses decreased: " + tasks.indices.map { "\(tasks[$0].name) \(format4(first.trainLosses[$0])) -> \(format4(last.trainLosses[$0]))" }.joined(separator: ", "))
    return 0
}

/// Four decimals without Foundation.
func format4(_ value: Float) -> String {
    guard value.isFinite else { return "\(value)" }
    let scaled = Int((abs(value) * 10_000).rounded())
    let fraction = String(scaled % 10_000)
    return (value < 0 ? "-" : "") + "\(scaled / 10_000)." + String(repeating: "0", count: 4 - fraction.count) + fraction
}

do {
    exit(try run())
} catch {
    print("error: \(error)")
    exit(1)
}
