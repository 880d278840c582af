import Testing
@testable import Tandem

@Suite("Multi-task architectures")
struct ArchitectureTests {
    @Test("W1–W4 have exactly the stated trainable-parameter counts", arguments: Presets.parameterCounts.map(\.name))
    func parameterCounts(name: String) throws {
        let model = try Presets.make(name, on: CPUDevice.shared)
        let expected = try #require(Presets.parameterCounts.first { $0.name == name }).parameters
        #expect(model.parameterCount == expected)
    }

    @Test("the baselines of the README's experiments have the stated sizes")
    func baselineSizes() throws {
        let regression = [TaskSpec("task1", .regression), TaskSpec("task2", .regression)]
        // MMoE paper's shared bottom: 101·126 + 2·(127·8 + 9) = 14,776.
        let bottom = try ModelFactory.make("shared-bottom", tasks: regression, inputShape: [100], on: CPUDevice.shared)
        #expect(bottom.parameterCount == 14_776)
        // GradNorm's toy network: 251·100 + 3·101·100 + 2·101·100 = 75,600.
        let toy = try ModelFactory.make("gradnorm-mlp", tasks: regression, inputShape: [250], labelCounts: [100, 100],
                                        on: CPUDevice.shared)
        #expect(toy.parameterCount == 75_600)
        #expect(throws: TandemError.self) {
            _ = try ModelFactory.make("gradnorm-mlp", tasks: [TaskSpec("c", .classification(classes: 3))], inputShape: [250],
                                      on: CPUDevice.shared)
        }
    }

    @Test("unknown preset names are an error listing the valid ones")
    func unknownPreset() {
        #expect(throws: TandemError.self) { try Presets.make("resnet", on: CPUDevice.shared) }
        do { _ = try Presets.make("resnet", on: CPUDevice.shared) } catch {
            #expect("\(error)".contains("lenet-hps"))
        }
    }

    @Test("state names follow PyTorch's module paths")
    func stateNames() throws {
        let hps = try Presets.make("lenet-hps", on: CPUDevice.shared)
        let names = hps.namedTensors().map(\.0)
        #expect(names.contains("shared.0.0.weight"))
        #expect(names.contains("shared.2.1.bias"))
        #expect(names.contains("heads.1.2.weight"))
        let segnet = try Presets.make("mtan-segnet", on: CPUDevice.shared)
        let segnetNames = Set(segnet.namedTensors().map(\.0))
        for name in ["encoder.encoder_block.0.0.weight", "encoder.encoder_att.2.4.3.weight", "encoder.conv_block_enc.2.1.1.running_mean",
                     "decoder_block_att.4.0.weight", "pred_task3.1.bias", "conv_block_dec.4.0.1.running_var"] {
            #expect(segnetNames.contains(name), "missing \(name)")
        }
    }

    static func batch(_ name: String, on device: any Device) throws -> (x: Tensor, targets: [Tensor]) {
        var random = SplitMix64(seed: 11)
        switch name {
        case "mmoe-synth":
            return (try Tensor(random.uniform(5 * 100), shape: [5, 100], on: device),
                    try (0..<2).map { _ in try Tensor(random.uniform(5), shape: [5], on: device) })
        case "mtan-segnet":
            // 32×32, the smallest input five poolings allow, keeps the test quick on PoCL.
            let labels = (0..<(2 * 32 * 32)).map { _ in Float(Int.random(in: -1..<7, using: &random)) }
            return (try Tensor(random.uniform(2 * 3 * 32 * 32), shape: [2, 3, 32, 32], on: device),
                    [try Tensor(labels, shape: [2, 32, 32], on: device),
                     try Tensor(random.uniform(2 * 32 * 32).map { abs($0) }, shape: [2, 1, 32, 32], on: device),
                     try Tensor(random.uniform(2 * 3 * 32 * 32), shape: [2, 3, 32, 32], on: device).l2Normalize(axis: 1)])
        default:
            return (try Tensor(random.uniform(3 * 28 * 28), shape: [3, 1, 28, 28], on: device),
                    try (0..<2).map { _ in try Tensor((0..<3).map { _ in Float(Int.random(in: 0..<10, using: &random)) }, shape: [3], on: device) })
        }
    }

    @Test("each preset runs forward and backward on every device, agreeing with the CPU",
          arguments: ["mmoe-synth", "lenet-hps", "lenet-crossstitch"], allSelectors)
    func forwardBackward(name: String, selector: String) throws {
        let device = try Devices.select(selector)
        func run(_ device: any Device) throws -> (losses: [Float], gradNorm: Float) {
            let model = try Presets.make(name, seed: 5, on: device)
            let (x, targets) = try Self.batch(name, on: device)
            let outputs = try model.forward(x)
            let losses = try zip(model.tasks, zip(outputs, targets)).map { task, pair in try task.loss(pair.0, pair.1) }
            try losses.dropFirst().reduce(losses[0]) { try $0 + $1 }.backward()
            let norm = try model.parameters.reduce(Float(0)) { try $0 + ($1.grad?.square().sum().item() ?? -1) }
            return (try losses.map { try $0.item() }, norm)
        }
        let here = try run(device), cpu = try run(CPUDevice.shared)
        #expect(here.losses.allSatisfy { $0.isFinite })
        #expect(here.gradNorm > 0)
        for (a, b) in zip(here.losses, cpu.losses) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b))) }
        #expect(abs(here.gradNorm - cpu.gradNorm) <= 1e-3 * max(1, cpu.gradNorm))
    }

    @Test("SegNet-MTAN runs forward and backward with its three losses", arguments: allSelectors)
    func segnet(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try Presets.make("mtan-segnet", seed: 1, on: device)
        let (x, targets) = try Self.batch("mtan-segnet", on: device)
        let outputs = try model.forward(x)
        #expect(outputs.map(\.shape) == [[2, 7, 32, 32], [2, 1, 32, 32], [2, 3, 32, 32]])
        let losses = try zip(model.tasks, zip(outputs, targets)).map { task, pair in try task.loss(pair.0, pair.1) }
        try (losses[0] + losses[1] + losses[2]).backward()
        #expect(try losses.allSatisfy { try $0.item().isFinite })
        #expect(model.parameters.allSatisfy { $0.grad != nil })
    }

    @Test("save, load into a fresh model, identical outputs; mismatched state is refused without changes")
    func stateRoundTrip() throws {
        let cpu = CPUDevice.shared
        let a = try Presets.make("lenet-hps", seed: 1, on: cpu), b = try Presets.make("lenet-hps", seed: 2, on: cpu)
        let (x, _) = try Self.batch("lenet-hps", on: cpu)
        a.eval(); b.eval()
        let state = Dictionary(uniqueKeysWithValues: try a.stateDict())
        try b.loadStateDict(state)
        #expect(try a.forward(x)[0].values() == b.forward(x)[0].values())

        let before = try b.forward(x)[1].values()
        var wrongShape = state
        wrongShape["shared.2.1.weight"] = SavedTensor(shape: [50, 321], values: [Float](repeating: 0, count: 50 * 321))
        var missing = state
        missing.removeValue(forKey: "heads.0.0.bias")
        let other = Dictionary(uniqueKeysWithValues: try Presets.make("mmoe-synth", on: cpu).stateDict())
        for bad in [wrongShape, missing, other] {
            #expect(throws: TandemError.self) { try b.loadStateDict(bad) }
            #expect(try b.forward(x)[1].values() == before)
        }
    }

    @Test("task conditioning: sum, concatenation and FiLM shapes and gradients")
    func conditioning() throws {
        let cpu = CPUDevice.shared
        let random = RandomSource(seed: 3)
        let x = try Tensor(random.uniform(4 * 6, low: -1, high: 1), shape: [4, 6], on: cpu, requiresGrad: true)
        let ids = try Tensor([0, 2, 1, 2], shape: [4], on: cpu)
        for (mode, width) in [(TaskConditioning.Mode.sum, 6), (.concatenation, 9), (.multiplicative, 6)] {
            let layer = try TaskConditioning(mode: mode, tasks: 3, features: 6, embeddingSize: 3, random: random, on: cpu)
            let y = try layer(x, taskIDs: ids)
            #expect(y.shape == [4, width])
            try y.sum().backward()
            #expect(layer.embedding.grad != nil)
        }
    }
}

