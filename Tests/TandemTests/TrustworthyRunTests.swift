import Foundation
import Testing
@testable import Tandem
@testable import TandemCLI

/// Issue 14: one recipe, splits, reproducible resume, interrupts, anomalies, training control,
/// discoverability and the exit-code policy.
@Suite("trustworthy training runs")
struct TrustworthyRunTests {
    static func directory() -> String {
        let path = NSTemporaryDirectory() + "tandem-run-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func json(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// Vectors x [n, 8] and a class task `a` = [x0 > 0] (labels inverted when `invert`).
    static func vectors(_ n: Int, seed: UInt64, invert: Bool = false) -> (NDArray, NDArray) {
        var random = SplitMix64(seed: seed)
        let x = (0..<(n * 8)).map { _ in Float(Double(random.next() % 20_000) / 10_000 - 1) }
        let a = (0..<n).map { i -> Float in (x[i * 8] > 0) != invert ? 1 : 0 }
        return (NDArray(shape: [n, 8], values: x), NDArray(shape: [n], values: a, dtype: .int64))
    }

    // MARK: The recipe

    @Test("a recipe survives JSON; unknown keys and bad values are errors naming them")
    func recipeJSON() throws {
        var recipe = TrainingRecipe()
        recipe.model = "hps"
        recipe.learningRate = 0.02
        recipe.schedule = .cosine
        recipe.warmupSteps = 5
        recipe.gradientClip = 1.5
        recipe.seed = 1 << 60  // beyond a double's exact integers: kept as a string
        recipe.earlyStoppingPatience = 3
        recipe.onNonFinite = .skip
        let text = recipe.json.compact()
        #expect(try TrainingRecipe(json: try JSON.parse(text), source: "test") == recipe)

        #expect(throws: TandemError.self) { try TrainingRecipe(json: try JSON.parse(#"{"learning_rate": 1}"#), source: "f.json") }
        do {
            _ = try TrainingRecipe(json: try JSON.parse(#"{"lr": -1}"#), source: "f.json")
            Issue.record("a negative rate was accepted")
        } catch {
            #expect("\(error)".contains("f.json") && "\(error)".contains("learning rate"))
        }
        var other = recipe
        other.learningRate = 0.5
        other.epochs = 9
        #expect(recipe.differences(from: other).map(\.key) == ["lr", "epochs"])
    }

    @Test("the default run's recipe, and resume: the checkpoint's recipe, conflicts named, --epochs a note")
    func resumeRecipe() throws {
        let (quick, batchGiven, _) = try TrainCommand.parse([]).assembleRecipe()
        #expect(quick.limit == 2_000 && quick.epochs == 2 && quick.batchSize == 32 && batchGiven)

        let dir = Self.directory()
        var recipe = TrainingRecipe()
        recipe.model = "mmoe"
        recipe.data = "mmoe-synth"
        recipe.limit = 64
        recipe.batchSize = 32
        recipe.epochs = 2
        let data = try RunData(recipe: recipe)
        let setup = try TrainingSetup(recipe: recipe, tasks: data.train.tasks.map(TaskSpec.init), inputShape: data.train.inputShape,
                                      labelCounts: nil, stepsPerEpoch: 2, device: CPUDevice.shared)
        setup.trainer.checkpointMetadata["recipe"] = recipe.json.compact()
        let path = dir + "/ckpt.safetensors"
        try setup.trainer.saveCheckpoint(to: path)

        let (resumed, _, notes) = try TrainCommand.parse(["--resume", path]).assembleRecipe()
        #expect(resumed == recipe)
        #expect(notes.isEmpty)
        let (longer, _, longerNotes) = try TrainCommand.parse(["--resume", path, "--epochs", "5", "--model", "mmoe"]).assembleRecipe()
        #expect(longer.epochs == 5)
        #expect(longerNotes.count == 1 && longerNotes[0].contains("--epochs 5"))
        do {
            _ = try TrainCommand.parse(["--resume", path, "--lr", "0.01", "--batch-size", "64"]).assembleRecipe()
            Issue.record("a changed learning rate was accepted on resume")
        } catch {
            let message = "\(error)"
            #expect(message.contains("--lr 0.01") && message.contains("--batch-size 64") && message.contains("32"), "\(message)")
        }
    }

    @Test("validation is carved from the training data with the seed, disjoint from it and from the test data")
    func splits() throws {
        var recipe = TrainingRecipe()
        recipe.data = "mmoe-synth"
        recipe.limit = 500
        let data = try RunData(recipe: recipe)
        let validation = try #require(data.validation)
        #expect(validation.count == 50 && data.train.count == 450 && data.test.count == 500)
        let trainIndices = Set(try #require(data.train as? SubsetDataset).indices)
        let valIndices = Set(try #require(validation as? SubsetDataset).indices)
        #expect(trainIndices.isDisjoint(with: valIndices) && trainIndices.union(valIndices) == Set(0..<500))
        #expect(try #require(RunData(recipe: recipe).validation as? SubsetDataset).indices == Array(valIndices).sorted())
        recipe.seed = 7
        #expect(try #require(RunData(recipe: recipe).validation as? SubsetDataset).indices != Array(valIndices).sorted())
        recipe.validationFraction = 0
        #expect(try RunData(recipe: recipe).validation == nil)
    }

    // MARK: Anomalies

    @Test("a NaN loss stops the trainer naming the task, the step and the first bad tensor; skip leaves the weights")
    func nonFiniteLoss() throws {
        let device = CPUDevice.shared
        let tasks = [TaskSpec("a", .regression), TaskSpec("b", .regression)]
        let model = try ModelFactory.make("hps", tasks: tasks, inputShape: [4], seed: 1, on: device)
        let trainer = try Trainer(model: model, optimizer: try Adam(model.parameters), weighting: EqualWeighting(), device: device)
        func batch(_ bad: Bool) throws -> TrainingBatch {
            let x = try Tensor((0..<8).map { $0 == 5 && bad ? .nan : Float($0) / 8 }, shape: [2, 4], on: device)
            return try TrainingBatch(input: x, targets: [try Tensor([1, 2], shape: [2], on: device), try Tensor([1, 0], shape: [2], on: device)])
        }
        try trainer.trainStep(try batch(false))
        do {
            try trainer.trainStep(try batch(true))
            Issue.record("a NaN loss passed")
        } catch let anomaly as TrainingAnomaly {
            #expect(anomaly.task == "a" && anomaly.step == 2)
            #expect(anomaly.firstBadTensor != nil, "the update from a NaN loss makes parameters NaN")
            #expect(anomaly.description.contains("task 'a'") && anomaly.description.contains("step 2"))
        }

        let fresh = try ModelFactory.make("hps", tasks: tasks, inputShape: [4], seed: 1, on: device)
        let skipping = try Trainer(model: fresh, optimizer: try Adam(fresh.parameters), weighting: EqualWeighting(), device: device)
        skipping.nonFinitePolicy = .skip
        let before = try fresh.stateDict().map(\.1.values)
        let losses = try skipping.trainStep(try batch(true))
        #expect(losses[0].isNaN && skipping.skippedSteps == 1)
        #expect(try fresh.stateDict().map(\.1.values) == before)
        try skipping.trainStep(try batch(false))
        #expect(skipping.skippedSteps == 1)
        #expect(try fresh.stateDict().map(\.1.values) != before)
    }

    @Test("ReLU keeps NaN (as PyTorch does) on every device, in the op and in the fused bias")
    func reluPropagatesNaN() throws {
        for selector in allSelectors {
            let device = try Devices.select(selector)
            let x = try Tensor([.nan, -1, 2, .infinity], shape: [4], on: device)
            let y = try x.relu().values()
            #expect(y[0].isNaN && y[1] == 0 && y[2] == 2 && y[3] == .infinity, "\(selector): \(y)")
            let buffer = try Tensor([.nan, -3, 1, 0.5], shape: [1, 2, 2], on: device)
            let bias = try Tensor([0, -1], shape: [2], on: device)
            try device.addChannelBias(buffer.storage, bias: bias.storage, batch: 1, channels: 2, inner: 2, relu: true)
            let z = try buffer.values()
            #expect(z[0].isNaN && z[1] == 0 && z[2] == 0 && z[3] == 0, "\(selector): \(z)")
        }
    }

    // MARK: The command line

    @Test("NaN in the inputs and --lr 1e30 exit non-zero, naming where")
    func anomaliesOnTheCommandLine() throws {
        let dir = Self.directory()
        var (x, a) = Self.vectors(40, seed: 3)
        x.values[17 * 8 + 2] = .nan
        try NPZ.write([("x", x), ("a", a)], to: dir + "/nan.npz")
        let nan = try runTandem(["train", "--model", "hps", "--data", dir + "/nan.npz", "--device", "cpu", "--epochs", "1"])
        #expect(nan.status == 1, "\(nan.stderr)")
        #expect(nan.stderr.contains("'x'") && nan.stderr.contains("sample 17"), "\(nan.stderr)")

        let diverged = try runTandem(["train", "--model", "mmoe", "--data", "mmoe-synth", "--device", "cpu", "--limit", "200",
                                      "--batch-size", "16", "--epochs", "2", "--lr", "1e30", "--report", dir + "/r.json"])
        #expect(diverged.status == 1, "\(diverged.stdout)\n\(diverged.stderr)")
        #expect(diverged.stderr.contains("step") && diverged.stderr.contains("task"), "\(diverged.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/r.json"))

        let skipped = try runTandem(["train", "--model", "mmoe", "--data", "mmoe-synth", "--device", "cpu", "--limit", "200",
                                     "--batch-size", "16", "--epochs", "1", "--lr", "1e30", "--on-nan", "skip", "--affinity-batches", "0",
                                     "--report", dir + "/skip.json"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect((try Self.json(dir + "/skip.json")["skipped_steps"] as? Int ?? 0) > 0)
        #expect(skipped.stdout.contains("Skipped"))
    }

    @Test("early stopping and the best epoch follow validation, not the test split")
    func selectionOnValidation() throws {
        let dir = Self.directory()
        // Validation labels are the opposite of the rule the training and test labels follow: as the
        // model learns, validation gets worse while test gets better.
        let (x, a) = Self.vectors(400, seed: 5)
        let (xv, av) = Self.vectors(100, seed: 6, invert: true)
        let (xt, at) = Self.vectors(100, seed: 7)
        try NPZ.write([("x", x), ("a", a), ("x_val", xv), ("a_val", av), ("x_test", xt), ("a_test", at)], to: dir + "/d.npz")
        let run = try runTandem(["train", "--model", "hps", "--data", dir + "/d.npz", "--device", "cpu", "--epochs", "8",
                                 "--batch-size", "16", "--lr", "0.01", "--early-stopping", "2", "--affinity-batches", "0",
                                 "--report", dir + "/r.json", "--save-best", dir + "/best.safetensors"])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try Self.json(dir + "/r.json")
        #expect(report["best_epoch"] as? Int == 1)
        #expect(report["stopped_early"] as? Bool == true)
        #expect((report["epochs"] as? [Any])?.count == 3)
        let test = try #require((report["test"] as? [String: [String: Double]])?["a"]?["accuracy"])
        let validation = try #require((report["validation"] as? [String: [String: Double]])?["a"]?["accuracy"])
        #expect(validation < 0.5 && test > 0.5, "validation \(validation), test \(test)")
        #expect(FileManager.default.fileExists(atPath: dir + "/best.safetensors"))
        let evaluated = try runTandem(["eval", "--checkpoint", dir + "/best.safetensors", "--device", "cpu", "--report", dir + "/e.json"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let again = try #require((try Self.json(dir + "/e.json")["test"] as? [String: [String: Double]])?["a"]?["accuracy"])
        #expect(again == test)

        let refused = try runTandem(["train", "--model", "hps", "--data", "mmoe-synth", "--val-fraction", "0", "--early-stopping", "2"])
        #expect(refused.status == 64 && refused.stderr.contains("validation"), "\(refused.stderr)")
    }

    @Test("SIGTERM saves a checkpoint; the printed command resumes it to the metrics of an uninterrupted run")
    func interruptAndResume() throws {
        let dir = Self.directory()
        let recipe = ["--model", "hps", "--data", "multifashion", "--device", "cpu", "--limit", "2400", "--epochs", "2",
                      "--batch-size", "16", "--affinity-batches", "1"]
        let whole = try runTandem(["train"] + recipe + ["--report", dir + "/whole.json"])
        #expect(whole.status == 0, "\(whole.stderr)")

        let (status, text) = try Self.runAndTerminate(["train"] + recipe + ["--save", dir + "/run ckpt.safetensors", "--report", dir + "/part.json"],
                                                     after: "epoch 1 step")
        #expect(status == 143, "\(text)")
        #expect(try Self.json(dir + "/part.json")["interrupted"] as? Bool == true)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("Resume with: ") }, "\(text)")
        // The command as a shell runs it (the checkpoint path has a space, so it must be quoted).
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", String(line.dropFirst("Resume with: ".count)) + " >/dev/null 2>&1"]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0, "\(line)")
        let resumed = try Self.json(dir + "/part.json")
        #expect(resumed["interrupted"] as? Bool == false)
        let expected = try Self.json(dir + "/whole.json")
        #expect(NSDictionary(dictionary: resumed["test"] as? [String: Any] ?? [:]) == NSDictionary(dictionary: expected["test"] as? [String: Any] ?? [:]))
        #expect(resumed["best_epoch"] as? Int == expected["best_epoch"] as? Int)
        // The history came back with the checkpoint: both epochs are reported, with the same values.
        #expect((resumed["epochs"] as? [[String: Any]])?.count == 2)
        #expect(NSArray(array: resumed["epochs"] as? [Any] ?? []) == NSArray(array: expected["epochs"] as? [Any] ?? []))
    }

    /// Runs tandem with `arguments`, calls `interrupt` once its output contains `marker` (SIGTERM
    /// unless given), and returns the exit status and everything it printed.
    static func runAndTerminate(_ arguments: [String], after marker: String,
                                interrupt: (Process) -> Void = { $0.terminate() }) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = try tandemExecutable()
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains(marker) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        interrupt(process)
        seen.append(out.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: seen, as: UTF8.self))
    }

    @Test("a second Ctrl-C stops at once, without a checkpoint; a resume conflict shows train's usage")
    func secondInterrupt() throws {
        let dir = Self.directory()
        // Steps of a few hundred milliseconds, so the second signal comes while the first step still runs.
        let (status, text) = try Self.runAndTerminate(
            ["train", "--model", "mtan", "--data", "multifashion", "--device", "cpu", "--limit", "2000",
             "--batch-size", "64", "--save", dir + "/c.safetensors"], after: "Training mtan") { process in
            usleep(500_000)  // Inside the first step.
            kill(process.processIdentifier, SIGINT)
            usleep(20_000)  // Two signals sent at once may arrive as one.
            kill(process.processIdentifier, SIGINT)
        }
        #expect(status == 130, "\(text)")
        #expect(!text.contains("Resume with") && !FileManager.default.fileExists(atPath: dir + "/c.safetensors"), "\(text)")

        let first = try runTandem(["train", "--model", "mmoe", "--data", "mmoe-synth", "--device", "cpu", "--limit", "64", "--epochs", "1",
                                   "--affinity-batches", "0", "--save", dir + "/m.safetensors"])
        #expect(first.status == 0, "\(first.stderr)")
        let conflict = try runTandem(["train", "--resume", dir + "/m.safetensors", "--lr", "0.5"])
        #expect(conflict.status == 64, "\(conflict.stderr)")
        #expect(conflict.stderr.contains("--lr 0.5") && conflict.stderr.contains("0.001") && conflict.stderr.contains("tandem train"), "\(conflict.stderr)")
    }

    @Test("an interrupted single-task baseline exits non-zero and reports no Δm")
    func interruptedBaseline() throws {
        let dir = Self.directory()
        let (status, text) = try Self.runAndTerminate(
            ["train", "--model", "hps", "--data", "multifashion", "--device", "cpu", "--limit", "2400", "--epochs", "2",
             "--batch-size", "16", "--single-task", "--report", dir + "/r.json", "--save", dir + "/c.safetensors"], after: "epoch 1 step")
        #expect(status == 143, "\(text)")
        #expect(text.contains("Baselines are not checkpointed") && !text.contains("Δm against"), "\(text)")
        let report = try Self.json(dir + "/r.json")
        #expect(report["interrupted"] as? Bool == true && report["delta_m"] == nil)
        #expect(!FileManager.default.fileExists(atPath: dir + "/c.safetensors"))
    }

    @Test("output paths are checked before training, I/O errors exit 1 with the reason, usage errors 64")
    func exitCodes() throws {
        let missing = try runTandem(["train", "--model", "mmoe", "--data", "mmoe-synth", "--device", "cpu", "--report", "/nonexistent-dir/r.json"])
        #expect(missing.status == 1, "\(missing.stderr)")
        #expect(missing.stderr.contains("/nonexistent-dir") && missing.stderr.contains("No such file"), "\(missing.stderr)")
        #expect(!missing.stdout.contains("epoch"))
        let usage = try runTandem(["train", "--epochs", "0"])
        #expect(usage.status == 64 && usage.stderr.contains("tandem train"), "\(usage.stderr)")
        let data = try runTandem(["train", "--data", "/nonexistent.npz", "--device", "cpu"])
        #expect(data.status == 1, "\(data.stderr)")
        let version = try runTandem(["--version"])
        #expect(version.status == 0 && version.stdout.contains("\(tandemVersion)"))
    }

    @Test("models and datasets list what exists; start-up names each task's kind; float class labels and empty tasks warn")
    func discoverability() throws {
        let models = try runTandem(["models"])
        #expect(models.status == 0 && ModelFactory.names.allSatisfy { models.stdout.contains($0) })
        let datasets = try runTandem(["datasets"])
        #expect(datasets.status == 0 && datasets.stdout.contains("mmoe-synth") && datasets.stdout.contains("regression"))
        #expect(datasets.stdout.contains("x_test"))

        let dir = Self.directory()
        let (x, a) = Self.vectors(60, seed: 9)
        let floats = NDArray(shape: [60], values: a.values)
        let empty = NDArray(shape: [60], values: [Float](repeating: .nan, count: 60))
        try NPZ.write([("x", x), ("a", floats), ("b", a), ("c", empty)], to: dir + "/w.npz")
        let run = try runTandem(["train", "--model", "hps", "--data", dir + "/w.npz", "--device", "cpu", "--epochs", "1", "--affinity-batches", "0"])
        #expect(run.stdout.contains("Warning: array 'a' holds floats"), "\(run.stdout)")
        #expect(run.stdout.contains("task 'c' has no label"), "\(run.stdout)")
        #expect(run.stdout.contains("task b: classification, 2 classes"), "\(run.stdout)")
    }

    @Test("the progress line fits 80 columns with three tasks and shows the time left")
    func progressWidth() throws {
        let progress = ProgressReporter(tasks: ["segmentation", "depth", "normals"], stepsPerEpoch: 250, batchSize: 8, epochs: 10)
        for columns in [40, 60, 80, 120] {
            let line = progress.line(epoch: 3, done: 117, rate: "123/s", left: "12:34", columns: columns)
            #expect(line.count <= columns - 1, "\(columns): \(line)")
            #expect(line.contains("12:34 left"), "\(columns): \(line)")
        }
        #expect(progress.line(epoch: 3, done: 117, rate: "123/s", left: "12:34", columns: 80).contains("depth"))
    }

    @Test("--log-dir streams metrics (JSON lines, CSV, TensorBoard events) and --run-report draws the run")
    func followingARun() throws {
        let dir = Self.directory()
        let run = try runTandem(["train", "--model", "mmoe", "--data", "mmoe-synth", "--device", "cpu", "--limit", "300", "--epochs", "2",
                                 "--batch-size", "32", "--log-dir", dir + "/logs/a", "--run-report", dir + "/logs/a/run.svg"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = try String(contentsOfFile: dir + "/logs/a/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let kinds = try lines.map { line in try #require(try JSON.parse(String(line))["kind"]) }
        #expect(kinds.filter { $0 == .string("epoch") }.count == 2 && kinds.last == .string("test"))
        let csv = try String(contentsOfFile: dir + "/logs/a/metrics.csv", encoding: .utf8)
        #expect(csv.hasPrefix("kind,epoch,step,tag,value") && csv.contains("val/mse/task1"))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/logs/a")
        #expect(files.contains { $0.hasPrefix("events.out.tfevents.") })
        let svg = try String(contentsOfFile: dir + "/logs/a/run.svg", encoding: .utf8)
        #expect(svg.contains("<svg") && svg.contains("task1") && svg.contains("Validation"))

        let blocked = dir + "/file"
        #expect(FileManager.default.createFile(atPath: blocked, contents: Data()))
        let refused = try runTandem(["train", "--model", "mmoe", "--data", "mmoe-synth", "--device", "cpu", "--log-dir", blocked + "/logs"])
        #expect(refused.status == 1 && refused.stderr.contains("--log-dir") && !refused.stdout.contains("epoch"), "\(refused.stderr)")
    }

    @Test("--config reads a JSON recipe; options given override it")
    func configFile() throws {
        let dir = Self.directory()
        try #"{"model": "mmoe", "data": "mmoe-synth", "limit": 64, "epochs": 1, "batch_size": 32, "lr": 0.005}"#
            .write(toFile: dir + "/c.json", atomically: true, encoding: .utf8)
        let run = try runTandem(["train", "--config", dir + "/c.json", "--lr", "0.002", "--device", "cpu", "--report", dir + "/r.json"])
        #expect(run.status == 0, "\(run.stderr)")
        let recipe = try #require((try Self.json(dir + "/r.json")["config"] as? [String: Any])?["recipe"] as? [String: Any])
        #expect(recipe["model"] as? String == "mmoe" && recipe["lr"] as? Double == 0.002 && recipe["epochs"] as? Int == 1)
        try #"{"model": "mmoe", "learning_rate": 1}"#.write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        let bad = try runTandem(["train", "--config", dir + "/bad.json"])
        #expect(bad.status == 1 && bad.stderr.contains("learning_rate"), "\(bad.stderr)")
    }
}
