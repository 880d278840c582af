import TandemCore

/// What the trainer reports after each training step.
public struct StepReport: Sendable, Equatable {
    /// The epoch the step belongs to (0-based).
    public var epoch: Int
    /// Steps done so far, this one included.
    public var step: Int
    /// Steps done so far in this epoch, this one included.
    public var stepInEpoch: Int
    /// Each task's loss on the step's batch, before the update (one host read per step).
    public var losses: [Float]
    /// The task trained on this step under task sampling; nil when every task was.
    public var sampledTask: Int?
    /// The learning rate the step used.
    public var learningRate: Float
    /// Whether the update was skipped (a non-finite loss or gradient under `NonFinitePolicy.skip`).
    public var skipped: Bool

    /// A report of one step.
    public init(epoch: Int, step: Int, stepInEpoch: Int, losses: [Float], sampledTask: Int? = nil, learningRate: Float, skipped: Bool = false) {
        self.epoch = epoch
        self.step = step
        self.stepInEpoch = stepInEpoch
        self.losses = losses
        self.sampledTask = sampledTask
        self.learningRate = learningRate
        self.skipped = skipped
    }
}

/// What the trainer reports after each epoch.
public struct EpochReport: Sendable, Equatable {
    /// The epoch just finished (0-based).
    public var epoch: Int
    /// Each task's mean training loss over the epoch's steps.
    public var trainLosses: [Float]
    /// The validation metrics; nil without validation data.
    public var validation: EvaluationResult?
    /// Δm against the trainer's baselines; nil without baselines or validation.
    public var deltaM: Double?
    /// The score that selects the best epoch (Δm, or the normalised mean of main metrics); nil
    /// without validation.
    public var score: Double?
    /// Whether this epoch is the best so far.
    public var isBest: Bool
    /// The weighting method's task weights at the end of the epoch.
    public var weights: [Float]

    /// A report of one epoch.
    public init(epoch: Int, trainLosses: [Float], validation: EvaluationResult?, deltaM: Double?, score: Double?, isBest: Bool,
                weights: [Float]) {
        self.epoch = epoch
        self.trainLosses = trainLosses
        self.validation = validation
        self.deltaM = deltaM
        self.score = score
        self.isBest = isBest
        self.weights = weights
    }
}

/// Observes training, for logging, progress, checkpoints or early stopping (`trainer.requestStop()`).
/// Both methods have empty defaults.
public protocol TrainerCallback: AnyObject {
    /// Called after each step.
    func trainer(_ trainer: Trainer, didStep report: StepReport) throws
    /// Called after each epoch, after validation.
    func trainer(_ trainer: Trainer, didEndEpoch report: EpochReport) throws
}

extension TrainerCallback {
    public func trainer(_ trainer: Trainer, didStep report: StepReport) throws {}
    public func trainer(_ trainer: Trainer, didEndEpoch report: EpochReport) throws {}
}

/// A callback made of closures.
public final class ClosureCallback: TrainerCallback {
    private let onStep: ((Trainer, StepReport) throws -> Void)?
    private let onEpoch: ((Trainer, EpochReport) throws -> Void)?

    /// Calls `step` after each step and `epoch` after each epoch.
    public init(step: ((Trainer, StepReport) throws -> Void)? = nil, epoch: ((Trainer, EpochReport) throws -> Void)? = nil) {
        onStep = step
        onEpoch = epoch
    }

    public func trainer(_ trainer: Trainer, didStep report: StepReport) throws { try onStep?(trainer, report) }
    public func trainer(_ trainer: Trainer, didEndEpoch report: EpochReport) throws { try onEpoch?(trainer, report) }
}

/// Prints the step losses every `interval` steps and a summary after each epoch to standard output.
public final class PrintLogger: TrainerCallback {
    /// Steps between printed lines (0: epochs only).
    public let interval: Int

    /// A logger printing every `interval` steps.
    public init(every interval: Int = 50) { self.interval = interval }

    public func trainer(_ trainer: Trainer, didStep report: StepReport) throws {
        guard interval > 0, report.step % interval == 0 else { return }
        let losses = zip(trainer.model.tasks, report.losses).map { "\($0.name) \($1)" }.joined(separator: "  ")
        print("epoch \(report.epoch) step \(report.step)  \(losses)")
    }

    public func trainer(_ trainer: Trainer, didEndEpoch report: EpochReport) throws {
        var line = "epoch \(report.epoch) train " + zip(trainer.model.tasks, report.trainLosses).map { "\($0.name) \($1)" }.joined(separator: "  ")
        if let validation = report.validation {
            line += " | val " + validation.tasks.map { task in
                "\(task.task): " + task.metrics.map { "\($0.name) \($0.value)" }.joined(separator: " ")
            }.joined(separator: "; ")
        }
        if let deltaM = report.deltaM { line += " | Δm \(deltaM * 100)%" }
        if report.isBest { line += " (best)" }
        print(line)
    }
}

/// Saves a checkpoint of the trainer every `everySteps` steps and/or after every epoch, atomically
/// (a crash while saving leaves the previous checkpoint intact).
public final class CheckpointCallback: TrainerCallback {
    /// Where checkpoints go.
    public let path: String
    /// Steps between saves; nil saves only at epoch ends.
    public let everySteps: Int?
    /// Whether to save after each epoch.
    public let everyEpoch: Bool

    /// Saves to `path` every `everySteps` steps and, with `everyEpoch`, after each epoch.
    public init(path: String, everySteps: Int? = nil, everyEpoch: Bool = true) {
        self.path = path
        self.everySteps = everySteps
        self.everyEpoch = everyEpoch
    }

    public func trainer(_ trainer: Trainer, didStep report: StepReport) throws {
        guard let everySteps, everySteps > 0, report.step % everySteps == 0 else { return }
        try trainer.saveCheckpoint(to: path)
    }

    public func trainer(_ trainer: Trainer, didEndEpoch report: EpochReport) throws {
        if everyEpoch { try trainer.saveCheckpoint(to: path) }
    }
}
