import TandemCore

/// The Gumbel-softmax (Jang, Gu and Poole 2017, "Categorical reparameterization with
/// Gumbel-softmax", Eq. 1): a differentiable sample of the categorical distribution with logits θ
/// over the last axis, y = softmax((θ + g)/τ) with gᵢ = −log(−log uᵢ), uᵢ ~ U(0, 1). The noise comes
/// from the device's counter-based stream `stream`, so CPU and OpenCL draw the same samples.
public enum GumbelSoftmax {
    /// The Gumbel noise g of `shape`.
    public static func noise(_ shape: [Int], stream: UInt64, on device: any Device) throws -> Tensor {
        try Tensor.withoutGradient {
            let u = try Tensor.uniform(shape, seed: stream, on: device).clamp(min: 1e-7).clamp(max: 1 - 1e-7)
            return try u.log().neg().log().neg()
        }
    }

    /// A sample over the last axis of `logits` at temperature `temperature`. `hard`: the one-hot
    /// arg-max of the sample forward and the soft sample's gradient backward (straight-through).
    public static func sample(_ logits: Tensor, temperature: Float, stream: UInt64, hard: Bool = false) throws -> Tensor {
        guard temperature > 0, temperature.isFinite else {
            throw TandemError.invalidArgument(op: "GumbelSoftmax", message: "the temperature must be positive, got \(temperature)")
        }
        let z = try (logits + noise(logits.shape, stream: stream, on: logits.device)) * (1 / temperature)
        let soft = try z.softmax(axis: -1)
        guard hard else { return soft }
        let oneHot = try Tensor.withoutGradient { () throws -> Tensor in
            let plain = z.detach()
            return try plain.equal(plain.max(axis: -1, keepDims: true))
        }
        // soft − soft (exactly 0) first, so the forward value is exactly the one-hot.
        return try oneHot + (soft - soft.detach())
    }
}
