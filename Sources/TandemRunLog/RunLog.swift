import TandemCore
import TandemMTL
import TandemSupport

/// Writes a run's metrics while it trains into `directory`: metrics.jsonl, metrics.csv and a
/// TensorBoard event file, so that a run can be followed with `tail -f`, a spreadsheet or
/// `tensorboard --logdir DIR`, and read back when it is over.
///
/// Add it to `Trainer.callbacks`; call `logTest` with the test split's metrics at the end, and `close`
/// (or let it go). Every record is flushed when it is written.
///
/// - metrics.jsonl: one JSON object per line, its `kind` `"step"`, `"epoch"` or `"test"`:
///   `{"kind":"step","epoch":1,"step":120,"time":…,"lr":0.001,"loss":{"left":0.71,"right":0.69}}`
///   (with `"sampled_task"` under task sampling),
///   `{"kind":"epoch","epoch":1,"step":…,"time":…,"train_loss":{…},"val":{"left":{"loss":…,"accuracy":…}},"weights":[…],"delta_m":…,"score":…,"best":true,"system":{…}}`
///   (`val`, `delta_m` and `score` null when absent; `system`: the epoch's training steps per second,
///   the resident set and the device's tensor and pool bytes at its end, for spotting leaks), and
///   `{"kind":"test","epoch":…,"step":…,"time":…,"test":{"left":{"loss":…,"accuracy":…}}}`.
///   Non-finite values are written as null.
/// - metrics.csv: the same values in long format, `kind,epoch,step,tag,value`, one row per value.
/// - `events.out.tfevents.<seconds>.<host>`: scalar summaries at each record's step.
///
/// Tags (CSV and TensorBoard): `train/batch_loss/<task>` and `lr` every `everySteps` steps (the step's
/// batch losses); `train/loss/<task>` (the epoch's mean training loss), `val/loss/<task>`,
/// `val/<metric>/<task>`, `weights/<task>`, `delta_m` and `system/…` after each epoch; `test/loss/<task>` and
/// `test/<metric>/<task>` from `logTest`. The epoch-level training and validation losses share
/// their steps, so TensorBoard draws them over the same points.
///
/// Epochs are numbered from 1, as the CLI prints them (the trainer's reports count from 0). Files
/// that exist in `directory` are appended to (a resumed run continues its log; the CSV header is
/// written only into an empty file); each RunLog starts a new event file, and TensorBoard merges
/// the event files of a directory.
public final class RunLog: TrainerCallback {
    /// The directory the files are written into.
    public let directory: String
    /// The task names, in the trainer's task order (the keys of per-task values).
    public let tasks: [String]
    /// Steps between step records; 0 writes epoch and test records only.
    public let everySteps: Int
    /// The TensorBoard event file's path.
    public var eventFilePath: String { events.path }

    private let jsonl: LogFile
    private let csv: LogFile
    private let events: EventFileWriter
    /// The latest step reported, for epoch records (the trainer's own count when larger).
    private var lastStep = 0
    /// The latest epoch recorded (1-based), for test records.
    private var lastEpoch: Int?
    /// When the current epoch's training began (the log's creation, then each epoch record) and the
    /// step count then; the time of the latest step. They give the epoch's training speed.
    private var epochStart: (time: Double, step: Int)
    private var lastStepTime: Double

    /// Creates the directory (and parents) when missing and opens the three files; throws a
    /// `RunLogError` naming the path and the operating system's reason when it cannot be created or
    /// written, and when `tasks` is empty or names a task twice, or `everySteps` is negative.
    public init(directory: String, tasks: [String], everySteps: Int = 10) throws {
        guard everySteps >= 0 else {
            throw RunLogError(path: directory, operation: "cannot log into", reason: "everySteps is \(everySteps); it must be 0 (no step records) or more")
        }
        guard !tasks.isEmpty, Set(tasks).count == tasks.count else {
            throw RunLogError(path: directory, operation: "cannot log into",
                              reason: "the task names \(tasks) must be one or more, each once")
        }
        self.directory = directory
        self.tasks = tasks
        self.everySteps = everySteps
        try LogFile.makeDirectories(directory)
        jsonl = try LogFile(appendingTo: "\(directory)/metrics.jsonl")
        csv = try LogFile(appendingTo: "\(directory)/metrics.csv")
        if csv.isEmpty { try csv.write("kind,epoch,step,tag,value\n") }
        events = try EventFileWriter(directory: directory)
        let now = LogFile.wallTime()
        epochStart = (now, 0)
        lastStepTime = now
    }

