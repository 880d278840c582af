/// Elementwise ops: shape rules (NumPy broadcasting) and gradients. Devices implement
/// `Primitives.unary`, `binary` and `select` (`TandemCPU/CPUElementwise.swift`, `Kernels/elementwise.cl`).
extension Tensor {
    /// Applies a unary primitive; `gradient(x, y, g)` gives the input gradient from the output's.
    func unary(_ op: UnaryOp, scalar: Float = 0, gradient: ((Tensor, Tensor, Tensor) throws -> Tensor)?) throws -> Tensor {
        let y = try Tensor.empty(shape, on: device, op: .unary(op))
        try device.unary(op, storage, y.storage, count: count, scalar: scalar)
        guard let gradient else { return y }
        return record(y, op: .unary(op), inputs: [self]) { g in [try gradient(self, y, g)] }
    }

    public func neg() throws -> Tensor { try unary(.neg) { _, _, g in try g.neg() } }
    public func exp() throws -> Tensor { try unary(.exp) { _, y, g in try g * y } }
    public func log() throws -> Tensor { try unary(.log) { x, _, g in try g / x } }
    public func sqrt() throws -> Tensor { try unary(.sqrt) { _, y, g in try g * 0.5 / y } }
    public func relu() throws -> Tensor { try unary(.relu) { x, _, g in try Tensor.binary(.gate, g, x, gradient: nil) } }
    public func sigmoid() throws -> Tensor { try unary(.sigmoid) { _, y, g in try g * y * (1 - y) } }
    public func tanh() throws -> Tensor { try unary(.tanh) { _, y, g in try g * (1 - y.square()) } }
    /// log(1 + eˣ), a smooth ReLU; its derivative is sigmoid(x).
    public func softplus() throws -> Tensor { try unary(.softplus) { x, _, g in try g * x.sigmoid() } }
    public func abs() throws -> Tensor { try unary(.abs) { x, _, g in try g * x.sign() } }
    public func square() throws -> Tensor { try unary(.square) { x, _, g in try g * x * 2 } }
    public func reciprocal() throws -> Tensor { try unary(.reciprocal) { _, y, g in try (g * y.square()).neg() } }
    /// `x^p` for a scalar exponent.
    public func pow(_ p: Float) throws -> Tensor {
        try unary(.pow, scalar: p) { x, _, g in try g * x.pow(p - 1) * p }
    }
    /// `max(x, low)`: gradient passes where x > low.
    public func clamp(min low: Float) throws -> Tensor { try unary(.maxScalar, scalar: low) { x, _, g in try g * x.greater(low) } }
    /// `min(x, high)`: gradient passes where x < high.
    public func clamp(max high: Float) throws -> Tensor {
        try unary(.minScalar, scalar: high) { x, _, g in try g * x.neg().greater(-high) }
    }
    public func sign() throws -> Tensor { try unary(.sign, gradient: nil) }
    /// 1 where x > value, else 0 (no gradient).
    public func greater(_ value: Float) throws -> Tensor { try unary(.greaterScalar, scalar: value, gradient: nil) }
    /// 1 where x == value, else 0 (no gradient).
    public func equal(_ value: Float) throws -> Tensor { try unary(.equalScalar, scalar: value, gradient: nil) }
    /// 1 where x != value, else 0 (no gradient).
    public func notEqual(_ value: Float) throws -> Tensor { try unary(.notEqualScalar, scalar: value, gradient: nil) }
    /// 1 where x is NaN (missing labels), else 0.
    public func isNaN() throws -> Tensor { try unary(.isNaN, gradient: nil) }
    /// x with NaN replaced by `value`; no gradient flows to the replaced elements.
    public func replacingNaN(with value: Float) throws -> Tensor {
        try unary(.replaceNaN, scalar: value) { x, _, g in try g * (1 - x.isNaN()) }
    }

    public static prefix func - (x: Tensor) throws -> Tensor { try x.neg() }
    public static func + (x: Tensor, s: Float) throws -> Tensor { try x.unary(.addScalar, scalar: s) { _, _, g in g } }
    public static func + (s: Float, x: Tensor) throws -> Tensor { try x + s }
    public static func - (x: Tensor, s: Float) throws -> Tensor { try x + -s }
    public static func - (s: Float, x: Tensor) throws -> Tensor { try x.neg() + s }
    public static func * (x: Tensor, s: Float) throws -> Tensor { try x.unary(.mulScalar, scalar: s) { _, _, g in try g * s } }
    public static func * (s: Float, x: Tensor) throws -> Tensor { try x * s }
    public static func / (x: Tensor, s: Float) throws -> Tensor { try x * (1 / s) }
    public static func / (s: Float, x: Tensor) throws -> Tensor { try x.reciprocal() * s }

