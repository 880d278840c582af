import TandemCore

/// Pooling and resampling primitives on OpenCL (`Kernels/pooling.cl`); each backward is a gather.
extension OpenCLDevice {
    /// The geometry as the two int8 vectors `pooling.cl`, `resize.cl` reads.
    func poolArguments(_ g: PoolGeometry) -> [KernelArgument] {
        [.int8([g.planes, g.height, g.width, g.outHeight, g.outWidth]),
         .int8([g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW])]
    }

    public func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.outHeight * g.outWidth
        if g.kernelH == 2, g.kernelW == 2, g.strideH == 2, g.strideW == 2, g.padH == 0, g.padW == 0 {
            try launch("max_pool2x2_f32", program: "pooling", global: [total],
                       [.buffer(x), .buffer(y), .buffer(indices), .int(total), poolArguments(g)[0]])
            return
        }
        try launch("max_pool2d_f32", program: "pooling", global: [total],
                   [.buffer(x), .buffer(y), .buffer(indices), .int(total)] + poolArguments(g))
    }

    public func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.height * g.width
        try launch("max_pool2d_backward_f32", program: "pooling", global: [total],
                   [.buffer(dy), .buffer(indices), .buffer(dx), .int(total)] + poolArguments(g))
    }

    public func avgPool2d(_ x: Buffer, _ y: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.outHeight * g.outWidth
        try launch("avg_pool2d_f32", program: "pooling", global: [total],
                   [.buffer(x), .buffer(y), .int(total)] + poolArguments(g))
    }

    public func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.height * g.width
        try launch("avg_pool2d_backward_f32", program: "pooling", global: [total],
                   [.buffer(dy), .buffer(dx), .int(total)] + poolArguments(g))
    }

    public func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        try fill(y, value: 0, offset: 0, count: planes * outputSize)
        let total = planes * inputSize
        try launch("scatter_planes_f32", program: "pooling", global: [total],
                   [.buffer(x), .buffer(indices), .buffer(y), .int(total), .int(inputSize), .int(outputSize)])
    }

    public func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        let total = planes * outputSize
        try launch("gather_planes_f32", program: "pooling", global: [total],
                   [.buffer(x), .buffer(indices), .buffer(y), .int(total), .int(inputSize), .int(outputSize)])
    }
}