@Suite("Models fitted to data sets")
struct ModelFactoryTests {
    static let classification = [TaskSpec("a", .classification(classes: 3)), TaskSpec("b", .classification(classes: 4))]
    static let regression = [TaskSpec("x", .regression), TaskSpec("y", .regression)]

    @Test("every architecture builds for vectors or images and trains a step on every device",
          arguments: [("hps", [12]), ("soft", [12]), ("cross-stitch", [12]), ("mmoe", [12]), ("mtan", [1, 12, 12]),
                      ("hps", [2, 12, 12]), ("mmoe", [1, 8, 8]), ("cgc", [12]), ("ple", [12]), ("ple", [1, 8, 8]), ("dselect-k", [12]),
                      ("cascade", [12]), ("cascade", [2, 12, 12]), ("modulation", [12]), ("gated", [12]), ("sluice", [12]),
                      ("low-supervision", [12])], allSelectors)
    func architectures(spec: (String, [Int]), selector: String) throws {
        let (name, shape) = spec
        let device = try Devices.select(selector)
        let tasks = shape.count == 1 && ["mmoe", "cgc", "ple", "dselect-k"].contains(name) ? Self.regression : Self.classification
        let model = try ModelFactory.make(name, tasks: tasks, inputShape: shape, seed: 3, on: device)
        let random = RandomSource(seed: 4)
        let x = try Tensor(random.uniform(5 * shape.reduce(1, *), low: -1, high: 1), shape: [5] + shape, on: device)
        let outputs = try model.forward(x)
        #expect(outputs.count == 2)
        var total: Tensor? = nil
        for (task, output) in zip(tasks, outputs) {
            let target: Tensor
            switch task.kind {
            case let .classification(classes):
                target = try Tensor((0..<5).map { Float($0 % classes) }, shape: [5], on: device)
            default:
                target = try Tensor(random.uniform(5, low: -1, high: 1), shape: [5], on: device)
            }
            let loss = try task.loss(output, target)
            total = try total.map { try $0 + loss } ?? loss
        }
        if let penalty = try model.regularization() { total = try total! + penalty }
        try total!.backward()
        #expect(try total!.item().isFinite)
        #expect(model.parameters.contains { $0.grad != nil })
        #expect(!model.sharedParameters.isEmpty)
    }

