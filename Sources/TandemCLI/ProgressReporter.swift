import Tandem

#if canImport(Glibc)
import Glibc
#endif

/// Training output: on a terminal one progress line that fits the terminal's width (epoch, a bar,
/// steps, per-task loss, samples/s and the time left for the whole run) and a table per epoch;
/// plain lines when standard output is not a terminal.
final class ProgressReporter {
    let tasks: [String]
    let stepsPerEpoch: Int
    let batchSize: Int
    let epochs: Int
    let isTerminal = isatty(1) != 0
    private var trainingSeconds = 0.0
    private var trainedSamples = 0
    private var stepsTimed = 0
    private var lastStep = Bench.now()
    private var runningLoss: [Double] = []
    private var stepsThisEpoch = 0

    /// Prints nothing (replicas other than rank 0).
    let silent: Bool

    init(tasks: [String], stepsPerEpoch: Int, batchSize: Int, epochs: Int, silent: Bool = false) {
        self.silent = silent
        self.tasks = tasks
        self.stepsPerEpoch = stepsPerEpoch
        self.batchSize = batchSize
        self.epochs = epochs
        runningLoss = tasks.map { _ in 0 }
    }

    /// Mean training throughput so far (validation excluded).
    var samplesPerSecond: Double { trainingSeconds > 0 ? Double(trainedSamples) / trainingSeconds : 0 }

    /// The terminal's width in columns (80 when it cannot be read).
    static func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 20 else { return 80 }
        return Int(size.ws_col)
    }

    func step(_ report: StepReport) {
        let now = Bench.now()
        if stepsThisEpoch > 0 {
            // The first step of each epoch waits for data and compiles; it is not timed.
            trainingSeconds += now - lastStep
            trainedSamples += batchSize
            stepsTimed += 1
        }
        lastStep = now
        stepsThisEpoch += 1
        for (i, loss) in report.losses.enumerated() where i < runningLoss.count && loss.isFinite {
            runningLoss[i] = stepsThisEpoch == 1 ? Double(loss) : 0.9 * runningLoss[i] + 0.1 * Double(loss)
        }
        let done = report.stepInEpoch
        let totalSteps = epochs * stepsPerEpoch
        let remainingSteps = Swift.max(0, totalSteps - (report.epoch * stepsPerEpoch + done))
        let secondsPerStep = stepsTimed > 0 ? trainingSeconds / Double(stepsTimed) : 0
        let left = stepsTimed > 0 ? clock(Double(remainingSteps) * secondsPerStep) : "-"
        let rate = "\(fixed(samplesPerSecond, 0))/s"
        if isTerminal {
            print(line(epoch: report.epoch, done: done, rate: rate, left: left, columns: Self.terminalColumns()))
        } else if done % max(1, stepsPerEpoch / 5) == 0 || done == stepsPerEpoch {
            let losses = zip(tasks, runningLoss).map { "\($0) \(fixed($1, 3))" }.joined(separator: "  ")
            say("epoch \(report.epoch + 1) step \(done)/\(stepsPerEpoch)  \(losses)  \(fixed(samplesPerSecond, 0)) samples/s  \(left) left")
        }
    }

    /// The progress line, at most `columns - 1` characters: the bar shrinks first, then task names
    /// are shortened, then the losses are left out.
    func line(epoch: Int, done: Int, rate: String, left: String, columns: Int) -> String {
        let head = "\(epoch + 1)/\(epochs) ", count = " \(done)/\(stepsPerEpoch)", tail = "  \(rate)  \(left) left"
        func losses(_ nameLength: Int?) -> String {
            zip(tasks, runningLoss).map { name, loss in
                let shown = nameLength.map { String(name.prefix($0)) } ?? name
                return "\(shown) \(fixed(loss, 3))"
            }.joined(separator: " ")
        }
        let budget = columns - 1
        for lossText in [losses(nil), losses(8), losses(4), losses(1), ""] {
            let fixedWidth = head.count + count.count + (lossText.isEmpty ? 0 : 2 + lossText.count) + tail.count
            let bar = Swift.min(24, budget - fixedWidth)
            if bar >= 4 || lossText.isEmpty {
                let width = Swift.max(0, bar)
                let filled = Swift.min(width, width * done / Swift.max(stepsPerEpoch, 1))
                let drawn = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                let text = head + drawn + count + (lossText.isEmpty ? "" : "  " + lossText) + tail
                return String(text.prefix(budget))
            }
        }
        return ""
    }

    /// Prints a line unless silent.
    func say(_ text: String = "") {
        if !silent { TandemCLI.say(text) }
    }

    func print(_ line: String) {
        guard speaksForJob, !silent else { return }
        let text = "\r\u{1b}[2K" + line
        _ = text.withCString { write(1, $0, strlen($0)) }
    }

    func endEpoch(_ report: EpochReport) {
        if isTerminal { say("") }
        stepsThisEpoch = 0
        var line = "epoch \(report.epoch + 1)/\(epochs): train loss " + zip(tasks, report.trainLosses).map { "\($0) \(fixed(Double($1), 4))" }.joined(separator: ", ")
        if let deltaM = report.deltaM { line += ", Δm \(fixed(100 * deltaM, 2))%" }
        if report.isBest { line += " (best so far)" }
        say(line)
        if let validation = report.validation { say(Self.metricsTable(validation)) }
    }

    static func metricsTable(_ result: EvaluationResult) -> String {
        let names = result.tasks.flatMap { $0.metrics.map(\.name) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let rows = result.tasks.map { task in
            [task.task + (task.auxiliary ? " (aux)" : ""), fixed(task.loss, 4)] + names.map { name in task[name].map { fixed($0, 4) } ?? "" }
        }
        return table(["task", "loss"] + names, rows)
    }

    func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        let s = Int(seconds)
        return "\(s / 60):" + (s % 60 < 10 ? "0" : "") + "\(s % 60)"
    }
}
