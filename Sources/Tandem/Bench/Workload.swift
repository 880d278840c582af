#if canImport(Glibc)
import Glibc
#endif

/// One standard workload of WORKLOADS.md, ready to time: a model, its optimizer, and a fixed batch
/// of random inputs and targets on one device.
public final class Workload {
    public let name: String
    public let batch: Int
    public let model: any MultiTaskModel
    let optimizer: any Optimizer
    let input: Tensor
    let targets: [Tensor]

    /// Names of the standard workloads, in order.
    public static let names = ["mmoe-synth", "lenet-hps", "lenet-crossstitch", "mtan-segnet"]

    /// The shapes a workload runs at.
    public enum Size: String, Sendable, CaseIterable {
        /// WORKLOADS.md's model and input shapes.
        case standard
        /// Batch 2 of the same models, and W4 (`mtan-segnet`) at widths `tinySegNetWidths` on 32×32
        /// inputs: every layer and op of the standard workload, at a size an OpenCL simulator
        /// (Oclgrind) runs a step of in seconds. `tandem selftest` checks one such step per workload.
        case tiny
    }

    /// W4's widths at `Size.tiny` (the standard ones are [16, 32, 64, 128, 128]).
    public static let tinySegNetWidths = [4, 4, 8, 8, 8]

    /// The batch size WORKLOADS.md fixes for `name` (2 at `Size.tiny`).
    public static func defaultBatch(_ name: String, size: Size = .standard) -> Int {
        size == .tiny ? 2 : (name == "mtan-segnet" ? 8 : 256)
    }

    /// Builds workload `name` on `device` (the same seed gives the same weights and data everywhere).
    public init(_ name: String, batch: Int? = nil, size: Size = .standard, seed: UInt64 = 0, on device: any Device) throws {
        guard Self.names.contains(name) else {
            throw TandemError.invalidArgument(op: "bench", message: "unknown workload '\(name)'; available: \(Self.names.joined(separator: ", "))")
        }
        let batch = batch ?? Self.defaultBatch(name, size: size)
        guard batch >= 2 else { throw TandemError.invalidArgument(op: "bench", message: "batch must be at least 2, got \(batch)") }
        self.name = name
        self.batch = batch
        if size == .tiny, name == "mtan-segnet" {
            model = try SegNetMTAN(widths: Self.tinySegNetWidths, random: RandomSource(seed: seed), on: device)
        } else {
            model = try Presets.make(name, seed: seed, on: device)
        }
        var random = SplitMix64(seed: seed &+ 1)
        func labels(_ count: Int, _ classes: Int) -> [Float] { (0..<count).map { _ in Float(Int.random(in: 0..<classes, using: &random)) } }
        switch name {
        case "mmoe-synth":
            input = try Tensor(random.uniform(batch * 100), shape: [batch, 100], on: device)
            targets = try (0..<2).map { _ in try Tensor(random.uniform(batch), shape: [batch], on: device) }
            optimizer = try Self.optimizer("adam", learningRate: 1e-3, model: model)
        case "mtan-segnet":
            let side = size == .tiny ? 32 : 64
            let pixels = batch * side * side
            input = try Tensor(random.uniform(pixels * 3), shape: [batch, 3, side, side], on: device)
            let normals = try Tensor(random.uniform(pixels * 3), shape: [batch, 3, side, side], on: device).l2Normalize(axis: 1).detach()
            targets = [try Tensor(labels(pixels, 7), shape: [batch, side, side], on: device),
                       try Tensor(random.uniform(pixels).map { Swift.abs($0) }, shape: [batch, 1, side, side], on: device), normals]
            optimizer = try Self.optimizer("adam", learningRate: 1e-4, model: model)
        default:
            input = try Tensor(random.uniform(batch * 28 * 28).map { ($0 + 1) / 2 }, shape: [batch, 1, 28, 28], on: device)
            targets = try (0..<2).map { _ in try Tensor(labels(batch, 10), shape: [batch], on: device) }
            optimizer = try Self.optimizer("sgd", learningRate: 0.01, model: model)
        }
    }

    /// WORKLOADS.md's optimizer, built as `tandem train` builds it from a recipe (one builder).
    static func optimizer(_ name: String, learningRate: Float, model: any MultiTaskModel) throws -> any Optimizer {
        var recipe = TrainingRecipe()
        recipe.optimizer = name
        recipe.learningRate = learningRate
        recipe.momentum = 0.9
        return try TrainingSetup.optimizer(recipe, groups: [ParameterGroup(model.parameters)])
    }

    /// Data-parallel benchmarking: each rank steps on its own batch of `batch` samples and the
    /// gradients are combined across ranks (equal shares) before the update.
    public var dataParallel: DataParallel?

