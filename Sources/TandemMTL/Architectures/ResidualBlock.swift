import TandemCore
import TandemNN

/// A basic residual block (He et al. 2016): y = ReLU(F(x) + s(x)) with F = conv 3×3 (stride) → BN →
/// ReLU → conv 3×3 → BN and the shortcut s the identity, or a 1×1 convolution (stride) and BN where
/// the shape changes. AdaShare skips a block by taking its shortcut alone.
public final class ResidualBlock: Module, Layer {
    public let body: Sequential
    /// Nil for the identity.
    public let shortcut: Sequential?

    public init(_ inputs: Int, _ outputs: Int, stride: Int = 1, random: RandomSource, on device: any Device) throws {
        body = Sequential(try Conv2d(inputs, outputs, kernel: 3, stride: stride, padding: 1, bias: false, random: random, on: device),
                          try BatchNorm(outputs, on: device), Activation.relu,
                          try Conv2d(outputs, outputs, kernel: 3, padding: 1, bias: false, random: random, on: device),
                          try BatchNorm(outputs, on: device))
        shortcut = inputs == outputs && stride == 1 ? nil
            : Sequential(try Conv2d(inputs, outputs, kernel: 1, stride: stride, bias: false, random: random, on: device),
                         try BatchNorm(outputs, on: device))
    }

    /// The shortcut path alone (what a skipped block passes on).
    public func skip(_ x: Tensor) throws -> Tensor { try shortcut.map { try $0(x) } ?? x }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try (body(x) + skip(x)).relu() }
}
