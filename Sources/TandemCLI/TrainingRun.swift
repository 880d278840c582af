import ArgumentParser
import Tandem
import TandemRunLog

/// One `tandem train`: optional single-task baselines, then the multi-task model, built from one
/// recipe; progress, affinity, checkpoints, interrupts, the test evaluation and the report.
struct TrainingRun {
    let command: TrainCommand
    let recipe: TrainingRecipe
    let device: any Device
    let data: RunData
    /// The ranks of a data-parallel job (one for a run of this process alone); only rank 0 writes.
    let communicator: any Communicator
    /// The selectors of every device that trains (several with --devices; rank 0's under mpirun).
    let devices: [String]
    let started = Bench.now()

    /// Processes of the job and devices per process.
    var ranksAndDevices: (ranks: Int, devices: Int) {
        if let hierarchy = communicator as? HierarchicalCommunicator { return (hierarchy.outer.size, hierarchy.local.size) }
        return communicator is LocalCommunicator ? (1, communicator.size) : (communicator.size, 1)
    }

    /// Prints `text` on rank 0 only (the replicas of --devices are threads of one process).
    func say(_ text: String = "") {
        if communicator.isRoot { TandemCLI.say(text) }
    }

    /// What one model's training gave.
    struct Outcome {
        var fields: [(String, JSON)]
        var test: EvaluationResult?
        var interrupted: Int32?
    }

    func execute() throws {
        printData()
        if communicator.isRoot { Interrupts.install() }
        defer { if communicator.isRoot { Interrupts.remove() } }
        var baselines: [String: [String: Double]]?
        var singleTaskResults: [(String, EvaluationResult)] = []
        if recipe.singleTaskBaselines {
            for (index, task) in data.train.tasks.enumerated() where !recipe.isAuxiliary(task.name) {
                say("Single-task baseline: \(task.name)")
                let outcome = try train(taskIndices: [index], baselines: nil, main: false)
                if let signal = outcome.interrupted {
                    say("\nInterrupted during the single-task baseline of '\(task.name)'. Baselines are not checkpointed, so no Δm is reported; run the same command again to start over.")
                    try writeReport(fields: [("interrupted", .bool(true)), ("phase", .string("single-task baseline \(task.name)"))])
                    throw Interrupts.exitCode(signal)
                }
                guard let test = outcome.test else { continue }
                singleTaskResults.append((task.name, test))
            }
            baselines = Dictionary(uniqueKeysWithValues: singleTaskResults.map { name, result in
                (name, Dictionary(uniqueKeysWithValues: (result[name]?.metrics ?? []).map { ($0.name, $0.value) }))
            })
            say("Multi-task model")
        }
        var outcome = try train(taskIndices: Array(data.train.tasks.indices), baselines: baselines, main: true)
        if recipe.singleTaskBaselines {
            outcome.fields.append(("single_task", .object(singleTaskResults.map { ($0.0, metricsJSON($0.1)[0].1) })))
        }
        try writeReport(fields: outcome.fields)
        if let signal = outcome.interrupted { throw Interrupts.exitCode(signal) }
    }

    /// Prints the data and its tasks (kind, classes, labelled samples).
    func printData() {
        let validation = data.validation.map { "\($0.count) validation, " } ?? "no validation, "
        say("Data \(recipe.data): \(data.train.count) training, \(validation)\(data.test.count) test samples; inputs \(data.train.inputShape)")
        for (t, task) in data.train.tasks.enumerated() {
            let kind: String
            switch task.kind {
            case let .classification(classes): kind = "classification, \(classes) classes"
            case .regression: kind = "regression" + (task.labelShape.isEmpty ? "" : ", \(task.labelCount) targets")
            case let .segmentation(classes): kind = "segmentation, \(classes) classes"
            case .depth: kind = "depth"
            case .normals: kind = "surface normals"
            }
            say("  task \(task.name): \(kind); \(data.train.labelledCount(task: t)) of \(data.train.count) training samples labelled")
        }
    }

