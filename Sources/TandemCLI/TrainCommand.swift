import ArgumentParser
import Tandem

extension TrainingRecipe.ScheduleKind: ExpressibleByArgument {}
extension NonFinitePolicy: ExpressibleByArgument {}

/// The options of `tandem train` that make up its recipe (`TrainingRecipe`): each is nil unless
/// given, so a resumed run can tell an option given again from one left out.
struct RecipeOptions: ParsableArguments {
    @Option(help: "Model (default mtan): \(ModelFactory.names.joined(separator: ", ")). See 'tandem models'.")
    var model: String?
    @Option(help: "Data (default multifashion): \(DatasetCatalog.names.joined(separator: ", ")), or a path to an .npz file (see below). See 'tandem datasets'.")
    var data: String?
    @Option(help: "Loss weighting (default ew): \(WeightingMethods.names.joined(separator: ", ")).")
    var weighting: String?
    @Option(help: "Comma-separated task weights for --weighting fixed.")
    var weights: String?
    @Option(name: .customLong("weighting-arg"), help: ArgumentHelp(
        "A setting of the weighting as key=value (repeatable); defaults are the papers'.",
        discussion: WeightingMethods.names.compactMap { name in
            let settings = WeightingMethods.settings(of: name)
            return settings.isEmpty ? nil : "\(name): " + settings.map(\.summary).joined(separator: "; ")
        }.joined(separator: "\n"), valueName: "key=value"))
    var weightingArg: [String] = []
    @Flag(name: .customLong("rep-grad"), help: "Gradient methods combine the tasks' gradients at the shared representation, not the shared parameters (LibMTL's rep_grad; with mgda: MGDA-UB). hps and mmoe models.")
    var repGrad = false
    @Option(help: "Optimizer: sgd (momentum 0.9), adam or adamw (default adam).")
    var optimizer: String?
    @Option(help: "Learning rate (default 1e-3 for adam/adamw, 0.01 for sgd).")
    var lr: Float?
    @Option(name: .customLong("weight-decay"), help: "Weight decay (default 0; 0.01 for adamw).")
    var weightDecay: Float?
    @Option(name: .customLong("lr-schedule"), help: "Learning-rate schedule: constant, step (×0.1 every third of the epochs) or cosine (to 0 at the end). Default constant.")
    var schedule: TrainingRecipe.ScheduleKind?
    @Option(help: "Linear learning-rate warm-up steps before the schedule (default 0).")
    var warmup: Int?
    @Option(name: .customLong("grad-clip"), help: "Clip the global gradient norm to this value (default: no clipping).")
    var gradClip: Float?
    @Option(help: "Training epochs (default 2 for the quick default run, else 10).")
    var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Samples per step (default 32 for the quick default run; else 256, or 8 for inputs above 1,000 values).")
    var batchSize: Int?
    @Option(help: "Seed of the weights, the data (pairing, generation, validation split) and the shuffle (default 0).")
    var seed: UInt64?
    @Option(help: "Use only the first N samples of the training data and of the test data (default: all; 2,000 for the quick default run).")
    var limit: Int?
    @Option(name: .customLong("val-fraction"), help: "Fraction of the training data held out (seeded) for validation, which selects the best epoch and stops early; 0 turns validation off (default 0.1; data with its own validation split uses it).")
    var valFraction: Double?
    @Option(name: .customLong("early-stopping"), help: "Stop when validation has not improved for this many epochs (default: off).")
    var earlyStopping: Int?
    @Option(name: .customLong("on-nan"), help: "A NaN or infinite loss: stop (exit 1, naming the task, step and tensor) or skip the step (default stop).")
    var onNaN: NonFinitePolicy?
    @Option(help: "Correlation of the mmoe-synth tasks (default 0.5).")
    var correlation: Double?
    @Option(name: .customLong("stitch-lr-multiplier"), help: "Learning-rate multiplier of the architecture's mixing parameters: cross-stitch α units, Learning to Branch's θ (default 1).")
    var stitchLearningRateMultiplier: Float?
    @Option(name: .customLong("affinity-batches"), help: "Training batches per epoch on which task affinity is measured; 0 turns it off (default 4).")
    var affinityBatches: Int?
    @Flag(name: .customLong("single-task"), help: "First train one model per task with the same recipe, then report Δm of the multi-task model against them.")
    var singleTask = false
    @Option(help: "Comma-separated tasks of the data to train as auxiliary: trained, but left out of Δm, the best-epoch score, ranks and single-task baselines.")
    var auxiliary: String?
    @Option(help: "Comma-separated tasks of the data to train adversarially (auxiliary, each head behind a gradient reversal layer: the shared layers learn to hide the task).")
    var adversarial: String?
    @Option(name: .customLong("adversarial-lambda"), help: "λ of the adversarial tasks' gradient reversal (default 1).")
    var adversarialLambda: Float?
    @Flag(name: .customLong("adversarial-constant"), help: "Keep the adversarial λ constant instead of ramping it up over training as Ganin and Lempitsky do (2/(1 + e^(-10p)) - 1 at progress p).")
    var adversarialConstant = false
    @Flag(help: "Add the auxiliary task 'reconstruction': the input itself as regression targets (an autoencoder through the shared layers).")
    var reconstruct = false
    @Flag(name: .customLong("stop-auxiliary"), help: "Stop each auxiliary task on its own by TCDCN's criterion (Zhang et al. 2014) on its training and validation loss.")
    var stopAuxiliary = false
    @Option(name: .customLong("stop-auxiliary-strip"), help: "TCDCN's training strip k, in epochs (default 3).")
    var stopAuxiliaryStrip: Int?
    @Option(name: .customLong("stop-auxiliary-threshold"), help: "TCDCN's threshold ε (default 1).")
    var stopAuxiliaryThreshold: Double?
    @Option(name: .customLong("task-sampling"), help: "Multi-input data (--data task=source,... or fashion-split): how each step's tasks are drawn: uniform, proportional (to each task's samples) or temperature=τ (∝ n^(1/τ)). Default uniform.")
    var taskSampling: String?
    @Option(name: .customLong("tasks-per-step"), help: "Multi-input data: tasks drawn per step, each with batch ÷ K of its own samples (default: every task every step).")
    var tasksPerStep: Int?

