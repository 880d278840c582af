import Foundation
import Testing
@testable import Tandem

@Suite("Safetensors and checkpoints")
struct CheckpointTests {
    // MARK: Safetensors

    /// A file made of a raw JSON `header` and `data` bytes.
    static func raw(_ header: String, data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        var length = UInt64(h.count)
        var bytes: [UInt8] = []
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: length))
            length >>= 8
        }
        return bytes + h + data
    }

    static func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test("safetensors round trip with scalars, empty tensors and metadata, written atomically")
    func roundTrip() throws {
        let entries = [
            Safetensors.Entry(name: "a.weight", shape: [2, 3], values: [1, -2, 3.5, .infinity, 0, -0.0]),
            Safetensors.Entry(name: "scalar", shape: [], values: [42]),
            Safetensors.Entry(name: "empty", shape: [0, 4], values: []),
            Safetensors.Entry(name: "ü\"\\name", shape: [1], values: [.leastNonzeroMagnitude]),
        ]
        let metadata = ["epoch": "3", "note": "quote \" backslash \\ newline \n tab \t é 😀", "": "empty key"]
        let bytes = try Safetensors.encode(entries, metadata: metadata)
        let headerLength = bytes.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect((8 + headerLength) % 8 == 0)
        let decoded = try Safetensors.decode(bytes)
        #expect(decoded.metadata == metadata)
        #expect(decoded.tensors.map(\.name) == ["a.weight", "scalar", "empty", "ü\"\\name"])
        for (a, b) in zip(decoded.tensors, entries) {
            #expect(a.shape == b.shape && a.values.map(\.bitPattern) == b.values.map(\.bitPattern))
        }
        let path = temporaryDirectory("safetensors") + "/t.safetensors"
        try Safetensors.write(entries, metadata: metadata, to: path)
        #expect(try Safetensors.read(path) == decoded)
        #expect(System.readFile(path + ".tmp.\(getpid())") == nil)
        #expect(throws: TandemError.self) { try Safetensors.encode([entries[0], entries[0]]) }
        #expect(throws: TandemError.self) { try Safetensors.encode([Safetensors.Entry(name: "x", shape: [2], values: [1])]) }
    }

    @Test("safetensors reads F64, F16 and BF16, and files written by other tools in any key order")
    func otherDtypes() throws {
        let f64 = (1.5 as Double).bitPattern, f16: UInt16 = 0xc100 /* −2.5 */, bf16: UInt16 = 0x3f80 /* 1 */
        var data: [UInt8] = []
        for i in 0..<8 { data.append(UInt8(truncatingIfNeeded: f64 >> (8 * UInt64(i)))) }
        data += [UInt8(f16 & 0xff), UInt8(f16 >> 8), UInt8(bf16 & 0xff), UInt8(bf16 >> 8)]
        let header = #"{"c":{"data_offsets":[10,12],"shape":[1],"dtype":"BF16"}, "a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1,1],"data_offsets":[8,10]},"__metadata__":{"format":"pt"}}"#
        let contents = try Safetensors.decode(Self.raw(header, data: data))
        #expect(contents.tensors.map(\.name) == ["a", "b", "c"])
        #expect(contents.tensors.map(\.values) == [[1.5], [-2.5], [1]])
        #expect(contents["b"]?.shape == [1, 1] && contents.metadata == ["format": "pt"])
    }

    @Test("corrupt safetensors files are refused with an error naming the file and the problem")
    func corrupt() throws {
        let good = try Safetensors.encode([Safetensors.Entry(name: "w", shape: [2, 2], values: [1, 2, 3, 4])])
        let four: [UInt8] = [UInt8](repeating: 0, count: 16)
        let cases: [(String, [UInt8], String)] = [
            ("truncated", Array(good.dropLast(3)), "truncated"),
            ("trailing bytes", good + [0, 0, 0, 0], "cover"),
            ("too short", [1, 2, 3], "too short"),
            ("header length past the end", Array([255, 0, 0, 0, 0, 0, 0, 0] + good.dropFirst(8)), "past the end"),
            ("offsets out of range", Self.raw(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,32]}}"#, data: four), "outside the data area"),
            ("wrong dtype", Self.raw(#"{"w":{"dtype":"I8","shape":[16],"data_offsets":[0,16]}}"#, data: four), "dtype I8"),
            ("shape/bytes mismatch", Self.raw(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, data: four), "needs 12 bytes"),
            ("overlap", Self.raw(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}}"#, data: four), "overlap"),
            ("gap", Self.raw(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: four), "belong to no tensor"),
            ("bad JSON", Self.raw(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}"#, data: four), "not valid JSON"),
            ("duplicate key", Self.raw(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"w":{}}"#, data: four), "duplicate"),
            ("negative shape", Self.raw(#"{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#, data: four), "shape"),
            ("missing field", Self.raw(#"{"w":{"dtype":"F32","shape":[4]}}"#, data: four), "lacks data_offsets"),
            ("metadata not strings", Self.raw(#"{"__metadata__":{"a":1}}"#, data: []), "not a string"),
        ]
        for (label, bytes, expected) in cases {
            let text = Self.message { _ = try Safetensors.decode(bytes, file: "/x/bad.safetensors") }
            #expect(text.contains("/x/bad.safetensors") && text.contains(expected), "\(label): \(text)")
        }
        let missing = Self.message { _ = try Safetensors.read("/nonexistent/dir/file.safetensors") }
        #expect(missing.contains("/nonexistent/dir/file.safetensors"))
    }

    // MARK: Checkpoints

    /// A W2 trainer with Adam and a weighting with learnable parameters.
    static func trainer(seed: UInt64, on device: any Device, adam: Bool = true) throws -> Trainer {
        let model = try Presets.make("lenet-hps", seed: seed, on: device)
        let weighting = try TestWeighting(tasks: 2, learnable: true, on: device)
        let optimizer: any Optimizer = adam
            ? try Adam(model.parameters + weighting.parameters, learningRate: 2e-3)
            : try SGD(model.parameters + weighting.parameters, learningRate: 0.05, momentum: 0.9)
        let trainer = try Trainer(model: model, optimizer: optimizer, weighting: weighting, device: device)
        trainer.shuffleSeed = 17
        return trainer
    }

    @Test("save → load gives identical outputs", arguments: allSelectors)
    func saveLoad(selector: String) throws {
        let device = try Devices.select(selector)
        let source = try Self.trainer(seed: 1, on: device)
        let batches = try LearnableData.batches(2, n: 4, seed: 5, on: device)
        for batch in batches { try source.trainStep(batch) }
        let path = temporaryDirectory("checkpoint") + "/model.safetensors"
        try Checkpoint.save(model: source.model, to: path)
        let copy = try Presets.make("lenet-hps", seed: 2, on: device)
        try Checkpoint.load(path, into: copy)
        source.model.eval()
        copy.eval()
        let x = batches[0].input
        for (a, b) in zip(try source.model.forward(x), try copy.forward(x)) { #expect(try a.values() == b.values()) }
        #expect(try Safetensors.read(path).metadata["format"] == Checkpoint.modelFormat)
    }

    @Test("resuming from a checkpoint gives the same losses as an uninterrupted run", arguments: allSelectors, [true, false])
    func resume(selector: String, adam: Bool) throws {
        let device = try Devices.select(selector)
        let batches = try LearnableData.batches(3, n: 4, seed: 8, on: device)
        let path = temporaryDirectory("resume") + "/trainer.safetensors"
        // Uninterrupted: 2 epochs of 3 steps; the checkpoint is taken after step 4 (mid-epoch 2).
        let whole = try Self.trainer(seed: 1, on: device, adam: adam)
        var wholeLosses: [[Float]] = []
        whole.callbacks.append(ClosureCallback(step: { trainer, report in
            wholeLosses.append(report.losses)
            if report.step == 4 { try trainer.saveCheckpoint(to: path) }
        }))
        try whole.fit(epochs: 2, train: batches)
        // Resumed: fresh model (other initial weights), optimizer and weighting.
        let resumed = try Self.trainer(seed: 99, on: device, adam: adam)
        resumed.shuffleSeed = nil
        try resumed.loadCheckpoint(from: path)
        #expect(resumed.step == 4 && resumed.epoch == 1 && resumed.stepInEpoch == 1 && resumed.shuffleSeed == 17)
        var resumedLosses: [[Float]] = []
        resumed.callbacks.append(ClosureCallback(step: { _, report in resumedLosses.append(report.losses) }))
        let reports = try resumed.fit(epochs: 2, train: batches)
        #expect(resumedLosses.count == 2 && reports.count == 1)
        let tolerance: Float = device is CPUDevice ? 0 : 1e-6
        for (a, b) in zip(wholeLosses.suffix(2), resumedLosses) {
            for t in 0..<2 { #expect(abs(a[t] - b[t]) <= tolerance * abs(a[t]), "\(a) vs \(b)") }
        }
        #expect(reports[0].trainLosses == whole.history[1].trainLosses || !(device is CPUDevice))
        let w = try #require(resumed.weighting.parameters.first), v = try #require(whole.weighting.parameters.first)
        if device is CPUDevice { #expect(try w.values() == v.values()) }
    }

    @Test("fit over a data loader (with missing labels) resumes exactly from a mid-epoch checkpoint")
    func loaderResume() throws {
        let device = CPUDevice.shared
        var (x, labels) = LearnableData.host(n: 12, seed: 31)
        labels[1][5] = -1  // A missing label: the loader masks it.
        let tasks = [DatasetTask("left", .classification(classes: 10)), DatasetTask("right", .classification(classes: 10))]
        let data = try ArrayDataset(name: "learnable", inputs: x, inputShape: [1, 28, 28], tasks: tasks, labels: labels)
        let loader = try DataLoader(data, batchSize: 4, shuffle: true, seed: 3, prefetch: 0)
        let path = temporaryDirectory("loader-resume") + "/trainer.safetensors"
        let whole = try Self.trainer(seed: 1, on: device)
        var wholeLosses: [[Float]] = []
        whole.callbacks.append(ClosureCallback(step: { trainer, report in
            wholeLosses.append(report.losses)
            if report.step == 4 { try trainer.saveCheckpoint(to: path) }
        }))
        try whole.fit(epochs: 2, train: loader)
        #expect(wholeLosses.count == 6)
        let resumed = try Self.trainer(seed: 2, on: device)
        try resumed.loadCheckpoint(from: path)
        var resumedLosses: [[Float]] = []
        resumed.callbacks.append(ClosureCallback(step: { _, report in resumedLosses.append(report.losses) }))
        try resumed.fit(epochs: 2, train: loader)
        #expect(resumedLosses == Array(wholeLosses.suffix(2)))
        #expect(try resumed.model.stateDict().map(\.1) == whole.model.stateDict().map(\.1))
    }

    @Test("bad checkpoints are refused, naming the file, and leave model and optimizer unchanged")
    func badCheckpoints() throws {
        let device = CPUDevice.shared
        let dir = temporaryDirectory("bad-checkpoints")
        let source = try Self.trainer(seed: 1, on: device)
        try source.trainStep(try LearnableData.batch(n: 4, seed: 1, on: device))
        let good = dir + "/good.safetensors"
        try source.saveCheckpoint(to: good)
        let contents = try Safetensors.read(good)

        let target = try Self.trainer(seed: 5, on: device)
        try target.trainStep(try LearnableData.batch(n: 4, seed: 2, on: device))
        let modelBefore = try target.model.stateDict()
        let optimizerBefore = try #require(target.optimizer as? any StatefulOptimizer).exportState()
        let weightingBefore = try target.weighting.parameters.map { try $0.values() }

        func write(_ name: String, _ transform: (inout Safetensors.Contents) -> Void) throws -> String {
            var copy = contents
            transform(&copy)
            let path = dir + "/" + name
            try Safetensors.write(copy.tensors, metadata: copy.metadata, to: path)
            return path
        }
        let other = dir + "/other-model.safetensors"
        let w1 = try Presets.make("mmoe-synth", on: device)
        try Trainer(model: w1, optimizer: Adam(w1.parameters), weighting: TestWeighting(tasks: 2, on: device), device: device)
            .saveCheckpoint(to: other)
        let truncated = dir + "/truncated.safetensors"
        let bytes = try #require(System.readFile(good))
        #expect(System.writeFileAtomically(truncated, Array(bytes.prefix(bytes.count / 2))))

        let cases: [(String, String)] = [
            (other, "MMoE"),
            (try write("missing.safetensors") { $0.tensors.removeAll { $0.name == "shared.0.0.weight" } }, "missing shared.0.0.weight"),
            (try write("shape.safetensors") { c in
                if let i = c.tensors.firstIndex(where: { $0.name == "heads.1.2.bias" }) {
                    c.tensors[i] = Safetensors.Entry(name: "heads.1.2.bias", shape: [5], values: [1, 2, 3, 4, 5])
                }
            }, "heads.1.2.bias"),
            (try write("optimizer-shape.safetensors") { c in
                if let i = c.tensors.firstIndex(where: { $0.name == "optimizer/0/m" }) {
                    c.tensors[i].values.removeLast()
                    c.tensors[i].shape = [c.tensors[i].values.count]
                }
            }, "optimizer state"),
            (try write("weighting.safetensors") { $0.tensors.removeAll { $0.name.hasPrefix("weighting/") } }, "weighting/parameters/0"),
            (try write("model-only.safetensors") { $0.metadata = [:] }, "not a Tandem trainer checkpoint"),
            (truncated, "truncated"),
        ]
        for (path, expected) in cases {
            let text = CheckpointTests.message { try target.loadCheckpoint(from: path) }
            #expect(text.contains(path) && text.contains(expected), "\(path): \(text)")
        }
        // Model-only loads refuse the wrong model and a missing tensor too.
        let copy = try Presets.make("lenet-hps", seed: 5, on: device)
        let copyBefore = try copy.stateDict()
        for path in [other, dir + "/missing.safetensors", truncated] {
            let text = CheckpointTests.message { try Checkpoint.load(path, into: copy) }
            #expect(text.contains(path), "\(text)")
        }
        #expect(try copy.stateDict().map(\.1) == copyBefore.map(\.1))

        #expect(try target.model.stateDict().map(\.1) == modelBefore.map(\.1))
        #expect(try #require(target.optimizer as? any StatefulOptimizer).exportState() == optimizerBefore)
        #expect(try target.weighting.parameters.map { try $0.values() } == weightingBefore)
        #expect(target.step == 1)
        try target.loadCheckpoint(from: good)
        #expect(try target.model.stateDict().map(\.1) == source.model.stateDict().map(\.1))
    }

    @Test("optimizer state export and import are exact and refuse another optimizer's state")
    func optimizerState() throws {
        let device = CPUDevice.shared
        let a = try Tensor([1, 2, 3], shape: [3], on: device, requiresGrad: true)
        let adam = try Adam([a], learningRate: 0.1)
        a.grad = try Tensor([0.5, -1, 2], shape: [3], on: device)
        try adam.step()
        let state = try adam.exportState()
        #expect(state.kind == "Adam" && state.steps == [0: 1] && state.slots.map(\.name) == ["m", "v"])
        let b = try Tensor(a.values(), shape: [3], on: device, requiresGrad: true)
        let other = try Adam([b], learningRate: 0.5)
        try other.importState(state)
        #expect(other.learningRate == 0.1)
        a.grad = try Tensor([1, 1, 1], shape: [3], on: device)
        b.grad = try Tensor([1, 1, 1], shape: [3], on: device)
        try adam.step()
        try other.step()
        #expect(try a.values() == b.values())
        let sgd = try SGD([b], learningRate: 0.1, momentum: 0.9)
        #expect(throws: TandemError.self) { try sgd.importState(state) }
        let wrongShape = try Adam([try Tensor([1, 2], shape: [2], on: device, requiresGrad: true)])
        #expect(throws: TandemError.self) { try wrongShape.importState(state) }
    }
}
