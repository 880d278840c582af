import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The gradient reversal layer R_λ of Ganin and Lempitsky 2015 (Eq. 13–14) as a layer: the identity
/// forward, −λ·`scale` times the gradient backward (`Tensor.reversingGradient(lambda:)`). Placed
/// before an adversarial head, it makes the layers below it learn to defeat the head.
///
/// `scale` carries the paper's schedule (Sec. 5, "the adaptation factor"): the trainer sets it to
/// 2/(1 + e^{−10p}) − 1 at training progress p ∈ [0, 1] (`rampScale(progress:)`), so the shared layers
/// feel the adversary only once the head has learned something; 1 keeps λ constant.
public final class GradientReversal: Module, Layer {
    public let lambda: Float
    /// The schedule's factor on λ, in [0, 1].
    public var scale: Float = 1

    public init(lambda: Float) throws {
        guard lambda.isFinite, lambda >= 0 else {
            throw TandemError.invalidArgument(op: "GradientReversal", message: "λ must be finite and non-negative, got \(lambda)")
        }
        self.lambda = lambda
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.reversingGradient(lambda: lambda * scale) }

    /// Ganin and Lempitsky's factor 2/(1 + e^{−10p}) − 1 at progress `p` (clamped to [0, 1]): 0 at
    /// the start, 0.99 by p = 0.53.
    public static func rampScale(progress p: Double) -> Float {
        let clamped = Swift.min(1, Swift.max(0, p))
        return Float(2 / (1 + exp(-10 * clamped)) - 1)
    }

    /// The gradient reversal layers of `module` and its descendants.
    public static func all(in module: Module) -> [GradientReversal] {
        var found: [GradientReversal] = []
        func walk(_ m: Module) {
            if let layer = m as? GradientReversal { found.append(layer) }
            for (_, child) in m.namedChildren() { walk(child) }
        }
        walk(module)
        return found
    }
}
