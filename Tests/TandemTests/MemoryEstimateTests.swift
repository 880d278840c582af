import Testing
@testable import Tandem
@testable import TandemCPU

/// Memory estimates (issue 17): a training step that cannot fit the device is refused at model
/// creation, quickly and with the numbers; the dry run's estimate matches what a real step takes
/// from the pool; running out of memory inside an op names the op and the tensor's shape.
@Suite("Memory estimate")
struct MemoryEstimateTests {
    /// The message of the error `body` throws (nil when it throws none), and the seconds it took.
    static func failure(_ body: () throws -> Void) -> (message: String?, seconds: Double) {
        let start = Bench.now()
        do {
            try body()
            return (nil, Bench.now() - start)
        } catch {
            return ("\(error)", Bench.now() - start)
        }
    }

    static func recipe(_ model: String, batch: Int, optimizer: String = "adam") -> TrainingRecipe {
        var recipe = TrainingRecipe()
        recipe.model = model
        recipe.batchSize = batch
        recipe.optimizer = optimizer
        return recipe
    }

    static let imageTasks = [TaskSpec("digit", .classification(classes: 10)), TaskSpec("size", .regression)]
    static let sceneTasks = [TaskSpec("segmentation", .segmentation(classes: 7)), TaskSpec("depth", .depth),
                             TaskSpec("normal", .normals)]