    /// Whether any recipe option was given (none: the quick default run).
    var anyGiven: Bool { !given.isEmpty }

    /// The given options as recipe keys and JSON values (what they would set).
    var given: [(key: String, value: JSON)] {
        var out: [(String, JSON)] = []
        func add(_ key: String, _ value: JSON?) { if let value { out.append((key, value)) } }
        add("model", model.map(JSON.string))
        add("data", data.map(JSON.string))
        add("weighting", weighting.map(JSON.string))
        add("weights", weights.map { text in .array(text.split(separator: ",").map { Float($0.trimmingSpaces).map(JSON.float) ?? .string(String($0)) }) })
        if let arguments = try? WeightingSettings.parse(weightingArg), !arguments.isEmpty {
            add("weighting_args", .object(arguments.keys.sorted().map { ($0, .string(arguments[$0] ?? "")) }))
        }
        if repGrad { add("rep_grad", .bool(true)) }
        add("optimizer", optimizer.map(JSON.string))
        add("lr", lr.map(JSON.float))
        add("weight_decay", weightDecay.map(JSON.float))
        add("lr_schedule", schedule.map { .string($0.rawValue) })
        add("warmup", warmup.map(JSON.int))
        add("grad_clip", gradClip.map(JSON.float))
        add("epochs", epochs.map(JSON.int))
        add("batch_size", batchSize.map(JSON.int))
        add("seed", seed.map { Double($0) < JSON.exactIntegerLimit ? .number(Double($0)) : .string("\($0)") })
        add("limit", limit.map(JSON.int))
        add("val_fraction", valFraction.map(JSON.number))
        add("early_stopping", earlyStopping.map(JSON.int))
        add("on_nan", onNaN.map { .string($0.rawValue) })
        add("correlation", correlation.map(JSON.number))
        add("stitch_lr_multiplier", stitchLearningRateMultiplier.map(JSON.float))
        add("affinity_batches", affinityBatches.map(JSON.int))
        if singleTask { add("single_task", .bool(true)) }
        func names(_ text: String?) -> JSON? {
            text.map { .array($0.split(separator: ",").map { .string($0.trimmingSpaces) }) }
        }
        add("auxiliary", names(auxiliary))
        add("adversarial", names(adversarial))
        add("adversarial_lambda", adversarialLambda.map(JSON.float))
        if reconstruct { add("reconstruct", .bool(true)) }
        if adversarialConstant { add("adversarial_ramp", .bool(false)) }
        if stopAuxiliary { add("stop_auxiliary", .bool(true)) }
        add("stop_auxiliary_strip", stopAuxiliaryStrip.map(JSON.int))
        add("stop_auxiliary_threshold", stopAuxiliaryThreshold.map(JSON.number))
        add("task_sampling", taskSampling.map(JSON.string))
        add("tasks_per_step", tasksPerStep.map(JSON.int))
        return out
    }

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if let batchSize, batchSize < 2 { throw ValidationError("--batch-size must be at least 2, got \(batchSize)") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be 0 or more, got \(weightDecay)") }
        if let gradClip, !(gradClip > 0 && gradClip.isFinite) { throw ValidationError("--grad-clip must be a positive number, got \(gradClip)") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must not be negative, got \(warmup)") }
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2, got \(limit)") }
        if let valFraction, !(valFraction >= 0 && valFraction < 1) { throw ValidationError("--val-fraction must be in [0, 1), got \(valFraction)") }
        if let earlyStopping, earlyStopping < 1 { throw ValidationError("--early-stopping must be at least 1 epoch, got \(earlyStopping)") }
        if let affinityBatches, affinityBatches < 0 { throw ValidationError("--affinity-batches must not be negative, got \(affinityBatches)") }
        if let optimizer, !["sgd", "adam", "adamw"].contains(optimizer) {
            throw ValidationError("--optimizer must be sgd, adam or adamw, got '\(optimizer)'")
        }
        if let model, !ModelFactory.names.contains(model) {
            throw ValidationError("unknown model '\(model)'; available: \(ModelFactory.names.joined(separator: ", "))")
        }
        if let weighting, !WeightingMethods.names.contains(weighting) {
            throw ValidationError("unknown weighting '\(weighting)'; available: \(WeightingMethods.names.joined(separator: ", "))")
        }
        do {
            _ = try WeightingSettings.parse(weightingArg)
        } catch {
            throw ValidationError("--weighting-arg: \(error)")
        }
        for (option, text) in [("--auxiliary", auxiliary), ("--adversarial", adversarial)] {
            if let text, text.split(separator: ",", omittingEmptySubsequences: false).contains(where: { $0.trimmingSpaces.isEmpty }) {
                throw ValidationError("\(option) takes comma-separated task names, got '\(text)'")
            }
        }
        if let adversarialLambda, !(adversarialLambda > 0 && adversarialLambda.isFinite) {
            throw ValidationError("--adversarial-lambda must be a positive number, got \(adversarialLambda)")
        }
        if let stopAuxiliaryStrip, stopAuxiliaryStrip < 3 { throw ValidationError("--stop-auxiliary-strip must be at least 3 epochs, got \(stopAuxiliaryStrip)") }
        if let stopAuxiliaryThreshold, !(stopAuxiliaryThreshold > 0 && stopAuxiliaryThreshold.isFinite) {
            throw ValidationError("--stop-auxiliary-threshold must be a positive number, got \(stopAuxiliaryThreshold)")
        }
        if let taskSampling {
            do {
                _ = try TaskBatchSampling(parsing: taskSampling)
            } catch {
                throw ValidationError("--task-sampling: \(error)")
            }
        }
        if let tasksPerStep, tasksPerStep < 1 { throw ValidationError("--tasks-per-step must be at least 1, got \(tasksPerStep)") }
        if let weights, weights.split(separator: ",").contains(where: { Float($0.trimmingSpaces) == nil }) {
            throw ValidationError("--weights must be comma-separated numbers, got '\(weights)'")
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces.
    var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a multi-task model on a data set and report per-task metrics.",
        discussion: """
        With no options: an MTAN model on multifashion (2,000 samples, batch 32, 2 epochs) on the auto device (the best GPU, else the CPU), \
        under a minute on two cores. The training data loses --val-fraction (10%) to a seeded validation split, which picks \
        the best epoch and stops early; the test split is evaluated once at the end, on the best epoch's model.

        Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and prints the command that resumes it; \
        a second Ctrl-C stops at once. A checkpoint holds the whole recipe: 'tandem train --resume CKPT' continues the same \
        run (only --epochs may change; the output options may be given again).

        --config FILE reads the recipe from a JSON object: the keys are the options' long names with '_' for '-' \
        (model, data, lr, batch_size, lr_schedule, ...); options given on the command line override it.

        User data: \(UserData.formatHelp)

        Files are read within limits, checked before memory is reserved: one file's arrays may take half the physical \
        memory, and compressed data may expand at most 1,040:1 (what deflate can produce); $\(ReadLimits.bytesVariable) \
        (e.g. 8G) and $\(ReadLimits.ratioVariable) change them.

        Exit status: 0 done, 1 a data, device, I/O or training error (a NaN loss), 64 a usage error, 130 or 143 interrupted.
        """)

    @OptionGroup(title: "Recipe") var recipeOptions: RecipeOptions

    @Option(help: "Device selector: cpu, opencl, opencl:N, gpu, name:TEXT or auto (default: $TANDEM_DEVICE, else auto: the best GPU, else the CPU).")
    var device: String?
    @Flag(name: .customLong("sync-batch-norm"), help: "With several ranks or devices: batch norm normalises with the statistics of the whole global batch (an exchange per layer each way) instead of each replica's part's. Give it again when resuming.")
    var syncBatchNorm = false
    @Option(name: .customLong("bucket-mb"), help: "With several ranks or devices: MiB of gradients per all-reduce bucket (default 25). Each bucket is combined as soon as the backward has completed its gradients, overlapping the rest of the backward; smaller buckets start earlier, at one collective's latency each.")
    var bucketMegabytes: Double?
    @Option(help: "Train one model on several devices of this process: comma-separated selectors (opencl:0,cpu). Each device takes a part of every batch, in proportion to its measured speed, and all apply the update the whole batch gives on one device. Under mpirun every rank runs its list (the same length on every rank).")
    var devices: String?
    @Option(help: "Read the recipe from a JSON file (keys: the long option names with _ for -); options given here override it.")
    var config: String?
    @Option(help: "Save a trainer checkpoint (safetensors, with the recipe) here at the end of every epoch and on interrupt.")
    var save: String?
    @Option(name: .customLong("save-best"), help: "Save the model of the best epoch (by validation) here.")
    var saveBest: String?
    @Option(help: "Resume the run of this checkpoint (written by --save or an interrupt) with its recipe.")
    var resume: String?
    @Option(name: .customLong("init"), help: "Initial weights from a safetensors file (state-dict names, e.g. from PyTorch).")
    var initWeights: String?
    @Option(help: "Write a JSON report here (recipe, per-epoch metrics, best epoch, validation and test metrics, wall time).")
    var report: String?
    @Option(name: .customLong("log-dir"), help: "Write metrics while training to this folder: metrics.jsonl, metrics.csv and TensorBoard event files.")
    var logDirectory: String?
    @Option(name: .customLong("run-report"), help: "Draw the run (per-task loss and metric curves, task affinity) as an SVG picture here.")
    var runReport: String?

    /// The output options, as they are given again in a resume command.
    var outputArguments: [String] {
        var out: [String] = []
        for (name, value) in [("--device", device), ("--devices", devices), ("--save", save), ("--save-best", saveBest), ("--report", report),
                              ("--log-dir", logDirectory), ("--run-report", runReport)] {
            if let value { out += [name, value] }
        }
        if syncBatchNorm { out.append("--sync-batch-norm") }
        if let bucketMegabytes { out += ["--bucket-mb", "\(bucketMegabytes)"] }
        return out
    }

    func validate() throws {
        if resume != nil, config != nil { throw ValidationError("--resume takes the recipe from the checkpoint; --config cannot change it") }
        if resume != nil, initWeights != nil { throw ValidationError("--resume restores the weights; --init cannot be combined with it") }
        if device != nil, devices != nil { throw ValidationError("give --device (one) or --devices (several), not both") }
        try BucketSize.validate(bucketMegabytes)
    }

    func run() throws {
        // Under mpirun: MPI joined first, so that every later failure on a rank ends the whole job.
        let communicator = try Communicators.fromEnvironment()
        do {
            try train(communicator: communicator)
            (communicator as? MPICommunicator)?.finish()
        } catch {
            guard communicator.size > 1 else { throw error }
            System.printError("tandem train: rank \(communicator.rank) of \(communicator.size): \(error)")
            communicator.abort(code: 1)
            throw error
        }
    }

    func train(communicator: any Communicator) throws {
        let assembled: (TrainingRecipe, batchGiven: Bool, notes: [String])
        do {
            assembled = try assembleRecipe()
        } catch let error as ValidationError {
            throw usageFailure(error.message, command: Self.self)
        }
        let (recipe, batchGiven, notes) = assembled
        let targets = try selectDevices()
        for note in notes { say("Note: \(note)") }
        var data = try RunData(recipe: recipe)
        var resolved = recipe
        if !batchGiven { resolved.batchSize = data.train.inputCount > 1000 ? 8 : 256 }
        try resolved.validate()
        if resolved.earlyStoppingPatience != nil, data.validation == nil {
            throw usageFailure("--early-stopping selects on the validation split, and this run has none (--val-fraction 0 and no x_val in the data)", command: Self.self)
        }
        for warning in data.warnings { say("Warning: \(warning)") }
        data.warnings = []
        if communicator.isRoot { try checkOutputs() }
        let selectors = targets.map(\.info.selector)
        // Every rank of an mpirun job must run as many devices (the ranks' collectives pair up).
        if communicator.size > 1 { try HierarchicalCommunicator.checkSameDeviceCount(targets.count, over: communicator) }
        guard targets.count > 1 else {
            try TrainingRun(command: self, recipe: resolved, device: targets[0], data: data, communicator: communicator,
                            devices: selectors).execute()
            return
        }
        // Several devices: a replica per device, each on its own thread, meeting in shared memory;
        // under mpirun, the threads of every rank together (ranks × devices).
        let group = LocalGroup(size: targets.count, timeoutSeconds: try Communicators.timeoutFromEnvironment() ?? 600)
        let communicators: [any Communicator]
        if communicator.size > 1 {
            communicators = HierarchicalCommunicator.over(communicator, group: group)
        } else {
            communicators = group.communicators
        }
        let command = self, shared = data, final = resolved, job = communicator
        let errors = runRanks(targets.count, group: group) { rank in
            do {
                try TrainingRun(command: command, recipe: final, device: targets[rank], data: shared, communicator: communicators[rank],
                                devices: selectors).execute()
            } catch let error where job.size > 1 && !(error is CommunicatorError) {
                // The other processes wait for this one in collectives: end the job now rather
                // than after the timeout.
                System.printError("tandem train: rank \(communicators[rank].rank) of \(communicators[rank].size): \(error)")
                job.abort(code: 1)
                throw error
            }
        }
        // The first error that is not another rank being released by it.
        let failures = errors.compactMap { $0 }
        if let cause = failures.first(where: { !($0 is CommunicatorError) }) ?? failures.first { throw cause }
    }

    /// The devices of this process: --devices' list, else --device's one.
    func selectDevices() throws -> [any Device] {
        guard let devices else { return [try Devices.select(device)] }
        let selectors = devices.split(separator: ",").map { String($0.trimmingSpaces) }
        guard !selectors.isEmpty, !selectors.contains("") else {
            throw usageFailure("--devices takes comma-separated device selectors (opencl:0,cpu), got '\(devices)'", command: Self.self)
        }
        return try selectors.map { try Devices.select($0) }
    }

    /// Fails before training when an output path cannot be written.
    func checkOutputs() throws {
        // The log folder first: the other outputs may go inside it.
        if let logDirectory { try OutputPaths.makeFolder(logDirectory, option: "--log-dir") }
        for (option, path) in [("--report", report), ("--save", save), ("--save-best", saveBest), ("--run-report", runReport)] {
            if let path { try OutputPaths.checkFile(path, option: option) }
        }
    }

    /// `base` with the given options; a value the recipe refuses is a usage error.
    static func apply(_ given: [(key: String, value: JSON)], to base: TrainingRecipe) throws -> TrainingRecipe {
        do {
            return try TrainingRecipe(json: .object(given.map { ($0.key, $0.value) }), base: base, source: "options")
        } catch TandemError.invalidArgument(_, let message) {
            throw ValidationError(message)
        }
    }

    /// The recipe of this run: the checkpoint's when resuming (options given again must agree with
    /// it, except --epochs), else the config file's or the defaults, with the given options on top.
    /// Returns whether the batch size is fixed (else it is chosen from the data) and notes to print.
    func assembleRecipe() throws -> (TrainingRecipe, batchGiven: Bool, notes: [String]) {
        let given = recipeOptions.given
        var base = TrainingRecipe()
        var notes: [String] = []
        if let resume {
            let metadata: [String: String]
            do {
                metadata = try Checkpoint.metadata(resume)
            } catch {
                throw CommandError("--resume \(resume): \(error)")
            }
            guard metadata["format"] == Checkpoint.trainerFormat else {
                throw CommandError("--resume \(resume): not a trainer checkpoint (format '\(metadata["format"] ?? "none")'); a model file loads with --init")
            }
            guard let text = metadata["recipe"] else {
                throw CommandError("--resume \(resume): the checkpoint holds no recipe (written by an older Tandem); start a new run with --init \(resume) to reuse its weights")
            }
            let saved = try TrainingRecipe(json: try JSON.parse(text), source: "\(resume) (recipe)")
            let wanted = try Self.apply(given, to: saved)
            var recipe = saved
            var conflicts: [String] = []
            for var difference in saved.differences(from: wanted) {
                let option = "--" + difference.key.replacingAll("_", with: "-")
                if difference.mine == "null" { difference.mine = difference.key == "lr" ? "the default, \(saved.effectiveLearningRate)" : "none (the default)" }
                if TrainingRecipe.resumableKeys.contains(difference.key) {
                    notes.append("\(option) \(difference.theirs) changes the checkpoint's \(difference.mine)")
                } else {
                    conflicts.append("\(option) \(difference.theirs) (the checkpoint's recipe has \(difference.mine))")
                }
            }
            if !conflicts.isEmpty {
                throw ValidationError("a resumed run keeps the recipe of its checkpoint, and these options differ from it: \(conflicts.joined(separator: "; ")). Leave them out to resume, or start a new run without --resume.")
            }
            recipe.epochs = wanted.epochs
            return (recipe, true, notes)
        }
        var fileKeys: Set<String> = []
        if let config {
            base.epochs = 10
            (base, fileKeys) = try ConfigFile.recipe(path: config, base: base)
        } else if recipeOptions.anyGiven {
            base.epochs = 10
        } else {
            // The quick default run.
            base.limit = 2_000
            base.epochs = 2
            base.batchSize = 32
        }
        let recipe = try Self.apply(given, to: base)
        let batchGiven = recipeOptions.batchSize != nil || fileKeys.contains("batch_size") || (!recipeOptions.anyGiven && config == nil)
        return (recipe, batchGiven, notes)
    }
}
