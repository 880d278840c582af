import TandemCore

/// A [T, P] matrix that a gradient method carries on the device from one step to the next (DB-MTL's
/// moving averages, MoCo's tracked gradients, ExcessMTL's sums of squared gradients), and that a
/// checkpoint carries as host values. A restored copy waits on the host until the next step shows
/// the gradients' shape and device; its size is checked then.
struct CarriedMatrix {
    /// The checkpoint key (`db-mtl.averages`).
    let key: String
    /// What the matrix is, for error messages ("moving averages").
    let what: String
    /// The method, for error messages.
    let method: String
    /// The matrix of the last step, or nil before the first (and between a restore and the next step).
    private(set) var current: Tensor?
    private var pending: [Float]?

    init(key: String, what: String, method: String) {
        self.key = key
        self.what = what
        self.method = method
    }

    /// The matrix the last step left, for a step whose matrix is `shape` on `device`: a restored
    /// copy is uploaded here (an error when its size differs); a stored matrix of another shape
    /// counts as none.
    mutating func previous(shape: [Int], on device: any Device) throws -> Tensor? {
        if let values = pending {
            let count = shape.reduce(1, *)
            guard values.count == count else {
                throw TandemError.invalidArgument(op: method, message: "the restored \(what) hold \(values.count) values; the model's task gradients are \(shape)")
            }
            current = try Tensor(values, shape: shape, on: device)
            pending = nil
        }
        guard let current, current.shape == shape else { return nil }
        return current
    }

    /// Keeps `matrix` for the next step.
    mutating func store(_ matrix: Tensor) { current = matrix }

    /// The values for a checkpoint (one download), or nil before the first step.
    var hostValues: [Float]? {
        if let current, let values = try? current.values() { return values }
        return pending
    }

    /// The values `state` holds under `key` (nil when absent); an error when any is not finite.
    func validated(_ state: [String: [Float]]) throws -> [Float]? {
        guard let values = state[key] else { return nil }
        guard values.allSatisfy(\.isFinite) else {
            throw TandemError.invalidArgument(op: method, message: "'\(key)' holds values that are not finite")
        }
        return values
    }

    /// Replaces the matrix with restored values (from `validated`), uploaded at the next step.
    mutating func restore(_ values: [Float]?) {
        current = nil
        pending = values
    }
}
