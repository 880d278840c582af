/// Parameters that share optimizer settings. The group's learning rate is the optimizer's times
/// `learningRateMultiplier` (for example a faster rate for cross-stitch α than for the columns).
public struct ParameterGroup {
    /// Leaf tensors updated in place by `step()`.
    public var parameters: [Tensor]
    /// Scales the optimizer's learning rate for this group.
    public var learningRateMultiplier: Float
    /// Overrides the optimizer's weight decay for this group when set (0 exempts biases, norms).
    public var weightDecay: Float?

    /// A group of `parameters` with its own learning-rate multiplier and, optionally, weight decay.
    public init(_ parameters: [Tensor], learningRateMultiplier: Float = 1, weightDecay: Float? = nil) {
        self.parameters = parameters
        self.learningRateMultiplier = learningRateMultiplier
        self.weightDecay = weightDecay
    }
}

/// Updates parameters from their gradients. Each update runs on the parameter's own device as one
/// fused kernel that rewrites the parameter's storage in place (no graph, no host transfer);
/// optimizer state (momentum, moments) lives in device buffers allocated on a parameter's first step.
public protocol Optimizer: AnyObject {
    /// The parameters, grouped by their settings.
    var parameterGroups: [ParameterGroup] { get }
    /// The base learning rate (set it from a `LearningRateSchedule` each step or epoch).
    var learningRate: Float { get set }
    /// Applies one update to every parameter that has a gradient; parameters without one are skipped.
    func step() throws
}

/// An optimizer whose per-parameter state (moments, momentum) can be forgotten, for parameters a
/// model has re-initialised.
public protocol ResettableOptimizer: Optimizer {
    /// Drops the state of `parameters`; their next step starts as their first.
    func resetState(of parameters: [Tensor])
}

extension Optimizer {
    /// Every parameter of every group.
    public var parameters: [Tensor] { parameterGroups.flatMap(\.parameters) }

    /// Clears every parameter's gradient (the next `backward()` then starts from zero).
    public func zeroGrad() {
        for parameter in parameters { parameter.grad = nil }
    }

    /// Sets the learning rate to `schedule`'s value at `step` (a step or an epoch, as the schedule counts).
    public func setLearningRate(_ schedule: some LearningRateSchedule, at step: Int) {
        learningRate = schedule.learningRate(at: step)
    }
}

/// Checks shared by the optimizers.
enum OptimizerChecks {
    /// Throws unless every parameter is a leaf, and no parameter appears twice.
    static func validate(_ groups: [ParameterGroup], op: String) throws {
        var seen = Set<ObjectIdentifier>()
        for parameter in groups.flatMap(\.parameters) {
            guard parameter.isLeaf else {
                throw TandemError.invalidArgument(
                    op: op, message: "parameter \(parameter.name ?? "") \(parameter) is not a leaf tensor; optimize the leaves it was computed from")
            }
            guard seen.insert(ObjectIdentifier(parameter)).inserted else {
                throw TandemError.invalidArgument(op: op, message: "parameter \(parameter.name ?? "") \(parameter) appears twice")
            }
        }
    }

    /// The gradient of `parameter` ready for a fused update, or nil when it has none.
    static func gradient(of parameter: Tensor, op: String) throws -> Tensor? {
        guard let grad = parameter.grad else { return nil }
        guard grad.shape == parameter.shape, grad.device === parameter.device else {
            throw TandemError.invalidArgument(
                op: op, message: "gradient \(grad) does not match parameter \(parameter.name ?? "") \(parameter)")
        }
        return grad
    }

    /// A device buffer of `count` zeros.
    static func zeros(_ count: Int, on device: any Device) throws -> Buffer {
        let buffer = try device.allocate(count)
        try device.fill(buffer, value: 0, offset: 0, count: count)
        return buffer
    }

    /// Updates gathered per device, in the order their devices first appear.
    struct DeviceBatches<Update> {
        private(set) var batches: [(device: any Device, updates: [Update])] = []

        mutating func append(_ update: Update, on device: any Device) {
            if let index = batches.firstIndex(where: { $0.device === device }) {
                batches[index].updates.append(update)
            } else {
                batches.append((device, [update]))
            }
        }
    }
}