    // MARK: Binary

    /// Applies a binary primitive with broadcasting; `gradient(a, b, g)` gives both input gradients
    /// at the broadcast shape (they are summed back to each input's shape here).
    static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor,
                       gradient: ((Tensor, Tensor, Tensor) throws -> (Tensor?, Tensor?))?) throws -> Tensor {
        let name = "\(op)"
        try checkSameDevice(name, a, b)
        guard let shape = Shapes.broadcast(a.shape, b.shape) else {
            throw TandemError.invalidArgument(op: name, message: "shapes \(a.shape) and \(b.shape) do not broadcast (on \(a.device.info.selector))")
        }
        let y = try empty(shape, on: a.device, op: .binary(op))
        let layout = StridedLayout(shape: shape, strides: [Shapes.broadcastStrides(a.shape, to: shape),
                                                           Shapes.broadcastStrides(b.shape, to: shape)])
        try a.device.binary(op, a.storage, b.storage, y.storage, layout: layout)
        guard let gradient else { return y }
        return a.record(y, op: .binary(op), inputs: [a, b]) { g in
            let (ga, gb) = try gradient(a, b, g)
            return [try ga.map { try $0.sum(to: a.shape) }, try gb.map { try $0.sum(to: b.shape) }]
        }
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try binary(.add, a, b) { _, _, g in (g, g) } }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try binary(.sub, a, b) { _, _, g in (g, try g.neg()) } }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        try binary(.mul, a, b) { a, b, g in (a.requiresGrad ? try g * b : nil, b.requiresGrad ? try g * a : nil) }
    }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        try binary(.div, a, b) { a, b, g in
            (a.requiresGrad ? try g / b : nil, b.requiresGrad ? try (g * a / b.square()).neg() : nil)
        }
    }
    /// Elementwise maximum; on ties the gradient is split evenly.
    public func maximum(_ other: Tensor) throws -> Tensor {
        try Tensor.binary(.max, self, other) { a, b, g in
            let share = try Tensor.binary(.greater, a, b, gradient: nil) + Tensor.binary(.equal, a, b, gradient: nil) * 0.5
            return (try g * share, try g * (1 - share))
        }
    }
    /// Elementwise minimum; on ties the gradient is split evenly.
    public func minimum(_ other: Tensor) throws -> Tensor {
        try Tensor.binary(.min, self, other) { a, b, g in
            let share = try Tensor.binary(.greater, b, a, gradient: nil) + Tensor.binary(.equal, a, b, gradient: nil) * 0.5
            return (try g * share, try g * (1 - share))
        }
    }
    /// 1 where self > other (broadcast), else 0.
    public func greater(_ other: Tensor) throws -> Tensor { try Tensor.binary(.greater, self, other, gradient: nil) }
    /// 1 where self == other (broadcast), else 0.
    public func equal(_ other: Tensor) throws -> Tensor { try Tensor.binary(.equal, self, other, gradient: nil) }

    /// `condition != 0 ? a : b`, broadcasting all three. No gradient flows to the condition, and none
    /// reaches the branch not taken (NaN there stays out of the gradient).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try checkSameDevice("where", condition, a, b)
        guard let ab = Shapes.broadcast(a.shape, b.shape), let shape = Shapes.broadcast(condition.shape, ab) else {
            throw TandemError.invalidArgument(
                op: "where", message: "shapes \(condition.shape), \(a.shape) and \(b.shape) do not broadcast (on \(a.device.info.selector))")
        }
        let y = try empty(shape, on: a.device)
        let layout = StridedLayout(shape: shape, strides: [condition, a, b].map { Shapes.broadcastStrides($0.shape, to: shape) })
        try a.device.select(condition.storage, a.storage, b.storage, y.storage, layout: layout)
        return a.record(y, op: "where", inputs: [a, b]) { g in
            let zero = try Tensor.zeros([], on: g.device)
            return [a.requiresGrad ? try Tensor.where(condition, g, zero).sum(to: a.shape) : nil,
                    b.requiresGrad ? try Tensor.where(condition, zero, g).sum(to: b.shape) : nil]
        }
    }
}
