import TandemCore

/// Layers applied in order; children are named `0`, `1`, ... as in PyTorch.
public final class Sequential: Module, Layer {
    public let layers: [any Layer]
    public override class var transparentProperties: Set<String> { ["layers"] }

    public init(_ layers: [any Layer]) { self.layers = layers }
    public convenience init(_ layers: any Layer...) { self.init(layers) }

    /// Runs the layers in order; a BatchNorm or a Linear directly followed by a ReLU runs as one
    /// fused step (same result, one pass less each way, and no pre-activation kept for the backward).
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try callAsFunction(x, layers: layers.count) }

    /// The first `count` layers only (as `callAsFunction(_:)` runs them).
    public func callAsFunction(_ x: Tensor, layers count: Int) throws -> Tensor {
        guard (0...layers.count).contains(count) else {
            throw TandemError.invalidArgument(op: "Sequential", message: "asked for the first \(count) layers of \(layers.count)")
        }
        var y = x, i = 0
        while i < count {
            let reluNext = i + 1 < count && (layers[i + 1] as? Activation)?.kind == .relu
            if reluNext, let norm = layers[i] as? BatchNorm {
                y = try norm(y, relu: true)
                i += 2
            } else if reluNext, let linear = layers[i] as? Linear {
                y = try linear(y, relu: true)
                i += 2
            } else {
                y = try layers[i](y)
                i += 1
            }
        }
        return y
    }
}
