import ArgumentParser
import Synchronization
import Tandem

#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT: the training loop stops after the current step, saves and explains how to resume.
let interruptRequested = Atomic<Bool>(false)

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a multi-task model on a data set and report per-task metrics.",
        discussion: """
        With no arguments: an MTAN model on multifashion (a 2,000-image subset, batch 32, 2 epochs) on the auto \
        device, a run of a few minutes on two cores. Ctrl-C saves a checkpoint and prints how to resume.
        """)

    @Option(help: "Model: \(ModelFactory.names.joined(separator: ", ")).")
    var model = "mtan"
    @Option(help: "Data: \(DatasetCatalog.names.joined(separator: ", ")), or a path to an .npz file.")
    var data = "multifashion"
    @Option(help: "Device selector: cpu, opencl, opencl:N, gpu or auto (default: $TANDEM_DEVICE, else auto).")
    var device: String?
    @Option(help: "Loss weighting: \(WeightingMethods.names.joined(separator: ", ")).")
    var weighting = "ew"
    @Option(help: "Comma-separated task weights for --weighting fixed.")
    var weights: String?
    @Option(help: "Training epochs.")
    var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Samples per step.")
    var batchSize: Int?
    @Option(help: "Optimizer: sgd (momentum 0.9), adam or adamw.")
    var optimizer = "adam"
    @Option(help: "Learning rate (default 1e-3 for adam/adamw, 0.01 for sgd).")
    var lr: Float?
    @Option(help: "Seed of weights, data pairing and shuffling.")
    var seed: UInt64 = 0
    @Option(help: "Use only the first N training samples (and N/6 test samples).")
    var limit: Int?
    @Option(help: "Correlation of the mmoe-synth tasks.")
    var correlation: Double = 0.5
    @Option(name: .customLong("stitch-lr-multiplier"), help: "Learning-rate multiplier of cross-stitch α units.")
    var stitchLearningRateMultiplier: Float = 1
    @Option(name: .customLong("affinity-batches"), help: "Training batches per epoch on which task affinity is measured (0: off).")
    var affinityBatches = 4
    @Option(help: "Save a checkpoint (safetensors) here at the end of every epoch.")
    var save: String?
    @Option(help: "Resume from a checkpoint written by --save.")
    var resume: String?
    @Option(name: .customLong("init"), help: "Initial weights from a safetensors file (state-dict names, e.g. from PyTorch).")
    var initWeights: String?
    @Option(help: "Write a JSON report here.")
    var report: String?
    @Flag(name: .customLong("single-task"), help: "First train one model per task with the same recipe, then report Δm of the multi-task model against them.")
    var singleTask = false

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let batchSize, batchSize < 2 { throw ValidationError("--batch-size must be at least 2") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be positive") }
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2") }
        guard ["sgd", "adam", "adamw"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd, adam or adamw, got '\(optimizer)'") }
        guard affinityBatches >= 0 else { throw ValidationError("--affinity-batches must not be negative") }
        guard ModelFactory.names.contains(model) else {
            throw ValidationError("unknown model '\(model)'; available: \(ModelFactory.names.joined(separator: ", "))")
        }
        guard WeightingMethods.names.contains(weighting) else {
            throw ValidationError("unknown weighting '\(weighting)'; available: \(WeightingMethods.names.joined(separator: ", "))")
        }
    }

    /// `tandem train` with no options at all: the quick default run.
    var isDefaultRun: Bool { CommandLine.arguments.count <= 2 }

    func run() throws {
        let target = try Devices.select(device)
        var options = DatasetCatalog.Options()
        options.seed = seed
        options.correlation = correlation
        let trainLimit = limit ?? (isDefaultRun ? 2_000 : nil)
        if let trainLimit {
            options.limit = trainLimit
            options.trainCount = trainLimit
            options.testCount = max(2, trainLimit / 6)
        }
        let splits = try DatasetCatalog.load(data, options: options)
        let run = TrainingRun(command: self, device: target, splits: splits, trainLimit: trainLimit)
        var baselines: [String: [String: Double]]? = nil
        var singleTaskResults: [(String, EvaluationResult)] = []
        if singleTask {
            for (index, task) in splits.train.tasks.enumerated() {
                say("Single-task baseline: \(task.name)")
                let result = try run.train(taskIndices: [index], baselines: nil, saving: false)
                singleTaskResults.append((task.name, result.final))
            }
            baselines = Dictionary(uniqueKeysWithValues: singleTaskResults.map { name, result in
                (name, Dictionary(uniqueKeysWithValues: (result[name]?.metrics ?? []).map { ($0.name, $0.value) }))
            })
            say("Multi-task model")
        }
        let result = try run.train(taskIndices: Array(splits.train.tasks.indices), baselines: baselines, saving: true)
        if let report {
            var json = result.json
            if singleTask, case var .object(fields) = json {
                fields.append(("single_task", .object(singleTaskResults.map { ($0.0, metricsJSON($0.1)[0].1) })))
                json = .object(fields)
            }
            guard System.writeFileAtomically(report, Array((json.rendered() + "\n").utf8)) else {
                throw ValidationError("cannot write the report to \(report)")
            }
            say("Report written to \(report)")
        }
        if result.interrupted { throw ExitCode(130) }
    }
}

