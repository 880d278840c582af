import TandemCore

/// Dropout (or whole-channel dropout with `channels: true`) in training mode; identity in evaluation.
/// Each call draws a fresh device-side stream from the layer's seed.
public final class Dropout: Module, Layer {
    public let p: Float
    public let channels: Bool
    private var seed: UInt64

    public init(_ p: Float, channels: Bool = false, seed: UInt64 = 0x7a9d) throws {
        guard p >= 0, p < 1 else { throw TandemError.invalidArgument(op: "Dropout", message: "p must be in [0, 1), got \(p)") }
        self.p = p
        self.channels = channels
        self.seed = seed
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard isTraining, p > 0 else { return x }
        seed &+= 0x9e37_79b9_7f4a_7c15
        return channels ? try x.dropout2d(p: p, seed: seed, training: true) : try x.dropout(p: p, seed: seed, training: true)
    }
}
