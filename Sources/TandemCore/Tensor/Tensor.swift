/// A float32 tensor: a shape, a device and a contiguous row-major buffer on that device.
///
/// Operations on tensors that require a gradient record a graph node (define-by-run), so that
/// `backward()` on a scalar result fills `grad` of every leaf that asked for one. A tensor's buffer
/// returns to its device's pool when the last reference goes.
public final class Tensor {
    public let shape: [Int]
    public let device: any Device
    /// The elements, row-major, starting at element 0.
    public let storage: Buffer
    /// Whether gradients flow to (and through) this tensor.
    public private(set) var requiresGrad: Bool
    /// The accumulated gradient of a leaf after `backward()`.
    public var grad: Tensor?
    /// How this tensor was computed, when it is part of a graph.
    let node: Node?
    /// A name for error messages and state dictionaries.
    public var name: String?

    init(shape: [Int], device: any Device, storage: Buffer, node: Node? = nil, requiresGrad: Bool = false) {
        self.shape = shape
        self.device = device
        self.storage = storage
        self.node = node
        self.requiresGrad = requiresGrad || node != nil
    }

    public var count: Int { Shapes.count(shape) }
    public var rank: Int { shape.count }
    /// A leaf is a tensor not computed by a recorded op (inputs, parameters).
    public var isLeaf: Bool { node == nil }

    /// A tensor with uninitialised contents: every op fully overwrites its output.
    static func empty(_ shape: [Int], on device: any Device) throws -> Tensor {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw TandemError.invalidArgument(op: "tensor", message: "negative dimension in shape \(shape)")
        }
        let t = Tensor(shape: shape, device: device, storage: try device.allocate(Shapes.count(shape)))
        if Poisoning.isEnabled { try device.fill(t.storage, value: .nan, offset: 0, count: t.count) }
        return t
    }

    // MARK: Making tensors

    /// A tensor of `shape` holding `values` (row-major) on `device`.
    public convenience init(_ values: [Float], shape: [Int], on device: any Device, requiresGrad: Bool = false) throws {
        guard shape.allSatisfy({ $0 >= 0 }), Shapes.count(shape) == values.count else {
            throw TandemError.invalidArgument(
                op: "tensor", message: "\(values.count) values do not fill shape \(shape) on \(device.info.selector)")
        }
        self.init(shape: shape, device: device, storage: try device.buffer(values), requiresGrad: requiresGrad)
    }

    /// A tensor of `shape` with every element `value`.
    public static func full(_ shape: [Int], _ value: Float, on device: any Device, requiresGrad: Bool = false) throws -> Tensor {
        let t = try empty(shape, on: device)
        try device.fill(t.storage, value: value, offset: 0, count: t.count)
        t.requiresGrad = requiresGrad
        return t
    }

    public static func zeros(_ shape: [Int], on device: any Device, requiresGrad: Bool = false) throws -> Tensor {
        try full(shape, 0, on: device, requiresGrad: requiresGrad)
    }

    public static func ones(_ shape: [Int], on device: any Device, requiresGrad: Bool = false) throws -> Tensor {
        try full(shape, 1, on: device, requiresGrad: requiresGrad)
    }

    /// Uniform in [low, high), from the device's counter-based stream: the same `seed` gives the
    /// same numbers on every device.
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, seed: UInt64, on device: any Device,
                               requiresGrad: Bool = false) throws -> Tensor {
        let t = try empty(shape, on: device)
        try device.uniform(t.storage, count: t.count, seed: seed, offset: 0)
        if low != 0 || high != 1 {
            try device.unary(.mulScalar, t.storage, t.storage, count: t.count, scalar: high - low)
            try device.unary(.addScalar, t.storage, t.storage, count: t.count, scalar: low)
        }
        t.requiresGrad = requiresGrad
        return t
    }

    /// Marks a leaf as needing a gradient (for parameters); returns self.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        precondition(isLeaf, "only leaves can change requiresGrad")
        requiresGrad = flag
        return self
    }

    // MARK: Reading and moving

    /// All elements, row-major. Waits for queued work on the device.
    public func values() throws -> [Float] { try device.download(storage, offset: 0, count: count) }

    /// The single element of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else {
            throw TandemError.invalidArgument(op: "item", message: "tensor of shape \(shape) has \(count) elements, not 1")
        }
        return try values()[0]
    }

    /// This tensor on `target` (self when already there). Gradients flow back across the move.
    public func to(_ target: any Device) throws -> Tensor {
        if target === device { return self }
        let moved = Tensor(shape: shape, device: target, storage: try target.buffer(try values()))
        return record(moved, op: "to(device)", inputs: [self]) { grad in [try grad.to(self.device)] }
    }

    /// Overwrites this tensor's elements with `source`'s (same shape and device), outside the graph:
    /// running statistics, loaded weights.
    public func assign(_ source: Tensor) throws {
        guard source.shape == shape, source.device === device else {
            throw TandemError.invalidArgument(op: "assign", message: "cannot assign \(source) to \(self)")
        }
        guard count > 0, source.storage !== storage else { return }
        try device.copy(source.storage, storage, layout: StridedLayout(shape: [count], strides: [[1], [1]]))
    }

    /// The same values, cut off from the graph.
    public func detach() -> Tensor { Tensor(shape: shape, device: device, storage: storage) }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(\(shape), \(device.info.selector))" }
}
