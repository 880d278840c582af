import TandemCore

/// Layers applied in order; children are named `0`, `1`, ... as in PyTorch.
public final class Sequential: Module, Layer {
    public let layers: [any Layer]
    public override class var transparentProperties: Set<String> { ["layers"] }

    public init(_ layers: [any Layer]) { self.layers = layers }
    public convenience init(_ layers: any Layer...) { self.init(layers) }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try layers.reduce(x) { try $1($0) }
    }
}
