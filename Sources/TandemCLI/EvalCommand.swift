import ArgumentParser
import Tandem

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint on a data set's test split and report per-task metrics.")

    @Option(help: "The model the checkpoint belongs to: \(ModelFactory.names.joined(separator: ", ")).")
    var model = "mtan"
    @Option(help: "Data: \(DatasetCatalog.names.joined(separator: ", ")), or a path to an .npz file.")
    var data = "multifashion"
    @Option(help: "Checkpoint (safetensors) written by tandem train --save, or model weights.")
    var checkpoint: String
    @Option(help: "Device selector (default: $TANDEM_DEVICE, else auto).")
    var device: String?
    @Option(name: .customLong("batch-size"), help: "Samples per evaluation batch.")
    var batchSize = 256
    @Option(help: "Seed the data set was built with (multifashion pairing).")
    var seed: UInt64 = 0
    @Option(help: "Use only the first N test samples.")
    var limit: Int?
    @Option(help: "Write a JSON report here.")
    var report: String?

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be positive") }
        guard ModelFactory.names.contains(model) else {
            throw ValidationError("unknown model '\(model)'; available: \(ModelFactory.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        let target = try Devices.select(device)
        var options = DatasetCatalog.Options()
        options.seed = seed
        if let limit { options.testCount = limit }
        let test = try DatasetCatalog.load(data, options: options).test
        let tasks = test.tasks.map(TaskSpec.init)
        let net = try ModelFactory.make(model, tasks: tasks, inputShape: test.inputShape, labelCounts: test.tasks.map(\.labelCount),
                                        seed: seed, on: target)
        try Checkpoint.load(checkpoint, into: net)
        net.eval()
        let count = min(limit ?? test.count, test.count)
        let batches = try stride(from: 0, to: count, by: batchSize).map { start in
            try TrainingBatch(test.batch(Array(start..<min(start + batchSize, count))), tasks: test.tasks, on: target)
        }
        let trainer = try Trainer(model: net, optimizer: try SGD(net.parameters, learningRate: 0), weighting: EqualWeighting(), device: target)
        let result = try trainer.evaluate(batches)
        say("\(model) from \(checkpoint) on \(test.name) (\(count) samples) on \(target.info.description):")
        say(ProgressReporter.metricsTable(result))
        if let report {
            let json = JSON.object([
                ("config", .object([("model", .string(model)), ("data", .string(data)), ("checkpoint", .string(checkpoint)),
                                    ("device", .string(target.info.selector)), ("samples", .int(count))])),
                ("device", .string(target.info.name)), ("parameters", .int(net.parameterCount)),
                ("final", .object(metricsJSON(result))),
            ])
            guard System.writeFileAtomically(report, Array((json.rendered() + "\n").utf8)) else {
                throw ValidationError("cannot write the report to \(report)")
            }
            say("Report written to \(report)")
        }
    }
}
