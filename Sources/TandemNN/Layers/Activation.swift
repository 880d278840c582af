import TandemCore

/// A parameter-free elementwise function as a layer.
public final class Activation: Module, Layer {
    public enum Kind: String, Sendable { case relu, sigmoid, tanh, identity }
    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public static var relu: Activation { Activation(.relu) }
    public static var sigmoid: Activation { Activation(.sigmoid) }
    public static var tanh: Activation { Activation(.tanh) }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        switch kind {
        case .relu: return try x.relu()
        case .sigmoid: return try x.sigmoid()
        case .tanh: return try x.tanh()
        case .identity: return x
        }
    }
}

/// [N, ...] → [N, rest] as a layer.
public final class Flatten: Module, Layer {
    public override init() {}
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.flatten() }
}

/// Max pooling as a layer (values only).
public final class MaxPool2d: Module, Layer {
    public let kernel: (Int, Int)
    public let stride: (Int, Int)?
    public init(_ kernel: Int, stride: Int? = nil) {
        self.kernel = (kernel, kernel)
        self.stride = stride.map { ($0, $0) }
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.maxPool2d(kernel: kernel, stride: stride).values }
}
