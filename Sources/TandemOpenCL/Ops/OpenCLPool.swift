import TandemCore

/// Pooling and resampling primitives on OpenCL (`Kernels/pool.cl`); each backward is a gather.
extension OpenCLDevice {
    /// The geometry as the two int8 vectors `pool.cl` reads.
    func poolArguments(_ g: PoolGeometry) -> [KernelArgument] {
        [.int8([g.planes, g.height, g.width, g.outHeight, g.outWidth]),
         .int8([g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW])]
    }

    public func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.outHeight * g.outWidth
        if g.kernelH == 2, g.kernelW == 2, g.strideH == 2, g.strideW == 2, g.padH == 0, g.padW == 0 {
            try launch("max_pool2x2_f32", program: "pool", global: [total],
                       [.buffer(x), .buffer(y), .buffer(indices), .int(total), poolArguments(g)[0]])
            return
        }
        try launch("max_pool2d_f32", program: "pool", global: [total],
                   [.buffer(x), .buffer(y), .buffer(indices), .int(total)] + poolArguments(g))
    }

    public func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.height * g.width
        try launch("max_pool2d_backward_f32", program: "pool", global: [total],
                   [.buffer(dy), .buffer(indices), .buffer(dx), .int(total)] + poolArguments(g))
    }

    public func avgPool2d(_ x: Buffer, _ y: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.outHeight * g.outWidth
        try launch("avg_pool2d_f32", program: "pool", global: [total],
                   [.buffer(x), .buffer(y), .int(total)] + poolArguments(g))
    }

    public func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry g: PoolGeometry) throws {
        let total = g.planes * g.height * g.width
        try launch("avg_pool2d_backward_f32", program: "pool", global: [total],
                   [.buffer(dy), .buffer(dx), .int(total)] + poolArguments(g))
    }

    public func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        try fill(y, value: 0, offset: 0, count: planes * outputSize)
        let total = planes * inputSize
        try launch("scatter_planes_f32", program: "pool", global: [total],
                   [.buffer(x), .buffer(indices), .buffer(y), .int(total), .int(inputSize), .int(outputSize)])
    }

    public func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        let total = planes * outputSize
        try launch("gather_planes_f32", program: "pool", global: [total],
                   [.buffer(x), .buffer(indices), .buffer(y), .int(total), .int(inputSize), .int(outputSize)])
    }

    public func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                               alignCorners: Bool, backward: Bool) throws {
        let total = planes * (backward ? height * width : outHeight * outWidth)
        try launch(backward ? "resize_bilinear_backward_f32" : "resize_bilinear_f32", program: "pool", global: [total],
                   [.buffer(x), .buffer(y), .int(total), .int8([planes, height, width, outHeight, outWidth, alignCorners ? 1 : 0])])
    }

    public func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                              backward: Bool) throws {
        let total = planes * (backward ? height * width : outHeight * outWidth)
        try launch(backward ? "resize_nearest_backward_f32" : "resize_nearest_f32", program: "pool", global: [total],
                   [.buffer(x), .buffer(y), .int(total), .int8([planes, height, width, outHeight, outWidth])])
    }
}