    deinit { close() }

    /// Every `everySteps` steps: each task's loss on the step's batch and the learning rate.
    public func trainer(_ trainer: Trainer, didStep report: StepReport) throws {
        if report.step > lastStep { lastStepTime = LogFile.wallTime() }
        lastStep = max(lastStep, report.step)
        guard everySteps > 0, report.step % everySteps == 0 else { return }
        try expect(report.losses.count, "losses", at: "step \(report.step)")
        var scalars = zip(tasks, report.losses).map { Self.scalar("train/batch_loss/\($0)", $1) }
        scalars.append(Self.scalar("lr", report.learningRate))
        var fields: [(String, JSON)] = [
            ("lr", .float(report.learningRate)), ("loss", .object(zip(tasks, report.losses).map { ($0, .float($1)) })),
        ]
        if let sampled = report.sampledTask, tasks.indices.contains(sampled) {
            fields.append(("sampled_task", .string(tasks[sampled])))
        }
        try write(kind: "step", epoch: report.epoch + 1, step: report.step, fields: fields, scalars: scalars)
    }

    /// After each epoch: each task's mean training loss, validation loss and metrics, the task
    /// weights and Δm.
    public func trainer(_ trainer: Trainer, didEndEpoch report: EpochReport) throws {
        let epoch = report.epoch + 1
        let step = max(lastStep, trainer.step)
        try expect(report.trainLosses.count, "training losses", at: "epoch \(epoch)")
        var scalars = zip(tasks, report.trainLosses).map { Self.scalar("train/loss/\($0)", $1) }
        if let validation = report.validation { scalars += Self.scalars(validation, split: "val") }
        scalars += report.weights.enumerated().map { Self.scalar("weights/\(weightName($0))", $1) }
        if let deltaM = report.deltaM { scalars.append(Self.scalar("delta_m", deltaM)) }
        let fields: [(String, JSON)] = [
            ("train_loss", .object(zip(tasks, report.trainLosses).map { ($0, .float($1)) })),
            ("val", report.validation.map(Self.json) ?? .null),
            ("weights", .array(report.weights.map { .float($0) })),
            ("delta_m", report.deltaM.map { .number($0) } ?? .null),
            ("score", report.score.map { .number($0) } ?? .null),
            ("best", .bool(report.isBest)),
            ("system", systemRecord(trainer, step: step, scalars: &scalars)),
        ]
        lastEpoch = epoch
        try write(kind: "epoch", epoch: epoch, step: step, fields: fields, scalars: scalars)
        epochStart = (LogFile.wallTime(), step)
    }

    /// The epoch's training speed and the memory held at its end, which a long run watches for
    /// slowdowns and leaks: `{"steps_per_second":…,"resident_bytes":…,"device_bytes_in_use":…,
    /// "device_bytes_cached":…}` (the process's resident set, and the tensors alive on the trainer's
    /// device and the blocks its buffer pool keeps for reuse); also the scalars
    /// `system/steps_per_second`, `system/resident_mib` and `system/device_in_use_mib`.
    private func systemRecord(_ trainer: Trainer, step: Int, scalars: inout [Scalar]) -> JSON {
        let steps = step - epochStart.step, seconds = lastStepTime - epochStart.time
        let speed: Double? = steps > 0 && seconds > 0 ? Double(steps) / seconds : nil
        let resident = System.residentMemory()?.current
        let pool = trainer.device.poolStatistics
        let mebibyte = 1024.0 * 1024.0
        if let speed { scalars.append(Self.scalar("system/steps_per_second", speed)) }
        if let resident { scalars.append(Self.scalar("system/resident_mib", Double(resident) / mebibyte)) }
        scalars.append(Self.scalar("system/device_in_use_mib", Double(pool.bytesInUse) / mebibyte))
        return .object([
            ("steps_per_second", speed.map { .number($0) } ?? .null),
            ("resident_bytes", resident.map { .int($0) } ?? .null),
            ("device_bytes_in_use", .int(pool.bytesInUse)),
            ("device_bytes_cached", .int(pool.bytesCached)),
        ])
    }