    @Test("models that do not fit the data are refused with the reason")
    func refusals() throws {
        let cpu = CPUDevice.shared
        #expect(throws: TandemError.self) { try ModelFactory.make("lenet-hps", tasks: Self.classification, inputShape: [12], on: cpu) }
        #expect(throws: TandemError.self) { try ModelFactory.make("mtan", tasks: Self.classification, inputShape: [12], on: cpu) }
        #expect(throws: TandemError.self) { try ModelFactory.make("transformer", tasks: Self.classification, inputShape: [12], on: cpu) }
        #expect(throws: TandemError.self) {
            try ModelFactory.make("cross-stitch", tasks: [TaskSpec("depth", .depth)], inputShape: [3, 32, 32], on: cpu)
        }
        // hps on per-pixel tasks is AdaShare's ResNet with every block shared; on vectors it has no dense head.
        #expect(try ModelFactory.make("hps", tasks: [TaskSpec("depth", .depth)], inputShape: [3, 32, 32], on: cpu) is AdaShare)
        #expect(throws: TandemError.self) { try ModelFactory.make("hps", tasks: [TaskSpec("depth", .depth)], inputShape: [12], on: cpu) }
    }

    @Test("soft sharing's penalty is λ·Σ‖θ_s − θ_t‖² and is zero for identical columns")
    func softPenalty() throws {
        let cpu = CPUDevice.shared
        let model = try #require(try ModelFactory.make("soft", tasks: Self.classification, inputShape: [6], seed: 1, on: cpu) as? SoftParameterSharing)
        let columns = model.columns.map { ($0 as! Module).parameters }
        var expected = 0.0
        for (a, b) in zip(columns[0], columns[1]) {
            expected += try zip(a.values(), b.values()).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        }
        let penalty = try #require(try model.regularization()).item()
        #expect(abs(Double(penalty) - Double(model.lambda) * expected) <= 1e-4 * max(1, Double(model.lambda) * expected))
        for (a, b) in zip(columns[0], columns[1]) { try b.assign(a) }
        #expect(try model.regularization()!.item() == 0)
    }
}
