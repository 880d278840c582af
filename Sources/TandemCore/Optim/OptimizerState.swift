/// An optimizer's state on the host, for checkpoints: the per-parameter buffers (SGD's momentum,
/// Adam's m and v) and step counts, keyed by the parameter's index in `optimizer.parameters` (groups
/// flattened in order), plus the current learning rate. Parameters that have not been updated yet
/// have no entry, exactly as inside the optimizer.
public struct OptimizerState: Sendable, Equatable {
    /// One state buffer of one parameter.
    public struct Slot: Sendable, Equatable {
        /// Index of the parameter in `optimizer.parameters`.
        public var parameter: Int
        /// Buffer name: `momentum` (SGD), `m` or `v` (Adam, AdamW).
        public var name: String
        /// The buffer's values, one per parameter element, row-major.
        public var values: [Float]

        /// The buffer `name` of parameter `parameter`.
        public init(parameter: Int, name: String, values: [Float]) {
            self.parameter = parameter
            self.name = name
            self.values = values
        }
    }

    /// The optimizer: `SGD`, `Adam` or `AdamW`.
    public var kind: String
    /// The learning rate when the state was taken.
    public var learningRate: Float
    /// Shapes of every parameter, in `optimizer.parameters` order (to check a state fits).
    public var parameterShapes: [[Int]]
    /// State buffers, ordered by parameter index and then name.
    public var slots: [Slot]
    /// Per-parameter step counts (Adam's bias correction); empty for SGD.
    public var steps: [Int: Int]

    /// A state of `kind` with the given contents.
    public init(kind: String, learningRate: Float, parameterShapes: [[Int]], slots: [Slot], steps: [Int: Int] = [:]) {
        self.kind = kind
        self.learningRate = learningRate
        self.parameterShapes = parameterShapes
        self.slots = slots
        self.steps = steps
    }
}

/// An optimizer whose state can be saved and restored exactly (for checkpoints and resuming).
public protocol StatefulOptimizer: Optimizer {
    /// Copies the state to the host (one download per buffer).
    func exportState() throws -> OptimizerState
    /// Throws, naming what does not fit, unless `state` can be imported into this optimizer.
    func validateState(_ state: OptimizerState) throws
    /// Replaces the whole state with `state` (after `validateState`; on an error nothing changes).
    func importState(_ state: OptimizerState) throws
}

extension StatefulOptimizer {
    /// Common checks: the kind and every parameter's shape, and each slot's index, name and size.
    func checkState(_ state: OptimizerState, kind: String, names: Set<String>) throws {
        let parameters = self.parameters
        var problems: [String] = []
        if state.kind != kind { problems.append("state of \(state.kind), optimizer is \(kind)") }
        let shapes = parameters.map(\.shape)
        if state.parameterShapes != shapes {
            if state.parameterShapes.count != shapes.count {
                problems.append("state for \(state.parameterShapes.count) parameters, optimizer has \(shapes.count)")
            } else if let i = shapes.indices.first(where: { shapes[$0] != state.parameterShapes[$0] }) {
                problems.append("parameter \(i) has shape \(shapes[i]) but the state's is \(state.parameterShapes[i])")
            }
        }
        var seen = Set<String>()
        for slot in state.slots {
            guard parameters.indices.contains(slot.parameter) else {
                problems.append("slot \(slot.name) of parameter \(slot.parameter), optimizer has \(parameters.count)")
                continue
            }
            if !names.contains(slot.name) { problems.append("unknown slot '\(slot.name)' for \(kind)") }
            if !seen.insert("\(slot.parameter).\(slot.name)").inserted { problems.append("slot \(slot.parameter).\(slot.name) twice") }
            if slot.values.count != parameters[slot.parameter].count {
                problems.append("slot \(slot.parameter).\(slot.name) has \(slot.values.count) values for a parameter of \(parameters[slot.parameter].count)")
            }
        }
        guard problems.isEmpty else {
            throw TandemError.invalidArgument(op: "\(kind).importState", message: problems.prefix(6).joined(separator: "; "))
        }
    }
}

