import TandemCore

/// `y = x·Wᵀ + b` with weight [out, in] and bias [out] (PyTorch's layout).
public final class Linear: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inputs: Int, _ outputs: Int, bias: Bool = true, initializer: Initializer = .pytorchDefault,
                random: RandomSource, on device: any Device) throws {
        guard inputs > 0, outputs > 0 else {
            throw TandemError.invalidArgument(op: "Linear", message: "sizes must be positive, got \(inputs) → \(outputs)")
        }
        weight = try initializer.weight([outputs, inputs], fanIn: inputs, fanOut: outputs, random: random, device: device)
        self.bias = bias ? try initializer.bias(outputs, fanIn: inputs, random: random, device: device) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.linear(weight: weight, bias: bias) }

    /// The layer followed by a ReLU when `relu` (fused: `Tensor.linear(weight:bias:relu:)`).
    public func callAsFunction(_ x: Tensor, relu: Bool) throws -> Tensor { try x.linear(weight: weight, bias: bias, relu: relu) }
}
