import Tandem

#if canImport(Glibc)
import Glibc
#endif

/// Training output: on a terminal a progress bar per epoch (step, per-task loss, samples/s, time
/// left) and a table per epoch; plain lines when standard output is not a terminal.
final class ProgressReporter {
    let tasks: [String]
    let stepsPerEpoch: Int
    let batchSize: Int
    let epochs: Int
    let isTerminal = isatty(1) != 0
    private var epochStart = Bench.now()
    private var trainingSeconds = 0.0
    private var trainedSamples = 0
    private var lastStep = Bench.now()
    private var runningLoss: [Double] = []
    private var stepsThisEpoch = 0

    init(tasks: [String], stepsPerEpoch: Int, batchSize: Int, epochs: Int) {
        self.tasks = tasks
        self.stepsPerEpoch = stepsPerEpoch
        self.batchSize = batchSize
        self.epochs = epochs
        runningLoss = tasks.map { _ in 0 }
    }

    /// Mean training throughput so far (validation excluded).
    var samplesPerSecond: Double { trainingSeconds > 0 ? Double(trainedSamples) / trainingSeconds : 0 }

    func step(_ report: StepReport) {
        let now = Bench.now()
        if stepsThisEpoch == 0 { epochStart = now; lastStep = now }
        trainingSeconds += now - lastStep
        lastStep = now
        trainedSamples += batchSize
        stepsThisEpoch += 1
        for (i, loss) in report.losses.enumerated() where i < runningLoss.count {
            runningLoss[i] = stepsThisEpoch == 1 ? Double(loss) : 0.9 * runningLoss[i] + 0.1 * Double(loss)
        }
        let done = report.stepInEpoch
        let losses = zip(tasks, runningLoss).map { "\($0) \(fixed($1, 3))" }.joined(separator: "  ")
        let rate = samplesPerSecond
        if isTerminal {
            let width = 24, filled = min(width, width * done / max(stepsPerEpoch, 1))
            let remaining = rate > 0 ? Double((stepsPerEpoch - done) * batchSize) / rate : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = "epoch \(report.epoch + 1)/\(epochs) \(bar) \(done)/\(stepsPerEpoch)  \(losses)  \(fixed(rate, 0)) samples/s  \(clock(remaining)) left"
            let text = "\r\u{1b}[2K" + line
            _ = text.withCString { write(1, $0, strlen($0)) }
        } else if done % max(1, stepsPerEpoch / 5) == 0 || done == stepsPerEpoch {
            say("epoch \(report.epoch + 1) step \(done)/\(stepsPerEpoch)  \(losses)  \(fixed(rate, 0)) samples/s")
        }
    }

    func endEpoch(_ report: EpochReport) {
        if isTerminal { say("") }
        stepsThisEpoch = 0
        var line = "epoch \(report.epoch + 1): train loss " + zip(tasks, report.trainLosses).map { "\($0) \(fixed(Double($1), 4))" }.joined(separator: ", ")
        if let deltaM = report.deltaM { line += ", Δm \(fixed(100 * deltaM, 2))%" }
        if report.isBest { line += " (best so far)" }
        say(line)
        if let validation = report.validation { say(Self.metricsTable(validation)) }
    }

    static func metricsTable(_ result: EvaluationResult) -> String {
        let names = result.tasks.flatMap { $0.metrics.map(\.name) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let rows = result.tasks.map { task in
            [task.task, fixed(task.loss, 4)] + names.map { name in task[name].map { fixed($0, 4) } ?? "" }
        }
        return table(["task", "loss"] + names, rows)
    }

    func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        let s = Int(seconds)
        return "\(s / 60):" + (s % 60 < 10 ? "0" : "") + "\(s % 60)"
    }
}
