/// The name of a recorded op, turned into text only when an error needs it (recording happens for
/// every op of every step, and describing an enum case is not free).
enum OpName: CustomStringConvertible, ExpressibleByStringLiteral, Sendable {
    case named(StaticString)
    case unary(UnaryOp)
    case binary(BinaryOp)

    init(stringLiteral value: StaticString) { self = .named(value) }

    var description: String {
        switch self {
        case let .named(name): return "\(name)"
        case let .unary(op): return "\(op)"
        case let .binary(op): return "\(op)"
        }
    }

    /// The name for messages: a function name from `#function` without its argument labels
    /// (`conv2d(_:bias:stride:padding:dilation:groups:)` is `conv2d`).
    var name: String {
        let text = description
        guard let open = text.firstIndex(of: "("), open != text.startIndex else { return text }
        return String(text[..<open])
    }
}

/// One recorded operation: its name, its inputs and how to turn the output's gradient into theirs.
final class Node {
    /// The op that recorded this node (`conv2d`, `mul`, ...), for errors raised in the backward.
    let op: OpName
    private(set) var inputs: [Tensor]
    /// Gradients for `inputs`, in order; nil for an input that needs none. Nil once released.
    private var gradients: ((Tensor) throws -> [Tensor?])?

    init(op: OpName, inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.gradients = backward
    }

    func backward(_ gradient: Tensor) throws -> [Tensor?] {
        guard let gradients else {
            throw TandemError.invalidArgument(
                op: "backward", message: "the graph at \(op) was freed by an earlier backward(releasingGraph: true); run the forward again, or keep the graph for a second backward")
        }
        return try gradients(gradient)
    }

    /// Drops the inputs and the tensors the gradient function saved, so their memory can go.
    func release() {
        inputs = []
        gradients = nil
    }
}

/// Whether ops record the graph. Off inside `Tensor.withoutGradient`, and while gradients are computed.
public enum GradientMode {
    @TaskLocal public static var isEnabled = true
}

/// Told, during a backward, when a leaf's gradient for that backward is complete (every node that
/// consumed the leaf has run). Data-parallel training starts a gradient bucket's all-reduce once all
/// its parameters are ready, while the backward computes the rest.
public protocol GradientObserver: AnyObject, Sendable {
    /// `leaf.grad` holds its gradient (accumulated onto any it had before this backward).
    func gradientReady(_ leaf: Tensor) throws
}

/// The observer of the backwards run in this task (nil: none).
public enum GradientReadiness {
    @TaskLocal public static var observer: (any GradientObserver)?
}

extension Tensor {
    /// Runs `body` without recording any graph (evaluation, optimizer updates).
    public static func withoutGradient<R>(_ body: () throws -> R) rethrows -> R {
        try GradientMode.$isEnabled.withValue(false, operation: body)
    }

    /// Attaches a graph node of op `op` to `output` when recording is on and some input requires a gradient.
    @discardableResult
    func record(_ output: Tensor, op: OpName, inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        guard GradientMode.isEnabled, inputs.contains(where: \.requiresGrad) else { return output }
        return Tensor(shape: output.shape, device: output.device, storage: output.storage,
                      node: Node(op: op, inputs: inputs, backward: backward))
    }

    /// Reverse-mode differentiation from this scalar: every leaf that requires a gradient gets
    /// `grad` (accumulated onto an existing one, so a tensor used twice sums both paths).
    ///
    /// With `releasingGraph`, each node drops its saved tensors as soon as its gradient is computed
    /// (PyTorch's default): a training step's peak memory then holds no activation past its use, and
    /// a second backward through the same graph throws. Keep the graph (the default) to run several
    /// backwards through shared layers, as per-task gradient methods do.
    public func backward(releasingGraph: Bool = false) throws {
        guard count == 1 else {
            throw TandemError.invalidArgument(op: "backward", message: "needs a scalar, got shape \(shape); reduce it first (sum or mean)")
        }
        try backward(gradient: try Tensor.ones(shape, on: device), releasingGraph: releasingGraph)
    }

    /// Reverse-mode differentiation seeded with `gradient` (same shape as self); `releasingGraph` as
    /// for `backward()`.
    public func backward(gradient: Tensor, releasingGraph: Bool = false) throws {
        guard gradient.shape == shape, gradient.device === device else {
            throw TandemError.invalidArgument(
                op: "backward", message: "seed gradient \(gradient) does not match \(self)")
        }
        // Order the graph so every node runs after all the nodes that consume its output.
        var order: [Tensor?] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        let observer = GradientReadiness.observer
        try Tensor.withoutGradient {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): gradient]
            for index in order.indices.reversed() {
                guard let tensor = order[index] else { continue }
                // Every consumer of this tensor has run: it is not needed again in this backward.
                if releasingGraph { order[index] = nil }
                guard let grad = grads.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
                guard let node = tensor.node else {
                    if tensor.requiresGrad {
                        tensor.grad = try tensor.grad.map { try $0 + grad } ?? grad
                        try observer?.gradientReady(tensor)
                    }
                    continue
                }
                let inputGrads: [Tensor?]
                do {
                    inputGrads = try node.backward(grad)
                } catch let TandemError.tensorAllocation(op, shape, nil, cause) {
                    throw TandemError.tensorAllocation(op: op, shape: shape, context: "in the backward of \(node.op.name)", cause: cause)
                }
                let inputs = node.inputs
                if releasingGraph { node.release() }
                for (input, inputGrad) in zip(inputs, inputGrads) {
                    guard input.requiresGrad, let inputGrad else { continue }
                    guard inputGrad.shape == input.shape else {
                        fatalError("\(node.op): gradient of shape \(inputGrad.shape) for input of shape \(input.shape)")
                    }
                    let key = ObjectIdentifier(input)
                    grads[key] = try grads[key].map { try $0 + inputGrad } ?? inputGrad
                }
            }
        }
    }
}

// MARK: Checks shared by ops

extension Tensor {
    /// Throws unless every tensor lives on the same device as the first.
    static func checkSameDevice(_ op: String, _ tensors: Tensor...) throws {
        guard let first = tensors.first else { return }
        for t in tensors.dropFirst() where t.device !== first.device {
            throw TandemError.invalidArgument(
                op: op, message: "tensors on different devices: \(tensors.map(\.description).joined(separator: ", ")); move one with .to(device)")
        }
    }
}
