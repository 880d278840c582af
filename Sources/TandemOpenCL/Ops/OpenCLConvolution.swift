import TandemCore

/// Convolution primitives on OpenCL (`Kernels/convolution.cl`); the GEMM between them goes to CLBlast.
extension OpenCLDevice {
    /// The geometry as the two int8 vectors `convolution.cl` reads.
    func convArguments(_ g: ConvGeometry) -> [KernelArgument] {
        [.int8([g.batch, g.channels, g.height, g.width, g.outChannels, g.kernelH, g.kernelW, g.groups]),
         .int8([g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outHeight, g.outWidth])]
    }

    public func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws {
        // One work-item per (col row, image, output row): each writes one output line.
        guard geometry.colRows * geometry.batch * geometry.outHeight > 0, geometry.outWidth > 0 else { return }
        // Lines per work-item: all of a col row's lines for one image on CPU devices, one on GPUs.
        let per = rowKernels ? geometry.outHeight : 1
        let items = geometry.colRows * geometry.batch * ((geometry.outHeight + per - 1) / per)
        try launch("im2col_f32", program: "convolution", global: [items],
                   [.buffer(x), .buffer(col), .int(items), .int(per)] + convArguments(geometry))
    }

    public func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws {
        // On a CPU device, a line per work-item (runs of adds) beats a pixel per work-item (divisions
        // and tests for every tap); GPUs keep the pixel-wise gather.
        if rowKernels && geometry.strideW == 1 {
            let lines = geometry.batch * geometry.channels * geometry.height
            try launch("col2im_lines_f32", program: "convolution", global: [lines],
                       [.buffer(col), .buffer(x), .int(lines)] + convArguments(geometry))
            return
        }
        let total = geometry.batch * geometry.channels * geometry.height * geometry.width
        try launch("col2im_f32", program: "convolution", global: [total],
                   [.buffer(col), .buffer(x), .int(total)] + convArguments(geometry))
    }
}
