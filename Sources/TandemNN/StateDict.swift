import TandemCore

/// A tensor's saved form: shape and row-major values on the host.
public struct SavedTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// A module that keeps host-side copies of some of its state tensors (Learning to Branch's schedule
/// counters) and must re-read them after `loadStateDict` wrote new values.
public protocol StateLoadObserver: AnyObject {
    /// Called after `loadStateDict` changed the module's tensors.
    func stateDidLoad()
}

extension Module {
    /// Every parameter and buffer, copied to the host, by state name.
    public func stateDict() throws -> [(String, SavedTensor)] {
        try namedTensors().map { ($0.0, SavedTensor(shape: $0.1.shape, values: try $0.1.values())) }
    }

    /// Loads `state` into this module's tensors (on whatever device they live). Every name must be
    /// present with the right shape, and no unknown name may appear; otherwise nothing is changed
    /// and the error lists what does not fit.
    public func loadStateDict(_ state: [String: SavedTensor], strict: Bool = true) throws {
        let own = namedTensors()
        var problems: [String] = []
        for (name, tensor) in own {
            guard let saved = state[name] else {
                if strict { problems.append("missing \(name) \(tensor.shape)") }
                continue
            }
            if saved.shape != tensor.shape || saved.values.count != tensor.count {
                problems.append("\(name): saved shape \(saved.shape), model has \(tensor.shape)")
            }
        }
        let known = Set(own.map(\.0))
        if strict {
            for name in state.keys.sorted() where !known.contains(name) { problems.append("unexpected \(name)") }
        }
        guard problems.isEmpty else {
            let shown = problems.prefix(8).joined(separator: "; ") + (problems.count > 8 ? "; and \(problems.count - 8) more" : "")
            throw TandemError.invalidArgument(op: "loadStateDict", message: "state does not fit \(type(of: self)): \(shown)")
        }
        for (name, tensor) in own {
            guard let saved = state[name] else { continue }
            try tensor.assign(try Tensor(saved.values, shape: saved.shape, on: tensor.device))
        }
        func notify(_ module: Module) {
            (module as? StateLoadObserver)?.stateDidLoad()
            for (_, child) in module.namedChildren() { notify(child) }
        }
        notify(self)
    }
}
