/// Training stopped because a number stopped being finite: a task's loss, or a parameter or buffer.
/// Names the step, the task (when a loss) and the first model tensor that holds a NaN or an infinity
/// (nil when every tensor is finite: the forward pass itself overflowed).
public struct TrainingAnomaly: Error, CustomStringConvertible, Sendable {
    /// The global step (1-based) at which it was found.
    public var step: Int
    /// The epoch (0-based).
    public var epoch: Int
    /// The task whose loss is not finite; nil when a tensor was found bad at an epoch's end.
    public var task: String?
    /// What was found ("loss is nan").
    public var what: String
    /// The first non-finite tensor of the model's state, with one of its bad values.
    public var firstBadTensor: (name: String, value: Float)?

    public var description: String {
        var text = "non-finite value at step \(step) (epoch \(epoch + 1))"
        if let task { text += ": task '\(task)' \(what)" } else { text += ": \(what)" }
        if let bad = firstBadTensor {
            text += "; first non-finite tensor: \(bad.name) (holds \(bad.value))"
        } else {
            text += "; every parameter is finite, so the forward pass overflowed"
        }
        return text + ". Lower the learning rate, clip gradients (--grad-clip), check the data for NaN, or skip such steps (--on-nan skip)."
    }
}
