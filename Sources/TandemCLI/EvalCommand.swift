import ArgumentParser
import Tandem

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint on a data set's test split and report per-task metrics.",
        discussion: """
        A checkpoint written by 'tandem train' holds its recipe: '--checkpoint CKPT' alone evaluates it with the \
        recipe's model, data, seed and limit on the test split. Options given here override the recipe (another data \
        set of the same tasks, fewer samples); model weights without a recipe need --model and --data.
        """)

    @Option(help: "The model the checkpoint belongs to (default: the checkpoint's recipe, else mtan): \(ModelFactory.names.joined(separator: ", ")).")
    var model: String?
    @Option(help: "Data (default: the checkpoint's recipe, else multifashion): \(DatasetCatalog.names.joined(separator: ", ")), or a path to an .npz file.")
    var data: String?
    @Option(help: "Checkpoint (safetensors) written by tandem train (--save, --save-best, an interrupt), or model weights.")
    var checkpoint: String
    @Option(help: "Device selector (default: $TANDEM_DEVICE, else auto).")
    var device: String?
    @Option(name: .customLong("batch-size"), help: "Samples per evaluation batch.")
    var batchSize = 256
    @Option(help: "Seed the data set was built with (default: the checkpoint's recipe, else 0).")
    var seed: UInt64?
    @Option(help: "Use only the first N test samples (default: the checkpoint's recipe's limit, else all).")
    var limit: Int?
    @Option(help: "Write a JSON report here.")
    var report: String?

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be positive") }
        if let limit, limit < 1 { throw ValidationError("--limit must be positive, got \(limit)") }
        if let model, !ModelFactory.names.contains(model) {
            throw ValidationError("unknown model '\(model)'; available: \(ModelFactory.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        let metadata: [String: String]
        do {
            metadata = try Checkpoint.metadata(checkpoint)
        } catch {
            throw CommandError("--checkpoint \(checkpoint): \(error)")
        }
        var recipe = TrainingRecipe()
        recipe.limit = nil
        if let text = metadata["recipe"] {
            recipe = try TrainingRecipe(json: try JSON.parse(text), source: "\(checkpoint) (recipe)")
        }
        if let model { recipe.model = model }
        if let data { recipe.data = data }
        if let seed { recipe.seed = seed }
        if let limit { recipe.limit = limit }
        if let report { try OutputPaths.checkFile(report, option: "--report") }
        let target = try Devices.select(device)
        var options = DatasetCatalog.Options()
        options.seed = recipe.seed
        options.correlation = recipe.correlation
        var test = try DatasetCatalog.load(recipe.data, options: options).test
        if let limit = recipe.limit { test = try test.prefix(limit) }
        if recipe.reconstruction { test = ReconstructionTask(test, name: TrainingRecipe.reconstructionTask) }
        let tasks = recipe.taskSpecs(test.tasks)
        let net = try ModelFactory.make(recipe.model, tasks: tasks, inputShape: test.inputShape, labelCounts: test.tasks.map(\.labelCount),
                                        seed: recipe.seed, on: target)
        try Checkpoint.load(checkpoint, into: net)
        net.eval()
        let batches = try DataLoader(test, batchSize: batchSize, shuffle: false, prefetch: 0).epoch(0).map {
            try TrainingBatch($0, tasks: test.tasks, on: target)
        }
        let trainer = try Trainer(model: net, optimizer: try SGD(net.parameters, learningRate: 0), weighting: EqualWeighting(), device: target)
        let result = try trainer.evaluate(batches)
        say("\(recipe.model) from \(checkpoint) on \(test.name) (\(test.count) samples) on \(target.info.description):")
        say(ProgressReporter.metricsTable(result))
        if let report {
            let json = JSON.object([
                ("version", .string("\(tandemVersion)")),
                ("config", .object([("model", .string(recipe.model)), ("data", .string(recipe.data)), ("checkpoint", .string(checkpoint)),
                                    ("device", .string(target.info.selector)), ("samples", .int(test.count))])),
                ("device", .string(target.info.name)), ("parameters", .int(net.parameterCount)),
                ("test", .object(metricsJSON(result))),
            ])
            try OutputPaths.write(json.rendered() + "\n", to: report, what: "report")
            say("Report written to \(report)")
        }
    }
}