    /// One training step as WORKLOADS.md defines it: forward, the summed task losses, backward,
    /// the optimizer update, and reading the scalar loss back to the host.
    @discardableResult
    public func step() throws -> Float {
        optimizer.zeroGrad()
        let outputs = try model.forward(input)
        var total: Tensor? = nil
        for (task, (output, target)) in zip(model.tasks, zip(outputs, targets)) {
            let loss = try task.loss(output, target)
            total = try total.map { try $0 + loss } ?? loss
        }
        guard let total else { return 0 }
        if let group = dataParallel, group.size > 1 {
            group.share = 1 / Double(group.size)
            _ = try group.backwardCombining(parameters: optimizer.parameters, overlapping: true) { try total.backward(releasingGraph: true) }
        } else {
            try total.backward(releasingGraph: true)
        }
        try optimizer.step()
        return try total.item()
    }
}

/// The timing of one workload on one device.
public struct BenchResult: Sendable {
    public var workload: String
    public var device: String
    public var deviceName: String
    public var batch: Int
    public var medianMilliseconds: Double
    public var minMilliseconds: Double
    public var maxMilliseconds: Double
    public var samplesPerSecond: Double
    public var parameters: Int
    /// GEMM flops per step divided by the median step time.
    public var gflops: Double
    /// Per-op time over the timed steps when profiling was on (`Profiler`), else empty.
    public var profile: [Profiler.Entry] = []
    /// Number of timed steps (the profile's totals divide by it).
    public var steps: Int = 0
    /// Data-parallel runs: milliseconds per timed step spent combining gradients across ranks
    /// (download, all-reduce, upload); 0 on one rank.
    public var communicationMilliseconds = 0.0
}

/// Times training steps following WORKLOADS.md's throughput method.
public enum Bench {
    /// Monotonic seconds, for timing.
    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Warms up (kernel compilation stays out of the timing), then times `steps` steps.
    ///
    /// With `communicator` of several ranks, every rank runs this together: each steps on its own
    /// batch and the gradients are all-reduced; samples/s counts the whole job's samples.
    public static func run(_ name: String, on device: any Device, batch: Int? = nil, warmup: Int = 5, steps: Int = 30,
                           communicator: (any Communicator)? = nil, bucketBytes: Int? = nil,
                           progress: ((Int, Int) -> Void)? = nil) throws -> BenchResult {
        guard steps >= 1, warmup >= 0 else {
            throw TandemError.invalidArgument(op: "bench", message: "steps must be ≥ 1 and warm-up ≥ 0, got \(steps) and \(warmup)")
        }
        let workload = try Workload(name, batch: batch, on: device)
        let ranks = communicator?.size ?? 1
        if let communicator, ranks > 1 {
            workload.dataParallel = DataParallel(communicator: communicator)
            if let bucketBytes { workload.dataParallel?.bucketBytes = bucketBytes }
            try workload.dataParallel?.broadcastState(model: workload.model, weighting: EqualWeighting())
        }
        for i in 0..<warmup {
            let loss = try workload.step()
            guard loss.isFinite else {
                throw TandemError.backend(op: "bench \(name)", device: device.info.selector, message: "loss became \(loss) in warm-up step \(i)")
            }
            progress?(i + 1, warmup + steps)
        }
        var times: [Double] = []
        // Only the timed steps count in the profile; waiting here also reads back warm-up events.
        try device.synchronize()
        if Profiler.isEnabled { Profiler.reset() }
        let flopsBefore = GEMMCounter.flops
        workload.dataParallel?.communicationSeconds = 0
        for i in 0..<steps {
            let start = now()
            try workload.step()
            times.append(now() - start)
            progress?(warmup + i + 1, warmup + steps)
        }
        let flopsPerStep = Double(GEMMCounter.flops - flopsBefore) / Double(steps)
        let med = median(times)
        var profile: [Profiler.Entry] = []
        if Profiler.isEnabled {
            try device.synchronize()
            profile = Profiler.snapshot().filter { $0.device == device.info.selector }
            Profiler.reset()
        }
        var result = BenchResult(workload: name, device: device.info.selector, deviceName: device.info.name, batch: workload.batch,
                           medianMilliseconds: med * 1e3, minMilliseconds: (times.min() ?? med) * 1e3,
                           maxMilliseconds: (times.max() ?? med) * 1e3,
                           samplesPerSecond: Double(workload.batch * ranks) / med, parameters: workload.model.parameterCount,
                           gflops: flopsPerStep / med / 1e9, profile: profile, steps: steps)
        result.communicationMilliseconds = (workload.dataParallel?.communicationSeconds ?? 0) / Double(steps) * 1e3
        return result
    }

    /// Measured GEMM throughput of `device` (n×n×n, median of a few runs), the peak GFLOP/s that
    /// workload GFLOP/s are compared with.
    public static func gemmPeak(on device: any Device, n: Int = 512, repeats: Int = 7) throws -> Double {
        var random = SplitMix64(seed: 1)
        let a = try device.buffer(random.uniform(n * n)), b = try device.buffer(random.uniform(n * n)), c = try device.allocate(n * n)
        let g = GEMM(m: n, n: n, k: n)
        try device.gemm(g, a: a, b: b, c: c)
        try device.synchronize()
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = now()
            try device.gemm(g, a: a, b: b, c: c)
            try device.synchronize()
            times.append(now() - start)
        }
        return g.flops / median(times) / 1e9
    }
}
