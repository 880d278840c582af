import TandemCore

/// Convolution primitives on OpenCL (`Kernels/conv.cl`); the GEMM between them goes to CLBlast.
extension OpenCLDevice {
    /// The geometry as the two int8 vectors `conv.cl` reads.
    func convArguments(_ g: ConvGeometry) -> [KernelArgument] {
        [.int8([g.batch, g.channels, g.height, g.width, g.outChannels, g.kernelH, g.kernelW, g.groups]),
         .int8([g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outHeight, g.outWidth])]
    }

    public func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws {
        // One work-item per (col row, image, output row): each writes one output line.
        let lines = geometry.colRows * geometry.batch * geometry.outHeight
        guard lines > 0, geometry.outWidth > 0 else { return }
        try launch("im2col_f32", program: "conv", global: [lines],
                   [.buffer(x), .buffer(col), .int(lines)] + convArguments(geometry))
    }

    public func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws {
        let total = geometry.batch * geometry.channels * geometry.height * geometry.width
        try launch("col2im_f32", program: "conv", global: [total],
                   [.buffer(col), .buffer(x), .int(total)] + convArguments(geometry))
    }
}