extension SGD: StatefulOptimizer {
    public func exportState() throws -> OptimizerState {
        let parameters = self.parameters
        var slots: [OptimizerState.Slot] = []
        for (i, parameter) in parameters.enumerated() {
            guard let buffer = momentumBuffers[ObjectIdentifier(parameter)] else { continue }
            slots.append(.init(parameter: i, name: "momentum", values: try parameter.device.download(buffer, offset: 0, count: parameter.count)))
        }
        return OptimizerState(kind: "SGD", learningRate: learningRate, parameterShapes: parameters.map(\.shape), slots: slots)
    }

    public func validateState(_ state: OptimizerState) throws {
        try checkState(state, kind: "SGD", names: momentum == 0 ? [] : ["momentum"])
        guard state.steps.isEmpty else {
            throw TandemError.invalidArgument(op: "SGD.importState", message: "SGD keeps no step counts, the state has \(state.steps.count)")
        }
    }

    public func importState(_ state: OptimizerState) throws {
        try validateState(state)
        let parameters = self.parameters
        var buffers: [ObjectIdentifier: Buffer] = [:]
        for slot in state.slots {
            let parameter = parameters[slot.parameter]
            buffers[ObjectIdentifier(parameter)] = try parameter.device.buffer(slot.values)
        }
        momentumBuffers = buffers
        learningRate = state.learningRate
    }
}

extension Adam: StatefulOptimizer {
    /// `Adam` or `AdamW`.
    var stateKind: String { decoupled ? "AdamW" : "Adam" }

    public func exportState() throws -> OptimizerState {
        let parameters = self.parameters
        var slots: [OptimizerState.Slot] = []
        var steps: [Int: Int] = [:]
        for (i, parameter) in parameters.enumerated() {
            guard let state = states[ObjectIdentifier(parameter)] else { continue }
            slots.append(.init(parameter: i, name: "m", values: try parameter.device.download(state.m, offset: 0, count: parameter.count)))
            slots.append(.init(parameter: i, name: "v", values: try parameter.device.download(state.v, offset: 0, count: parameter.count)))
            steps[i] = state.step
        }
        return OptimizerState(kind: stateKind, learningRate: learningRate, parameterShapes: parameters.map(\.shape), slots: slots, steps: steps)
    }

    public func validateState(_ state: OptimizerState) throws {
        try checkState(state, kind: stateKind, names: ["m", "v"])
        let withM = Set(state.slots.filter { $0.name == "m" }.map(\.parameter))
        let withV = Set(state.slots.filter { $0.name == "v" }.map(\.parameter))
        guard withM == withV, withM == Set(state.steps.keys), state.steps.values.allSatisfy({ $0 >= 1 }) else {
            throw TandemError.invalidArgument(
                op: "\(stateKind).importState",
                message: "every parameter with state needs m, v and a step count ≥ 1 (m for \(withM.sorted()), v for \(withV.sorted()), steps for \(state.steps.keys.sorted()))")
        }
    }

    public func importState(_ state: OptimizerState) throws {
        try validateState(state)
        let parameters = self.parameters
        var m: [Int: Buffer] = [:], v: [Int: Buffer] = [:]
        for slot in state.slots {
            let buffer = try parameters[slot.parameter].device.buffer(slot.values)
            if slot.name == "m" { m[slot.parameter] = buffer } else { v[slot.parameter] = buffer }
        }
        var fresh: [ObjectIdentifier: State] = [:]
        for (i, step) in state.steps {
            guard let mi = m[i], let vi = v[i] else { continue }  // Checked by validateState.
            fresh[ObjectIdentifier(parameters[i])] = State(m: mi, v: vi, step: step)
        }
        states = fresh
        learningRate = state.learningRate
    }
}