/// Per-task metrics of an evaluation as JSON: task → metric → value.
func metricsJSON(_ result: EvaluationResult) -> [(String, JSON)] {
    result.tasks.map { task in
        (task.task, .object([("loss", .number(task.loss))] + task.metrics.map { ($0.name, .number($0.value)) }))
    }
}

/// One training run of `tandem train`: builds the model for the chosen tasks, trains with progress
/// output, measures affinity, checkpoints, and returns the report.
struct TrainingRun {
    let command: TrainCommand
    let device: any Device
    let splits: DatasetSplits
    let trainLimit: Int?

    struct Outcome {
        var json: JSON
        var final: EvaluationResult
        var interrupted: Bool
    }

    func train(taskIndices: [Int], baselines: [String: [String: Double]]?, saving: Bool) throws -> Outcome {
        let c = command
        let train = taskIndices.count == splits.train.tasks.count ? splits.train : TaskSubset(splits.train, taskIndices)
        let test = taskIndices.count == splits.test.tasks.count ? splits.test : TaskSubset(splits.test, taskIndices)
        let tasks = train.tasks.map(TaskSpec.init)
        let epochs = c.epochs ?? (c.isDefaultRun ? 2 : 10)
        let batchSize = c.batchSize ?? (train.inputCount > 1000 ? 8 : (c.isDefaultRun ? 32 : 256))
        let model = try ModelFactory.make(c.model, tasks: tasks, inputShape: train.inputShape,
                                          labelCounts: train.tasks.map(\.labelCount), seed: c.seed, on: device)
        if let path = c.initWeights { try Checkpoint.load(path, into: model) }
        let fixedWeights = try c.weights.map { text -> [Float] in
            let values = text.split(separator: ",").compactMap { Float($0) }
            guard values.count == tasks.count else { throw ValidationError("--weights needs \(tasks.count) comma-separated numbers, got '\(text)'") }
            return values
        }
        let weighting = try WeightingMethods.make(c.weighting, tasks: tasks, on: device,
                                                  options: WeightingOptions(fixedWeights: fixedWeights, seed: c.seed))
        let stitch = (model as? CrossStitchNetwork)?.alphas ?? []
        let stitchIDs = Set(stitch.map(ObjectIdentifier.init))
        var groups = [ParameterGroup(model.parameters.filter { !stitchIDs.contains(ObjectIdentifier($0)) } + weighting.parameters)]
        if !stitch.isEmpty { groups.append(ParameterGroup(stitch, learningRateMultiplier: c.stitchLearningRateMultiplier)) }
        let optimizer: any Optimizer
        switch c.optimizer {
        case "sgd": optimizer = try SGD(groups, learningRate: c.lr ?? 0.01, momentum: 0.9)
        case "adamw": optimizer = try AdamW(groups, learningRate: c.lr ?? 1e-3)
        default: optimizer = try Adam(groups, learningRate: c.lr ?? 1e-3)
        }
        let trainer = try Trainer(model: model, optimizer: optimizer, weighting: weighting, device: device, baselines: baselines)
        let loader = try DataLoader(train, batchSize: batchSize, shuffle: true, seed: c.seed)
        let validation = try DataLoader(test, batchSize: batchSize, shuffle: false).epoch(0).map {
            try TrainingBatch($0, tasks: test.tasks, on: device)
        }
        if let path = c.resume, saving {
            try trainer.loadCheckpoint(from: path)
            say("Resumed from \(path) at epoch \(trainer.epoch + 1), step \(trainer.step)")
        }

        say("Training \(c.model) (\(model.parameterCount) parameters) on \(train.name) (\(train.count) samples, tasks \(tasks.map(\.name).joined(separator: ", "))) on \(device.info.description)")
        say("  \(epochs) epochs, batch \(batchSize), \(c.optimizer) lr \(optimizer.learningRate), weighting \(weighting.name)")
        let progress = ProgressReporter(tasks: tasks.map(\.name), stepsPerEpoch: loader.batchesPerEpoch, batchSize: batchSize, epochs: epochs)
        let affinity = c.affinityBatches > 0 ? try TaskAffinity(tasks: tasks) : nil
        var affinityReports: [AffinityReport] = []
        var epochsJSON: [JSON] = []
        trainer.callbacks.append(ClosureCallback(step: { trainer, report in
            progress.step(report)
            if interruptRequested.load(ordering: .relaxed) { trainer.requestStop() }
        }, epoch: { trainer, report in
            progress.endEpoch(report)
            if let affinity {
                // Evaluation mode, so that measuring does not move batch-norm running statistics.
                trainer.model.eval()
                defer { trainer.model.train() }
                let order = loader.batchIndices(epoch: report.epoch)
                for indices in order.prefix(c.affinityBatches) {
                    let batch = try TrainingBatch(train.batch(indices), tasks: train.tasks, on: device)
                    let outputs = try trainer.model.forward(batch.input)
                    let losses = try (0..<tasks.count).map { try tasks[$0].maskedLoss(outputs[$0], batch.targets[$0], mask: batch.masks[$0]) }
                    try affinity.observe(losses: losses, model: trainer.model)
                }
                let measured = affinity.endEpoch()
                affinityReports.append(measured)
                for line in measured.summary { say("  affinity: \(line)") }
            }
            epochsJSON.append(.object([
                ("epoch", .int(report.epoch + 1)),
                ("train_loss", .object(zip(tasks, report.trainLosses).map { ($0.name, .float($1)) })),
                ("val", .object(report.validation.map(metricsJSON) ?? [])),
                ("weights", .array(report.weights.map { .float($0) })),
                ("delta_m", report.deltaM.map(JSON.number) ?? .null),
            ]))
            if saving, let path = c.save { try trainer.saveCheckpoint(to: path) }
        }))

        interruptRequested.store(false, ordering: .relaxed)
        signal(SIGINT) { _ in interruptRequested.store(true, ordering: .relaxed) }
        defer { signal(SIGINT, SIG_DFL) }
        _ = try trainer.fit(epochs: epochs, train: loader, validation: validation)
        let interrupted = interruptRequested.load(ordering: .relaxed)
        if interrupted {
            let path = c.save ?? "tandem-interrupted.safetensors"
            try trainer.saveCheckpoint(to: path)
            say("\nInterrupted at epoch \(trainer.epoch + 1), step \(trainer.step). Checkpoint saved to \(path).")
            say("Resume with: tandem train \(CommandLine.arguments.dropFirst(2).filter { $0 != "--resume" }.joined(separator: " ")) --resume \(path)")
        }
        let final = try trainer.evaluate(validation)
        say("\nFinal (\(test.name), \(test.count) samples):")
        say(ProgressReporter.metricsTable(final))
        if let deltaM = try baselines.map({ try DeltaM.compute(final, baselines: $0) }) {
            say("Δm against single-task baselines: \(fixed(100 * deltaM, 2))%")
        }
        var fields: [(String, JSON)] = [
            ("config", .object([("model", .string(c.model)), ("data", .string(c.data)), ("device", .string(device.info.selector)),
                                ("weighting", .string(weighting.name)), ("epochs", .int(epochs)), ("batch_size", .int(batchSize)),
                                ("optimizer", .string(c.optimizer)), ("lr", .float(optimizer.learningRate)),
                                ("seed", .number(Double(c.seed))), ("train_samples", .int(train.count)), ("test_samples", .int(test.count)),
                                ("tasks", .array(tasks.map { .string($0.name) }))])),
            ("device", .string(device.info.name)),
            ("parameters", .int(model.parameterCount)),
            ("epochs", .array(epochsJSON)),
            ("final", .object(metricsJSON(final))),
            ("samples_per_second", .number(progress.samplesPerSecond)),
        ]
        if let last = affinityReports.last {
            fields.append(("affinity", .object([
                ("tasks", .array(last.tasks.map { .string($0) })),
                ("cosine", .array(last.cosine.map { .array($0.map { .float($0) }) })),
                ("summary", .array(last.summary.map { .string($0) })),
            ])))
        } else {
            fields.append(("affinity", .null))
        }
        if let baselines { fields.append(("delta_m", .number(try DeltaM.compute(final, baselines: baselines)))) }
        return Outcome(json: .object(fields), final: final, interrupted: interrupted)
    }
}

/// A data set restricted to some of its tasks (single-task baselines).
struct TaskSubset: MultiTaskDataset {
    let base: any MultiTaskDataset
    let keep: [Int]
    init(_ base: any MultiTaskDataset, _ keep: [Int]) {
        self.base = base
        self.keep = keep
    }
    var name: String { base.name + "[" + keep.map { base.tasks[$0].name }.joined(separator: ",") + "]" }
    var count: Int { base.count }
    var inputShape: [Int] { base.inputShape }
    var tasks: [DatasetTask] { keep.map { base.tasks[$0] } }
    func batch(_ indices: [Int]) -> HostBatch {
        let full = base.batch(indices)
        return HostBatch(indices: full.indices, inputs: full.inputs, inputShape: full.inputShape,
                         labels: keep.map { full.labels[$0] }, masks: keep.map { full.masks[$0] })
    }
}
