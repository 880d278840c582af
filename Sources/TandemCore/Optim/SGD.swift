/// Stochastic gradient descent with PyTorch's semantics (`torch.optim.SGD`): L2 weight decay added
/// to the gradient, momentum buffer b = μ·b + (1 − dampening)·g (b = g on the first step), and
/// Nesterov's variant g + μ·b. Each step's updates go to a device as one batch (`sgdUpdates`).
public final class SGD: ResettableOptimizer {
    /// The parameters, grouped by their settings.
    public private(set) var parameterGroups: [ParameterGroup]
    /// The base learning rate.
    public var learningRate: Float
    /// Momentum factor μ (0 turns momentum off and allocates no state).
    public let momentum: Float
    /// Fraction of the gradient held back from the momentum buffer.
    public let dampening: Float
    /// L2 penalty coefficient, unless a group overrides it.
    public let weightDecay: Float
    /// Nesterov momentum.
    public let nesterov: Bool

    var momentumBuffers: [ObjectIdentifier: Buffer] = [:]  // Internal for OptimizerState.swift.

    /// Forgets the momentum of `parameters`.
    public func resetState(of parameters: [Tensor]) {
        for parameter in parameters { momentumBuffers[ObjectIdentifier(parameter)] = nil }
    }

    /// SGD over `groups`. Nesterov needs momentum > 0 and no dampening, as in PyTorch.
    public init(_ groups: [ParameterGroup], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) throws {
        guard learningRate >= 0, momentum >= 0, weightDecay >= 0 else {
            throw TandemError.invalidArgument(
                op: "SGD", message: "learning rate \(learningRate), momentum \(momentum) and weight decay \(weightDecay) must be non-negative")
        }
        guard !nesterov || (momentum > 0 && dampening == 0) else {
            throw TandemError.invalidArgument(op: "SGD", message: "Nesterov momentum needs momentum > 0 and dampening 0, got \(momentum) and \(dampening)")
        }
        try OptimizerChecks.validate(groups, op: "SGD")
        self.parameterGroups = groups
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    /// SGD over one group of `parameters`.
    public convenience init(_ parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                            weightDecay: Float = 0, nesterov: Bool = false) throws {
        try self.init([ParameterGroup(parameters)], learningRate: learningRate, momentum: momentum, dampening: dampening,
                      weightDecay: weightDecay, nesterov: nesterov)
    }

    /// One update of every parameter that has a gradient, in place on its device: the updates of
    /// each device go to it as one batch (`sgdUpdates`: one launch per eight tensors on OpenCL).
    public func step() throws {
        var batches = OptimizerChecks.DeviceBatches<SGDUpdate>()
        for group in parameterGroups {
            for parameter in group.parameters {
                guard let grad = try OptimizerChecks.gradient(of: parameter, op: "SGD.step") else { continue }
                let key = ObjectIdentifier(parameter)
                var first = false
                let buffer: Buffer
                if momentum == 0 {
                    buffer = grad.storage  // Not touched when momentum is off.
                } else if let existing = momentumBuffers[key] {
                    buffer = existing
                } else {
                    // Fully written on the first step (b = g), so no fill is needed.
                    buffer = try parameter.device.allocate(parameter.count)
                    momentumBuffers[key] = buffer
                    first = true
                }
                let step = SGDStep(lr: learningRate * group.learningRateMultiplier, momentum: momentum, dampening: dampening,
                                   weightDecay: group.weightDecay ?? weightDecay, nesterov: nesterov, first: first)
                batches.append(SGDUpdate(parameter: parameter.storage, gradient: grad.storage, momentum: buffer,
                                         count: parameter.count, step: step), on: parameter.device)
            }
        }
        for (device, updates) in batches.batches { try device.sgdUpdates(updates) }
    }
}
