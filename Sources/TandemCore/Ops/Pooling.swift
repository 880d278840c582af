/// 2-D pooling over NCHW input: max (with PyTorch-style indices), max-unpooling, average and
/// global average. Devices implement the window loops (`Kernels/pooling.cl`); every backward is a
/// gather, so overlapping windows are handled without atomics.
extension Tensor {
    /// Checks an NCHW input and pooling hyper-parameters, returning the geometry.
    func poolGeometry(_ op: String, kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)) throws -> PoolGeometry {
        let stride = stride ?? kernel
        func fail(_ why: String) -> TandemError {
            .invalidArgument(op: op, message: "input \(shape), kernel \(kernel), stride \(stride), padding \(padding) on \(device.info.selector): \(why)")
        }
        guard rank == 4 else { throw fail("input must be [N, C, H, W]") }
        guard kernel.0 >= 1, kernel.1 >= 1 else { throw fail("kernel must be positive") }
        guard stride.0 >= 1, stride.1 >= 1 else { throw fail("stride must be positive") }
        guard padding.0 >= 0, padding.1 >= 0 else { throw fail("padding must be non-negative") }
        guard 2 * padding.0 <= kernel.0, 2 * padding.1 <= kernel.1 else { throw fail("padding must be at most half the kernel") }
        guard kernel.0 <= shape[2] + 2 * padding.0, kernel.1 <= shape[3] + 2 * padding.1 else {
            throw fail("kernel is larger than the padded input \(shape[2] + 2 * padding.0)×\(shape[3] + 2 * padding.1)")
        }
        return PoolGeometry(planes: shape[0] * shape[1], height: shape[2], width: shape[3], kernelH: kernel.0, kernelW: kernel.1,
                            strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1)
    }

    /// Max pooling (stride defaults to the kernel); padding counts as −∞. Returns the maxima and,
    /// for `maxUnpool2d`, their flat indices into each H·W input plane as exact floats (PyTorch's
    /// convention, first maximum on ties). The gradient goes to each window's maximum.
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) throws -> (values: Tensor, indices: Tensor) {
        let g = try poolGeometry("maxPool2d", kernel: kernel, stride: stride, padding: padding)
        let outShape = [shape[0], shape[1], g.outHeight, g.outWidth]
        let y = try Tensor.empty(outShape, on: device), indices = try Tensor.empty(outShape, on: device)
        try device.maxPool2d(storage, y.storage, indices: indices.storage, geometry: g)
        let values = record(y, op: "maxPool2d", inputs: [self]) { dy in
            // Each device picks its algorithm: the CPU scatters into zeroed planes when windows do
            // not overlap, OpenCL gathers per pixel in one launch.
            let dx = try Tensor.empty(self.shape, on: dy.device)
            try dy.device.maxPool2dBackward(dy.storage, indices: indices.storage, dx.storage, geometry: g)
            return [dx]
        }
        return (values, indices)
    }

    /// Inverse of max pooling: [N, C, h, w] values placed at `indices` (flat into each
    /// `outputSize` plane, as `maxPool2d` returns them) of a zero [N, C, outputSize] tensor.
    /// Duplicate indices keep one of the values, as in PyTorch.
    public func maxUnpool2d(indices: Tensor, outputSize: (Int, Int)) throws -> Tensor {
        try Tensor.checkSameDevice("maxUnpool2d", self, indices)
        guard rank == 4, indices.shape == shape, outputSize.0 >= 1, outputSize.1 >= 1 else {
            throw TandemError.invalidArgument(
                op: "maxUnpool2d", message: "input \(shape), indices \(indices.shape), output size \(outputSize) on \(device.info.selector): needs [N, C, h, w] input, indices of the same shape and a positive output size")
        }
        let planes = shape[0] * shape[1], inputSize = shape[2] * shape[3], outputSize2 = outputSize.0 * outputSize.1
        let y = try Tensor.empty([shape[0], shape[1], outputSize.0, outputSize.1], on: device)
        try device.scatterPlanes(storage, indices: indices.storage, y.storage, planes: planes, inputSize: inputSize, outputSize: outputSize2)
        return record(y, op: "maxUnpool2d", inputs: [self]) { dy in
            let dx = try Tensor.empty(self.shape, on: dy.device)
            try dy.device.gatherPlanes(dy.storage, indices: indices.storage, dx.storage, planes: planes,
                                       inputSize: outputSize2, outputSize: inputSize)
            return [dx]
        }
    }

    /// Average pooling (stride defaults to the kernel) with PyTorch's default `count_include_pad`:
    /// every window divides by kernelH·kernelW, padded zeros included.
    public func avgPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) throws -> Tensor {
        let g = try poolGeometry("avgPool2d", kernel: kernel, stride: stride, padding: padding)
        let y = try Tensor.empty([shape[0], shape[1], g.outHeight, g.outWidth], on: device)
        try device.avgPool2d(storage, y.storage, geometry: g)
        return record(y, op: "avgPool2d", inputs: [self]) { dy in
            let dx = try Tensor.empty(self.shape, on: dy.device)
            try dy.device.avgPool2dBackward(dy.storage, dx.storage, geometry: g)
            return [dx]
        }
    }

    /// Mean over H and W: [N, C, H, W] → [N, C, 1, 1] (the head of most convolutional classifiers).
    public func globalAvgPool2d() throws -> Tensor {
        guard rank == 4 else {
            throw TandemError.invalidArgument(op: "globalAvgPool2d", message: "input \(shape) on \(device.info.selector) must be [N, C, H, W]")
        }
        return try mean(axes: [2, 3], keepDims: true)
    }
}