    /// Final test-split metrics (evaluated once at the end), logged at `step` under
    /// `test/loss/<task>` and `test/<metric>/<task>`.
    public func logTest(_ result: EvaluationResult, step: Int) throws {
        try write(kind: "test", epoch: lastEpoch, step: step, fields: [("test", Self.json(result))],
                  scalars: Self.scalars(result, split: "test"))
    }

    /// Flushes and closes the files (also done when the log is released); later records throw.
    public func close() {
        jsonl.close()
        csv.close()
        events.close()
    }

    // MARK: Writing

    /// Writes one record to the three files: in JSON its kind, epoch, step and time, then `fields`;
    /// in the CSV and the event file, `scalars`.
    private func write(kind: String, epoch: Int?, step: Int, fields: [(String, JSON)], scalars: [Scalar]) throws {
        let record: [(String, JSON)] = [
            ("kind", .string(kind)), ("epoch", epoch.map { .int($0) } ?? .null), ("step", .int(step)),
            ("time", .number(LogFile.wallTime())),
        ]
        try jsonl.write(JSON.object(record + fields).compact() + "\n")
        let prefix = "\(kind),\(epoch.map(String.init) ?? ""),\(step),"
        try csv.write(scalars.map { prefix + Self.csvField($0.tag) + ",\($0.text)\n" }.joined())
        try events.write(step: step, scalars: scalars.map { (tag: $0.tag, value: $0.value) })
    }

    /// Throws unless a report's per-task list has one value per task.
    private func expect(_ count: Int, _ what: String, at place: String) throws {
        guard count == tasks.count else {
            throw RunLogError(path: directory, operation: "cannot log \(place) into",
                              reason: "the report has \(count) \(what) for the \(tasks.count) tasks \(tasks)")
        }
    }

    /// The name of weight `index`: its task's name, or the index when there are more weights than tasks.
    private func weightName(_ index: Int) -> String { tasks.indices.contains(index) ? tasks[index] : "\(index)" }

    /// `<split>/loss/<task>` and `<split>/<metric>/<task>` for each task of `result`.
    private static func scalars(_ result: EvaluationResult, split: String) -> [Scalar] {
        result.tasks.flatMap { task in
            [scalar("\(split)/loss/\(task.task)", task.loss)]
                + task.metrics.map { scalar("\(split)/\($0.name)/\(task.task)", $0.value) }
        }
    }

    /// A tagged value: as TensorBoard stores it (float32) and as the CSV writes it (the shortest
    /// decimal form of the value as it was computed, so a Float loss reads 0.71, not 0.7099999785…).
    private typealias Scalar = (tag: String, value: Float, text: String)

    private static func scalar(_ tag: String, _ value: Float) -> Scalar { (tag, value, "\(value)") }

    private static func scalar(_ tag: String, _ value: Double) -> Scalar { (tag, Float(value), "\(value)") }

    /// `{"<task>": {"loss": …, "<metric>": …}, …}`.
    private static func json(_ result: EvaluationResult) -> JSON {
        .object(result.tasks.map { task in
            (task.task, .object([("loss", .number(task.loss))] + task.metrics.map { ($0.name, .number($0.value)) }))
        })
    }

    /// `text` as one CSV field: quoted (with doubled quotes) when it holds a comma, a quote or a line break.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacing("\"", with: "\"\"") + "\""
    }
}
