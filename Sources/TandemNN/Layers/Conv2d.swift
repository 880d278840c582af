import TandemCore

/// 2-D convolution with weight [out, in/groups, kh, kw] and bias [out] (PyTorch's layout).
public final class Conv2d: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int

    public init(_ inputs: Int, _ outputs: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true, initializer: Initializer = .pytorchDefault,
                random: RandomSource, on device: any Device) throws {
        guard inputs > 0, outputs > 0, groups > 0, inputs % groups == 0, outputs % groups == 0, kernel.0 > 0, kernel.1 > 0 else {
            throw TandemError.invalidArgument(
                op: "Conv2d", message: "invalid sizes: \(inputs) → \(outputs), kernel \(kernel), groups \(groups)")
        }
        let fanIn = inputs / groups * kernel.0 * kernel.1, fanOut = outputs / groups * kernel.0 * kernel.1
        weight = try initializer.weight([outputs, inputs / groups, kernel.0, kernel.1], fanIn: fanIn, fanOut: fanOut,
                                        random: random, device: device)
        self.bias = bias ? try initializer.bias(outputs, fanIn: fanIn, random: random, device: device) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// A k×k convolution.
    public convenience init(_ inputs: Int, _ outputs: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                            bias: Bool = true, initializer: Initializer = .pytorchDefault,
                            random: RandomSource, on device: any Device) throws {
        try self.init(inputs, outputs, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding),
                      bias: bias, initializer: initializer, random: random, on: device)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}
