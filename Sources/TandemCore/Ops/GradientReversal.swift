/// The gradient reversal layer (Ganin and Lempitsky 2015, "Unsupervised Domain Adaptation by
/// Backpropagation", ICML), which the paper defines as the pseudo-function R_λ with
///
///     R_λ(x) = x  (forward),     dR_λ/dx = −λ·I  (backward).
///
/// Placed between a shared representation and an adversarial head, the head learns to predict its
/// target while the layers below learn to defeat it (features that carry no information about, say,
/// the domain). No kernel: the output shares the input's storage, and the
/// backward scales the incoming gradient by −λ (one element-wise multiply).
///
/// Not a function in the usual sense (its backward is not the derivative of its forward), so the op
/// catalog's finite-difference check does not apply; its tests check the sign and scale directly.
extension Tensor {
    /// `self` unchanged, with the gradient flowing back through it multiplied by `-lambda`
    /// (λ ≥ 0; λ = 0 stops the gradient, as `detach` does, but keeps the graph).
    public func reversingGradient(lambda: Float = 1) throws -> Tensor {
        guard lambda.isFinite, lambda >= 0 else {
            throw TandemError.invalidArgument(op: "reversingGradient", message: "λ must be finite and ≥ 0, got \(lambda) (for \(self))")
        }
        let output = Tensor(shape: shape, device: device, storage: storage)
        return record(output, op: "reversingGradient", inputs: [self]) { g in [try g * -lambda] }
    }
}