    @Test("MTAN on [3, 4096, 4096] with batch 32 (the C API's default) is refused within seconds, with the numbers",
          .timeLimit(.minutes(1)))
    func largeMTANRefused() {
        let (message, seconds) = Self.failure {
            _ = try TrainingSetup(recipe: Self.recipe("mtan", batch: 32), tasks: Self.imageTasks, inputShape: [3, 4096, 4096],
                                  labelCounts: nil, stepsPerEpoch: 1, device: CPUDevice.shared)
        }
        let text = message ?? "accepted"
        #expect(text.hasPrefix("mtan on [3, 4096, 4096] with batch 32 needs about "), "\(text)")
        #expect(text.contains("GiB for a training step (parameters ") && text.contains("; cpu (") && text.contains(" has "),
                "\(text)")
        #expect(seconds < 5, "took \(seconds) s")
        print("refused in \(seconds) s: \(text)")
    }

    @Test("a conv net on [1, 4096, 16384] and an MMoE with 36 GiB of weights are refused before anything is allocated",
          .timeLimit(.minutes(1)))
    func largeInputsRefused() throws {
        // MMoE's 8 experts of 16 units and 2 gates on 2^26 inputs: 8.6 + 1.1 billion weights.
        for (model, needs) in [("hps", "parameters"), ("mmoe", "parameters 36.0 GiB")] {
            let (message, seconds) = Self.failure {
                _ = try TrainingSetup(recipe: Self.recipe(model, batch: 32), tasks: Self.imageTasks, inputShape: [1, 4096, 16384],
                                      labelCounts: nil, stepsPerEpoch: 1, device: CPUDevice.shared)
            }
            let text = message ?? "accepted"
            #expect(text.hasPrefix("\(model) on [1, 4096, 16384] with batch 32 needs about "), "\(text)")
            #expect(text.contains(needs) && text.contains("use a smaller batch, input or model"), "\(text)")
            #expect(seconds < 5, "\(model): took \(seconds) s")
            print("refused in \(seconds) s: \(text)")
        }
    }

    @Test("a W1-sized model is accepted, and its estimate is small")
    func normalModelAccepted() throws {
        let recipe = Self.recipe("lenet-hps", batch: 256, optimizer: "sgd")
        let setup = try TrainingSetup(recipe: recipe, tasks: Self.imageTasks.map { TaskSpec($0.name, .classification(classes: 10)) },
                                      inputShape: [1, 28, 28], labelCounts: nil, stepsPerEpoch: 1, device: CPUDevice.shared)
        #expect(setup.model.parameterCount > 0)
        let estimate = try TrainingSetup.estimateMemory(recipe: recipe, tasks: setup.model.tasks, inputShape: [1, 28, 28],
                                                        labelCounts: nil, device: CPUDevice.shared)
        #expect(estimate.peakBytes > estimate.parameterBytes && estimate.peakBytes < 1 << 30, "\(estimate)")
        #expect(estimate.optimizerStateBytes >= estimate.parameterBytes / 2, "SGD's momentum: \(estimate)")
        #expect(throws: Never.self) { try estimate.check(fits: CPUDevice.shared.info) }
        // The setup's accessor gives the same number, and a larger batch needs more.
        #expect(try setup.estimatedTrainingBytes(batch: 256) == estimate.peakBytes)
        #expect(try setup.estimatedTrainingBytes(batch: 512) > estimate.peakBytes)
    }

    @Test("a device too small for one buffer refuses with the largest-buffer limit")
    func singleBufferLimit() throws {
        let estimate = try TrainingSetup.estimateMemory(recipe: Self.recipe("mtan", batch: 8), tasks: Self.imageTasks,
                                                        inputShape: [3, 64, 64], labelCounts: nil, device: CPUDevice.shared)
        var info = CPUDevice.shared.info
        info.maxAllocationBytes = estimate.largestBufferBytes - 1
        let message = Self.failure { try estimate.check(fits: info) }.message ?? "accepted"
        #expect(message.contains("needs a single buffer of") && message.contains("CL_DEVICE_MAX_MEM_ALLOC_SIZE"), "\(message)")
        info.maxAllocationBytes = 0
        info.globalMemoryBytes = estimate.peakBytes - 1
        let memory = Self.failure { try estimate.check(fits: info) }.message ?? "accepted"
        #expect(memory.contains("needs about \(ByteCount.describe(estimate.peakBytes)) for a training step"), "\(memory)")
        info.globalMemoryBytes = estimate.peakBytes
        #expect(throws: Never.self) { try estimate.check(fits: info) }
    }

    /// One workload of the estimate-versus-measurement check: W1–W4 of WORKLOADS.md at their
    /// sizes, and the architectures `tandem train` builds for images.
    struct Case: Sendable, CustomTestStringConvertible {
        var model: String
        var tasks: [TaskSpec]
        var inputShape: [Int]
        var batch: Int
        var optimizer: String
        var testDescription: String { "\(model) \(inputShape) batch \(batch)" }
    }

    static let cases: [Case] = [
        Case(model: "lenet-hps", tasks: imageTasks.map { TaskSpec($0.name, .classification(classes: 10)) }, inputShape: [1, 28, 28],
             batch: 256, optimizer: "sgd"),  // W1
        Case(model: "lenet-crossstitch", tasks: imageTasks.map { TaskSpec($0.name, .classification(classes: 10)) },
             inputShape: [1, 28, 28], batch: 256, optimizer: "sgd"),  // W2
        Case(model: "mmoe-synth", tasks: [TaskSpec("a", .regression), TaskSpec("b", .regression)], inputShape: [100], batch: 256,
             optimizer: "adam"),  // W3
        Case(model: "mtan-segnet", tasks: sceneTasks, inputShape: [3, 64, 64], batch: 4, optimizer: "adam"),  // W4 (batch 8 there)
        Case(model: "mtan", tasks: imageTasks, inputShape: [3, 32, 32], batch: 16, optimizer: "adam"),
        Case(model: "hps", tasks: imageTasks, inputShape: [3, 48, 48], batch: 8, optimizer: "adamw"),
    ]

    /// Zeros for the inputs and valid labels (class 0, depth 1, unit normals) of a `batch`-sample step.
    static func batch(_ c: Case, on device: any Device) throws -> TrainingBatch {
        let targets = try c.tasks.map { task -> Tensor in
            let spatial = Array(c.inputShape.dropFirst())
            let shape: [Int]
            switch task.kind {
            case .classification, .regression: shape = [c.batch]
            case .segmentation: shape = [c.batch] + spatial
            case .depth: shape = [c.batch, 1] + spatial
            case .normals: shape = [c.batch, 3] + spatial
            }
            switch task.kind {
            case .depth: return try Tensor.ones(shape, on: device)
            case .normals: return try Tensor.full(shape, 1 / Float(3).squareRoot(), on: device)
            default: return try Tensor.zeros(shape, on: device)
            }
        }
        return try TrainingBatch(input: try Tensor.uniform([c.batch] + c.inputShape, seed: 1, on: device), targets: targets)
    }

    /// The estimate for `c` on `device` and the pool peak of building the model and running two real
    /// steps on it (the device must have a pool of its own).
    static func measure(_ c: Case, on device: any Device) throws -> (estimate: MemoryEstimate, measured: Int) {
        let recipe = recipe(c.model, batch: c.batch, optimizer: c.optimizer)
        let estimate = try TrainingSetup.estimateMemory(recipe: recipe, tasks: c.tasks, inputShape: c.inputShape, labelCounts: nil,
                                                        device: device)
        #expect(device.poolStatistics.allocations == 0, "the estimate allocated on \(device.info.selector)")
        let setup = try TrainingSetup(recipe: recipe, tasks: c.tasks, inputShape: c.inputShape, labelCounts: nil, stepsPerEpoch: 1,
                                      device: device)
        let step = try batch(c, on: device)
        for _ in 0..<2 { try setup.trainer.trainStep(step) }
        try device.synchronize()
        return (estimate, device.poolStatistics.peakBytesInUse)
    }

    @Test("the estimate is within a factor of 1.5 of the pool peak of real steps on the CPU (W1–W4 and more)",
          arguments: cases)
    func estimateMatchesCPU(_ c: Case) throws {
        let (estimate, measured) = try Self.measure(c, on: CPUDevice())
        let ratio = Double(estimate.peakBytes) / Double(measured)
        print("memory estimate cpu \(c.testDescription): estimated \(estimate.peakBytes) B, measured \(measured) B, ratio \(ratio); \(estimate.breakdown)")
        #expect(ratio >= 1 / 1.5 && ratio <= 1.5, "estimated \(estimate.peakBytes), measured \(measured)")
    }

    @Test("the estimate is within a factor of 1.5 of the pool peak of real steps on OpenCL (W1, W3)", arguments: openCLSelectors)
    func estimateMatchesOpenCL(selector: String) throws {
        for c in [Self.cases[0], Self.cases[2]] {
            let (estimate, measured) = try Self.measure(c, on: try privateOpenCL(selector))
            let ratio = Double(estimate.peakBytes) / Double(measured)
            print("memory estimate \(selector) \(c.testDescription): estimated \(estimate.peakBytes) B, measured \(measured) B, ratio \(ratio)")
            #expect(ratio >= 1 / 1.5 && ratio <= 1.5, "\(c.testDescription): estimated \(estimate.peakBytes), measured \(measured)")
        }
    }

    @Test("an op whose output exceeds the machine's memory fails naming the op and the shape, and the device still works")
    func outOfMemoryNamesTheOp() throws {
        let cpu = CPUDevice.shared
        let column = try Tensor.zeros([1 << 20, 1], on: cpu), row = try Tensor.zeros([1, 1 << 20], on: cpu)
        let message = Self.failure { _ = try column + row }.message ?? "no error"
        #expect(message.hasPrefix("add output [1048576, 1048576] (4.0 TiB) on cpu"), "\(message)")
        #expect(message.contains("out of memory"), "\(message)")
        print(message)
        #expect(try (column.reshape([1, 1 << 20]) + row).shape == [1, 1 << 20])
    }

    @Test("an op's output above OpenCL's largest buffer names the op, the shape and the limit", arguments: openCLSelectors)
    func allocationTooLargeNamesTheOp(selector: String) throws {
        let device = try openCL(selector)
        let limit = device.info.maxAllocationBytes
        try #require(limit > 0, "\(selector) reports no CL_DEVICE_MAX_MEM_ALLOC_SIZE")
        let rows = limit / 4 / 1024 + 1
        let column = try Tensor.zeros([rows, 1], on: device), row = try Tensor.zeros([1, 1024], on: device)
        let message = Self.failure { _ = try column * row }.message ?? "no error"
        #expect(message.hasPrefix("mul output [\(rows), 1024] (") && message.contains(") on \(selector) ("), "\(message)")
        #expect(message.contains("larger than the largest single buffer the device allows (\(ByteCount.describe(limit))"), "\(message)")
    }

    @Test("tandem train refuses a step larger than the machine with exit status 1 and the numbers",
          .enabled(if: System.physicalMemoryBytes < 50 << 30, "SegNet-MTAN on 1,800 scenes at once needs about 55 GiB"))
    func trainRefuses() throws {
        // scenes has 1,800 training samples after validation: a batch of 2,000 trains on 1,800 at once.
        let run = try runTandem(["train", "--data", "scenes", "--model", "mtan-segnet", "--batch-size", "2000", "--epochs", "1",
                                 "--device", "cpu"])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("mtan-segnet on [3, 64, 64] with batch 1800 needs about ") && run.stderr.contains(" for a training step ("),
                "\(run.stderr)")
        #expect(!run.stdout.contains("Training "), "\(run.stdout)")
    }

    @Test("running out inside a convolution, and inside a backward, names the op, the shape and the backward")
    func outOfMemoryInForwardAndBackward() throws {
        // A dry run with a 1 MiB cap stands for a device that small.
        let device = DryRunDevice(standingFor: CPUDevice.shared, capacity: 1 << 20)
        let x = try Tensor.zeros([1, 1, 256, 256], on: device, requiresGrad: true)  // 256 KiB
        let weight = try Tensor.zeros([8, 1, 3, 3], on: device, requiresGrad: true)
        let forward = Self.failure { _ = try x.conv2d(weight: weight, padding: (1, 1)) }.message ?? "no error"
        #expect(forward.hasPrefix("conv2d output [1, 8, 256, 256] (2.0 MiB) on cpu (dry run) ("), "\(forward)")
        #expect(forward.contains("out of memory"), "\(forward)")

        // The forward fits (x and relu's output), the backward's gradients do not.
        let y = try x.relu() * 2
        let backward = Self.failure { try y.sum().backward() }.message ?? "no error"
        #expect(backward.contains("[1, 1, 256, 256] (256.0 KiB) on cpu (dry run)"), "\(backward)")
        #expect(backward.contains(", in the backward of ") && backward.contains("out of memory"), "\(backward)")
        print("\(forward)\n\(backward)")
    }
}
