import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// A seeded source of host random numbers for parameter initialisation, shared by the modules
/// of one model so that the same seed builds the same weights.
public final class RandomSource {
    private var generator: SplitMix64

    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// Uniform in [low, high).
    public func uniform(_ count: Int, low: Float, high: Float) -> [Float] {
        (0..<count).map { _ in Float.random(in: low..<high, using: &generator) }
    }

    /// Normal with the given standard deviation (Box–Muller).
    public func normal(_ count: Int, std: Float) -> [Float] {
        (0..<count).map { _ in
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator)
            let u2 = Double.random(in: 0..<1, using: &generator)
            return Float((-2 * Glibc.log(u1)).squareRoot() * Glibc.cos(2 * Double.pi * u2)) * std
        }
    }

    /// A fresh seed for a device-side stream (dropout).
    public func nextSeed() -> UInt64 { generator.next() }
}

/// Weight initialisations, named as in the literature.
public enum Initializer {
    /// PyTorch's default for Linear and Conv: U(−1/√fanIn, 1/√fanIn) for weights and biases.
    case pytorchDefault
    /// Glorot/Xavier normal: N(0, 2/(fanIn + fanOut)); biases zero.
    case xavierNormal
    /// Glorot/Xavier uniform; biases zero.
    case xavierUniform

    /// A weight of `shape` drawn on the host (not drawn on a dry run: `Tensor.initialized`).
    func weight(_ shape: [Int], fanIn: Int, fanOut: Int, random: RandomSource, device: any Device) throws -> Tensor {
        let n = try Shapes.checkedCount(shape, op: "weight initialisation")
        return try Tensor.initialized(shape, on: device, requiresGrad: true) {
            switch self {
            case .pytorchDefault:
                let bound = 1 / Float(fanIn).squareRoot()
                return random.uniform(n, low: -bound, high: bound)
            case .xavierNormal:
                return random.normal(n, std: (2 / Float(fanIn + fanOut)).squareRoot())
            case .xavierUniform:
                let bound = (6 / Float(fanIn + fanOut)).squareRoot()
                return random.uniform(n, low: -bound, high: bound)
            }
        }
    }

    func bias(_ count: Int, fanIn: Int, random: RandomSource, device: any Device) throws -> Tensor {
        switch self {
        case .pytorchDefault:
            let bound = 1 / Float(fanIn).squareRoot()
            return try Tensor.initialized([count], on: device, requiresGrad: true) { random.uniform(count, low: -bound, high: bound) }
        case .xavierNormal, .xavierUniform:
            return try Tensor.zeros([count], on: device, requiresGrad: true)
        }
    }
}