    func writeReport(fields: [(String, JSON)]) throws {
        guard communicator.isRoot, let path = command.report else { return }
        let all: [(String, JSON)] = [("version", .string("\(tandemVersion)")), ("wall_seconds", .number(Bench.now() - started))] + fields
        try OutputPaths.write(JSON.object(all).rendered() + "\n", to: path, what: "report")
        say("Report written to \(path)")
    }

    func train(taskIndices: [Int], baselines: [String: [String: Double]]?, main: Bool) throws -> Outcome {
        let c = command
        let run = try RecipeTraining(recipe: recipe, data: data, tasks: taskIndices, device: device, baselines: baselines)
        let part = run.data, train = part.train, loader = run.loader, setup = run.setup, validation = run.validation
        let tasks = recipe.taskSpecs(train.tasks)
        let trainer = setup.trainer, model = setup.model
        trainer.checkpointMetadata["recipe"] = recipe.json.compact()
        if communicator.size > 1 {
            let group = DataParallel(communicator: communicator)
            // Devices of one process may differ in speed: parts follow their measured speeds.
            group.balancesLoad = communicator is LocalCommunicator || communicator is HierarchicalCommunicator
            group.synchronizesBatchNorm = c.syncBatchNorm
            if let bytes = BucketSize.bytes(c.bucketMegabytes) { group.bucketBytes = bytes }
            trainer.dataParallel = group
        }
        // Only rank 0 writes files; every rank trains and evaluates.
        let writes = main && communicator.isRoot
        if let path = c.initWeights { try Checkpoint.load(path, into: model) }
        if main, let path = c.resume {
            try trainer.loadCheckpoint(from: path)
            say("Resumed from \(path) at epoch \(trainer.epoch + 1), step \(trainer.step)")
        }

        let on = devices.count > 1 ? devices.joined(separator: " + ") : device.info.description
        say("Training \(recipe.model) (\(model.parameterCount) parameters) on \(on)")
        var schedule = recipe.schedule.rawValue
        if recipe.warmupSteps > 0 { schedule += " after \(recipe.warmupSteps) warm-up steps" }
        if let hierarchy = communicator as? HierarchicalCommunicator {
            say("  data parallel over \(hierarchy.outer.size) ranks (\(hierarchy.outer.transport)) × \(hierarchy.local.size) devices each: each takes a part of every batch of \(recipe.batchSize), in proportion to its measured speed")
        } else if communicator is LocalCommunicator {
            say("  data parallel over \(communicator.size) devices of this process: each takes a part of every batch of \(recipe.batchSize), in proportion to its measured speed")
        } else if communicator.size > 1 {
            say("  data parallel over \(communicator.size) ranks (\(communicator.transport)): each takes \(recipe.batchSize / communicator.size)–\((recipe.batchSize + communicator.size - 1) / communicator.size) samples of every batch of \(recipe.batchSize)")
        }
        say("  \(recipe.epochs) epochs, batch \(recipe.batchSize), \(recipe.optimizer) lr \(recipe.effectiveLearningRate) (\(schedule)), weighting \(setup.weighting.name), seed \(recipe.seed)")
        let progress = ProgressReporter(tasks: tasks.map(\.name), stepsPerEpoch: loader.batchesPerEpoch, batchSize: recipe.batchSize,
                                        epochs: recipe.epochs, silent: !communicator.isRoot)
        let affinity = recipe.affinityBatches > 0 ? try TaskAffinity(tasks: tasks) : nil
        var affinityReports: [AffinityReport] = []
        let runLog = try writes ? c.logDirectory.map { try RunLog(directory: $0, tasks: tasks.map(\.name)) } : nil
        trainer.callbacks.append(ClosureCallback(step: { trainer, report in
            progress.step(report)
            if Interrupts.received != nil { trainer.requestStop() }
        }, epoch: { trainer, report in
            progress.endEpoch(report)
            if let affinity {
                try affinity.observe(batches: Array(loader.batchIndices(epoch: report.epoch).prefix(recipe.affinityBatches)),
                                     of: train, model: trainer.model, on: device)
                let measured = affinity.endEpoch()
                affinityReports.append(measured)
                for line in measured.summary { say("  affinity: \(line)") }
            }
            if writes, let path = c.save { try trainer.saveCheckpoint(to: path) }
            if writes { try drawRun(trainer, tasks: tasks, affinity: affinityReports.last) }
        }))
        // After the printing callback, so a log write error does not hide the epoch's table.
        if let runLog {
            trainer.callbacks.append(runLog)
            say("Logging metrics to \(runLog.directory) (metrics.jsonl, metrics.csv; tensorboard --logdir \(runLog.directory))")
        }
        defer { runLog?.close() }

        try run.fit()
        var fields: [(String, JSON)] = [
            ("config", .object([("recipe", recipe.json), ("device", .string(device.info.selector)),
                                ("tasks", .array(tasks.map { .string($0.name) }))])),
            ("device", .string(device.info.name)),
            ("data_parallel", .object([
                ("ranks", .int(ranksAndDevices.ranks)),
                ("devices_per_rank", .int(ranksAndDevices.devices)),
                ("devices", .array(devices.map { .string($0) })),
                ("transport", .string(communicator.transport)),
                ("synchronized_batch_norm", .bool(communicator.size > 1 && c.syncBatchNorm)),
                ("relative_speeds", .array((trainer.dataParallel?.weights ?? []).map { .number($0) })),
                ("skipped_batches", .int(trainer.dataParallel?.skippedBatches ?? 0)),
                ("bucket_bytes", .int(trainer.dataParallel?.bucketBytes ?? 0)),
                ("gradient_buckets", .int(trainer.dataParallel?.bucketCount ?? 0)),
                ("buckets_started_during_backward", .int(trainer.dataParallel?.bucketsStartedDuringBackward ?? 0)),
            ])),
            ("parameters", .int(model.parameterCount)),
            ("samples", .object([("train", .int(train.count)), ("validation", .int(part.validation?.count ?? 0)), ("test", .int(part.test.count))])),
            ("epochs", .array(trainer.history.map { report in
                .object([
                    ("epoch", .int(report.epoch + 1)),
                    ("train_loss", .object(zip(tasks, report.trainLosses).map { ($0.name, .float($1)) })),
                    ("val", .object(report.validation.map(metricsJSON) ?? [])),
                    ("best", .bool(report.isBest)),
                    ("weights", .array(report.weights.map { .float($0) })),
                    ("delta_m", report.deltaM.map(JSON.number) ?? .null),
                ])
            })),
            ("samples_per_second", .number(progress.samplesPerSecond)),
            ("skipped_steps", .int(trainer.skippedSteps)),
            ("stopped_early", .bool(trainer.stoppedEarly)),
            ("auxiliary_stopped", .object(trainer.auxiliaryStops.map { ($0.task, .int($0.epoch + 1)) })),
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

        if let signal = Interrupts.received {
            guard main else { return Outcome(fields: fields, test: nil, interrupted: signal) }
            let path = c.save ?? "tandem-interrupted.safetensors"
            if communicator.isRoot { try trainer.saveCheckpoint(to: path) }
            let resumeArguments = [programPath(), "train", "--resume", absolutePath(path)] + c.outputArguments
            say("\nInterrupted at epoch \(trainer.epoch + 1), step \(trainer.step). Checkpoint saved to \(path).")
            say("Resume with: \(resumeArguments.map(shellQuoted).joined(separator: " "))")
            fields.append(("interrupted", .bool(true)))
            fields.append(("checkpoint", .string(path)))
            return Outcome(fields: fields, test: nil, interrupted: signal)
        }
        for stop in trainer.auxiliaryStops {
            say("Auxiliary task '\(stop.task)' stopped training after epoch \(stop.epoch + 1) (TCDCN's criterion above \(recipe.auxiliaryStoppingThreshold)).")
        }
        if trainer.stoppedEarly, let best = trainer.best {
            say("Stopped early: validation has not improved for \(recipe.earlyStoppingPatience ?? 0) epochs since epoch \(best.epoch + 1).")
        }

        // The test split, once, on the best epoch's model when validation chose one.
        var tested = "the last epoch's model"
        if let bestEpoch = try run.restoreBestEpoch() {
            tested = "the model of epoch \(bestEpoch + 1), the best by validation"
            if writes, let path = c.saveBest {
                var metadata = trainer.checkpointMetadata
                metadata["best_epoch"] = "\(bestEpoch + 1)"
                try Checkpoint.save(model: model, to: path, metadata: metadata)
                say("Best model (epoch \(bestEpoch + 1)) saved to \(path)")
            }
        } else if writes, let path = c.saveBest {
            try Checkpoint.save(model: model, to: path, metadata: trainer.checkpointMetadata)
            say("No validation split: the last epoch's model saved to \(path)")
        }
        let test = try run.test()
        try runLog?.logTest(test, step: trainer.step)
        say("\nTest (\(part.test.name), \(part.test.count) samples) of \(tested):")
        say(ProgressReporter.metricsTable(test))
        if let tree = model as? LearningToBranch {
            let text = tree.inWarmup ? "still in its warm-up (every node reads the mean of all parents)" : try tree.describeBranching()
            say("\nLearned branching (the most likely tree; tasks in one brace share that stage's node):\n\(text)")
            fields.append(("branching", .array(try tree.branching().map { .array($0.map { .int($0) }) })))
        }
        if let adaShare = model as? AdaShare, adaShare.learnsPolicy {
            let used = try adaShare.activeParameterCount()
            say("\nAdaShare policy after \(adaShare.phase.rawValue) (x: the task runs the block, .: it skips it; the select probability in brackets):\n\(try adaShare.describePolicy())")
            say("Parameters the policy uses: \(used) of \(adaShare.parameterCount - adaShare.logits.count) (warm-up \(adaShare.phases.warmup), policy learning \(adaShare.phases.policy) epochs, then re-training)")
            fields.append(("adashare", .object([
                ("policy", .array(try adaShare.policy().map { .array($0.map(JSON.bool)) })),
                ("select_probability", .array(try adaShare.selectProbabilities().map { .array($0.map { .float($0) }) })),
                ("phase", .string(adaShare.phase.rawValue)), ("parameters_used", .int(used)),
            ])))
        }
        fields.append(("best_epoch", trainer.best.map { .int($0.epoch + 1) } ?? .null))
        // Validation of the tested model (re-evaluated: a resumed run has no history of earlier epochs).
        let bestValidation = validation.isEmpty ? nil : try trainer.evaluate(validation)
        fields.append(("validation", bestValidation.map { .object(metricsJSON($0)) } ?? .null))
        fields.append(("test", .object(metricsJSON(test))))
        fields.append(("interrupted", .bool(false)))
        if let baselines {
            let deltaM = try DeltaM.compute(test, baselines: baselines)
            say("Δm against single-task baselines (test): \(fixed(100 * deltaM, 2))%")
            fields.append(("delta_m", .number(deltaM)))
        }
        if writes, let path = c.runReport { say("Run report drawn to \(path)") }
        if trainer.skippedSteps > 0 { say("Skipped \(trainer.skippedSteps) step(s) with a non-finite loss or gradient (--on-nan skip).") }
        return Outcome(fields: fields, test: test, interrupted: nil)
    }
}

extension TrainingRun {
    /// Redraws `--run-report` from the trainer's history (after every epoch, so a long run's picture
    /// is current and an interrupted run keeps one).
    func drawRun(_ trainer: Trainer, tasks: [TaskSpec], affinity: AffinityReport?) throws {
        guard let path = command.runReport else { return }
        let title = "\(recipe.model) on \(recipe.data), \(recipe.weighting), \(device.info.selector)"
        let svg = RunReport.svg(title: title, tasks: tasks.map(\.name), epochs: trainer.history,
                                affinity: affinity.map { (tasks: $0.tasks, cosine: $0.cosine) })
        try OutputPaths.write(svg, to: path, what: "run report")
    }
}

/// Per-task metrics of an evaluation as JSON: task → metric → value.
func metricsJSON(_ result: EvaluationResult) -> [(String, JSON)] {
    result.tasks.map { task in
        (task.task, .object([("loss", .number(task.loss))] + task.metrics.map { ($0.name, .number($0.value)) }))
    }
}
