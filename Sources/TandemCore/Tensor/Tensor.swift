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
    ///
    /// Every op makes its outputs (and its backward the gradients) here, so this is the one place
    /// where a device's refusal gets the op and the shape: `op` defaults to the calling function
    /// (`conv2d(_:bias:…)` reads as `conv2d`), and an out-of-memory error becomes
    /// `TandemError.tensorAllocation` ("conv2d output [64, 128, 256, 256] (8.0 GiB) on cpu: out of
    /// memory"); the backward adds which op's gradient was being computed.
    static func empty(_ shape: [Int], on device: any Device, op: OpName = #function) throws -> Tensor {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw TandemError.invalidArgument(op: op.name, message: "negative dimension in shape \(shape)")
        }
        let t = Tensor(shape: shape, device: device, storage: try storage(shape, on: device, op: op))
        if Poisoning.isEnabled { try device.fill(t.storage, value: .nan, offset: 0, count: t.count) }
        return t
    }

    /// A buffer for a tensor of `shape` (non-negative dimensions), its allocation failures named by
    /// `op` and the shape.
    private static func storage(_ shape: [Int], on device: any Device, op: OpName) throws -> Buffer {
        let count = try Shapes.checkedCount(shape, op: op.name)
        do {
            return try device.allocate(count)
        } catch let error as TandemError {
            switch error {
            case .outOfMemory, .allocationTooLarge:
                throw TandemError.tensorAllocation(op: op.name, shape: shape, context: nil, cause: error)
            default: throw error
            }
        }
    }

    // MARK: Making tensors

    /// A tensor of `shape` holding `values` (row-major) on `device`.
    public convenience init(_ values: [Float], shape: [Int], on device: any Device, requiresGrad: Bool = false) throws {
        guard shape.allSatisfy({ $0 >= 0 }), (try? Shapes.checkedCount(shape, op: "tensor")) == values.count else {
            throw TandemError.invalidArgument(
                op: "tensor", message: "\(values.count) values do not fill shape \(shape) on \(device.info.selector)")
        }
        let storage = try Tensor.storage(shape, on: device, op: "tensor")
        try device.upload(values, to: storage, offset: 0)
        self.init(shape: shape, device: device, storage: storage, requiresGrad: requiresGrad)
    }

    /// A tensor of `shape` holding `values()` (row-major), for parameter initialisation: on a device
    /// that holds no values (`DryRunDevice`, which only counts memory) `values` is not called and the
    /// tensor is zeros, so a dry run of a model with gigabytes of weights draws no random numbers
    /// and allocates nothing on the host.
    public static func initialized(_ shape: [Int], on device: any Device, requiresGrad: Bool = false,
                                   _ values: () -> [Float]) throws -> Tensor {
        if device is DryRunDevice { return try zeros(shape, on: device, requiresGrad: requiresGrad) }
        return try Tensor(values(), shape: shape, on: device, requiresGrad: requiresGrad)
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

    /// Reads all elements, row-major, into `target` (exactly `count` long), waiting for queued work.
    public func copyValues(into target: UnsafeMutableBufferPointer<Float>) throws {
        guard target.count == count else {
            throw TandemError.invalidArgument(op: "copyValues", message: "\(self) into a host buffer of \(target.count) elements")
        }
        try device.download(storage, offset: 0, into: target)
    }

    /// A new tensor of `shape` on `device` holding `values` (host memory, row-major).
    public convenience init(_ values: UnsafeBufferPointer<Float>, shape: [Int], on device: any Device) throws {
        let tensor = try Tensor.empty(shape, on: device)
        guard values.count == tensor.count else {
            throw TandemError.invalidArgument(op: "Tensor", message: "\(values.count) values for shape \(shape)")
        }
        try device.upload(values, to: tensor.storage, offset: 0)
        self.init(shape: shape, device: device, storage: tensor.storage)
    }

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

    /// The same values as a new leaf that collects its own gradient: a graph cut on purpose, whose
    /// gradient is later passed on with `backward(gradient:)` (gradients with respect to a shared
    /// representation).
    public func detachedLeaf() -> Tensor { Tensor(shape: shape, device: device, storage: storage, requiresGrad: true) }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(\(shape), \(device.info.selector))" }
}
