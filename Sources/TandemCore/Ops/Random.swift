/// Dropout from the device's counter-based random stream (`Primitives.uniform`): the same seed
/// drops the same elements on every device.
extension Tensor {
    /// Checks the drop probability, giving the scale of the kept values.
    func dropoutScale(_ op: String, _ p: Float) throws -> Float {
        guard p >= 0 && p < 1 else {
            throw TandemError.invalidArgument(op: op, message: "drop probability \(p) is outside [0, 1) (shape \(shape), on \(device.info.selector))")
        }
        return 1 / (1 - p)
    }

    /// Scaled keep-mask of `shape`: 1/(1−p) where the stream's value is ≥ p, else 0.
    func dropoutMask(_ shape: [Int], p: Float, scale: Float, seed: UInt64) throws -> Tensor {
        let u = try Tensor.uniform(shape, seed: seed, on: device)
        // Dropped where u < p (written −u > −p): P(drop) = p up to the 2^-24 grid of the stream.
        return try u.neg().greater(-p) * -scale + scale
    }

    /// Zeroes each element with probability `p` and scales the rest by 1/(1 − p), so the expected
    /// value is unchanged; the mask comes from stream `seed` (vary it per step and per layer). The
    /// identity when `training` is false or p = 0. Throws for p outside [0, 1).
    public func dropout(p: Float, seed: UInt64, training: Bool = true) throws -> Tensor {
        let scale = try dropoutScale("dropout", p)
        guard training, p > 0 else { return self }
        return try self * dropoutMask(shape, p: p, scale: scale, seed: seed)
    }

    /// Channel dropout of [N, C, H, W] (or [N, C, spatial...]): zeroes whole channels of each sample
    /// with probability `p` and scales the rest by 1/(1 − p). The identity when `training` is false
    /// or p = 0. Throws for p outside [0, 1) or a tensor of rank below 2.
    public func dropout2d(p: Float, seed: UInt64, training: Bool = true) throws -> Tensor {
        let scale = try dropoutScale("dropout2d", p)
        guard rank >= 2 else {
            throw TandemError.invalidArgument(op: "dropout2d", message: "needs [N, C, H, W], got \(shape) (on \(device.info.selector))")
        }
        guard training, p > 0 else { return self }
        let maskShape = [shape[0], shape[1]] + [Int](repeating: 1, count: rank - 2)
        return try self * dropoutMask(maskShape, p: p, scale: scale, seed: seed)
    }
}
