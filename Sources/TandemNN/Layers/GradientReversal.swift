import TandemCore

/// The gradient reversal layer R_λ of Ganin and Lempitsky 2015 (Eq. 13–14) as a layer: the identity
/// forward, −λ times the gradient backward (`Tensor.reversingGradient(lambda:)`). Placed before an
/// adversarial head, it makes the layers below it learn to defeat the head.
public final class GradientReversal: Module, Layer {
    public let lambda: Float

    public init(lambda: Float) throws {
        guard lambda.isFinite, lambda >= 0 else {
            throw TandemError.invalidArgument(op: "GradientReversal", message: "λ must be finite and non-negative, got \(lambda)")
        }
        self.lambda = lambda
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.reversingGradient(lambda: lambda) }
}
