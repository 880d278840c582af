#if canImport(Glibc)
import Glibc
#endif

/// A learning rate as a function of the step (or epoch: the caller decides what it counts).
/// Schedules are plain values; compose them (`withWarmup`) and apply one with
/// `optimizer.setLearningRate(schedule, at: step)`.
public protocol LearningRateSchedule: Sendable {
    /// The learning rate at `step` (0-based).
    func learningRate(at step: Int) -> Float
}

/// The same learning rate at every step.
public struct ConstantLearningRate: LearningRateSchedule {
    /// The learning rate.
    public var value: Float
    /// A constant schedule at `value`.
    public init(_ value: Float) { self.value = value }
    /// `value` at every step.
    public func learningRate(at step: Int) -> Float { value }
}

/// Step decay (`torch.optim.lr_scheduler.StepLR`): base · γ^⌊step / stepSize⌋.
public struct StepDecay: LearningRateSchedule {
    /// Learning rate before the first decay.
    public var base: Float
    /// Steps between decays.
    public var stepSize: Int
    /// Factor applied at each decay.
    public var gamma: Float

    /// Decays `base` by `gamma` every `stepSize` steps.
    public init(base: Float, stepSize: Int, gamma: Float = 0.1) {
        precondition(stepSize > 0, "StepDecay needs a positive step size")
        self.base = base
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func learningRate(at step: Int) -> Float {
        Float(Double(base) * Glibc.pow(Double(gamma), Double(Swift.max(step, 0) / stepSize)))
    }
}

/// Cosine annealing (`CosineAnnealingLR`'s closed form): from `base` at step 0 to `minimum` at
/// `totalSteps`, minimum + (base − minimum)·(1 + cos(π·step/totalSteps))/2; it stays at `minimum`
/// after `totalSteps` (no restart).
public struct CosineAnnealing: LearningRateSchedule {
    /// Learning rate at step 0.
    public var base: Float
    /// Steps to reach `minimum`.
    public var totalSteps: Int
    /// The final learning rate.
    public var minimum: Float

    /// Anneals from `base` to `minimum` over `totalSteps`.
    public init(base: Float, totalSteps: Int, minimum: Float = 0) {
        precondition(totalSteps > 0, "CosineAnnealing needs a positive number of steps")
        self.base = base
        self.totalSteps = totalSteps
        self.minimum = minimum
    }

    public func learningRate(at step: Int) -> Float {
        let t = Double(Swift.min(Swift.max(step, 0), totalSteps)) / Double(totalSteps)
        return Float(Double(minimum) + (Double(base) - Double(minimum)) * (1 + Glibc.cos(Double.pi * t)) / 2)
    }
}

/// Linear warm-up in front of another schedule: during the first `steps` steps the rate rises
/// linearly from `startFactor` times the wrapped schedule's first value to that value
/// (`LinearLR`); afterwards the wrapped schedule runs, shifted so that its step 0 follows the warm-up.
public struct LinearWarmup<Schedule: LearningRateSchedule>: LearningRateSchedule {
    /// Length of the warm-up.
    public var steps: Int
    /// Fraction of the target rate at step 0.
    public var startFactor: Float
    /// The schedule that follows the warm-up.
    public var schedule: Schedule

    /// Warms up linearly over `steps` steps into `schedule`.
    public init(steps: Int, startFactor: Float = 0, then schedule: Schedule) {
        precondition(steps >= 0, "LinearWarmup needs a non-negative number of steps")
        self.steps = steps
        self.startFactor = startFactor
        self.schedule = schedule
    }

    public func learningRate(at step: Int) -> Float {
        guard step < steps else { return schedule.learningRate(at: step - steps) }
        let fraction = Double(startFactor) + (1 - Double(startFactor)) * Double(Swift.max(step, 0)) / Double(steps)
        return Float(Double(schedule.learningRate(at: 0)) * fraction)
    }
}

extension LearningRateSchedule {
    /// This schedule after a linear warm-up of `steps` steps from `startFactor` times its first value.
    public func withWarmup(steps: Int, startFactor: Float = 0) -> LinearWarmup<Self> {
        LinearWarmup(steps: steps, startFactor: startFactor, then: self)
    }
}
