/// L2 normalisation along an axis and the surface-normal (cosine) loss built on it, written with
/// other ops.
extension Tensor {
    /// `x / max(‖x‖₂, epsilon)` along `axis` (by default the channels of [N, C, H, W]: each pixel's
    /// vector gets unit length). A zero vector stays zero, with a zero gradient.
    public func l2Normalize(axis: Int = 1, epsilon: Float = 1e-12) throws -> Tensor {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "l2Normalize", shape: shape)
        guard rank > 0 else {
            throw TandemError.invalidArgument(op: "l2Normalize", message: "needs at least one axis, got a scalar (on \(device.info.selector))")
        }
        guard epsilon > 0 else {
            throw TandemError.invalidArgument(op: "l2Normalize", message: "epsilon \(epsilon) must be positive")
        }
        // max(‖x‖, ε) as sqrt(max(Σx², ε²)): the same value, and no 0/0 in the gradient at x = 0.
        let norm = try square().sum(axes: [a], keepDims: true).clamp(min: epsilon * epsilon).sqrt()
        return try self / norm
    }

    /// Surface-normal loss (MTAN): `1 − mean over valid pixels of ⟨x̂, target⟩`, where x̂ is self
    /// L2-normalised along `axis` (the channels) and the dot product runs over that axis. Normalising
    /// an already unit-length prediction changes nothing, so a model may normalise its output too.
    ///
    /// A pixel is valid when its target vector is nonzero and holds no NaN (0 or NaN marks pixels
    /// without a normal) and, with a `mask` (broadcastable to self's shape with `axis` of size 1),
    /// where the mask is nonzero. Returns a scalar; 1 (with zero gradient) when no pixel is valid.
    /// Note: MTAN tests `Σ target ≠ 0`; the squared norm used here also keeps unit normals whose
    /// components happen to sum to 0.
    public func normalLoss(target: Tensor, axis: Int = 1, mask: Tensor? = nil) throws -> Tensor {
        try Tensor.checkSameDevice("normalLoss", self, target)
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "normalLoss", shape: shape)
        guard rank > 0, target.shape == shape else {
            throw TandemError.invalidArgument(
                op: "normalLoss", message: "prediction \(shape) and target \(target.shape) differ (on \(device.info.selector))")
        }
        var pixelShape = shape
        pixelShape[a] = 1
        let clean = try target.replacingNaN(with: 0)
        var valid = try target.isNaN().sum(axes: [a], keepDims: true).equal(0)
            * clean.square().sum(axes: [a], keepDims: true).greater(0)
        if let mask {
            try Tensor.checkSameDevice("normalLoss", self, mask)
            guard Shapes.broadcast(pixelShape, mask.shape) == pixelShape else {
                throw TandemError.invalidArgument(
                    op: "normalLoss", message: "mask \(mask.shape) does not broadcast to the pixels \(pixelShape) (on \(device.info.selector))")
            }
            valid = try valid * mask.notEqual(0)
        }
        let dot = try (l2Normalize(axis: a) * clean).sum(axes: [a], keepDims: true)
        let kept = try Tensor.where(valid, dot, Tensor.zeros([], on: device))
        return try 1 - Tensor.meanOverValid(kept, valid)
    }
}
