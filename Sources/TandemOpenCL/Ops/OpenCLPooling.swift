import TandemCore

/// Pooling primitives on OpenCL (`Kernels/pooling.cl`); each backward is a gather.
extension OpenCLDevice {
    public func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.outHeight * g.outWidth
        let p = try PoolingParameters(g, op: "maxPool2d", device: info.selector)
        if g.kernelH == 2, g.kernelW == 2, g.strideH == 2, g.strideW == 2, g.padH == 0, g.padW == 0 {
            try max_pool2x2_f32(global: [total], x: x, y: y, indices: indices, total: total, g: p)
            return
        }
        try max_pool2d_f32(global: [total], x: x, y: y, indices: indices, total: total, g: p)
    }

    public func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry g: PoolGeometry) throws {
        let p = try PoolingParameters(g, op: "maxPool2dBackward", device: info.selector)
        // A row per work-item on CPU devices (no division per pixel), a pixel per work-item on GPUs.
        if rowKernels && g.strideH >= g.kernelH && g.strideW >= g.kernelW && g.outHeight > 0 && g.outWidth > 0 {
            try max_pool2d_backward_bands_f32(global: [g.outHeight, g.planes], dy: dy, indices: indices, dx: dx, g: p)
        } else if rowKernels {
            try max_pool2d_backward_rows_f32(global: [g.height, g.planes], dy: dy, indices: indices, dx: dx, g: p)
        } else {
            try max_pool2d_backward_f32(global: [g.width, g.height, g.planes], dy: dy, indices: indices, dx: dx, g: p)
        }
    }

    public func avgPool2d(_ x: Buffer, _ y: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.outHeight * g.outWidth
        try avg_pool2d_f32(global: [total], x: x, y: y, total: total, g: try PoolingParameters(g, op: "avgPool2d", device: info.selector))
    }

    public func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.height * g.width
        try avg_pool2d_backward_f32(global: [total], dy: dy, dx: dx, total: total,
                                    g: try PoolingParameters(g, op: "avgPool2dBackward", device: info.selector))
    }

    public func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        try fill(y, value: 0, offset: 0, count: planes * outputSize)
        let total = planes * inputSize
        try scatter_planes_f32(global: [total], x: x, indices: indices, y: y, total: total, inputSize: inputSize,
                               outputSize: outputSize)
    }

    public func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        let total = planes * outputSize
        try gather_planes_f32(global: [total], x: x, indices: indices, y: y, total: total, inputSize: inputSize,
                              outputSize: outputSize)
    }
}
