import TandemCore

/// im2col and col2im on OpenCL (`Kernels/convolution.cl`); the GEMM between them goes to CLBlast.
extension OpenCLDevice {
    public func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws {
        guard geometry.colRows * geometry.batch * geometry.outHeight > 0, geometry.outWidth > 0 else { return }
        // One work-item per `per` output lines of a col row: all of a col row's lines for one image
        // on CPU devices, one line on GPUs.
        let per = rowKernels ? geometry.outHeight : 1
        let items = geometry.colRows * geometry.batch * ((geometry.outHeight + per - 1) / per)
        try im2col_f32(global: [items], x: x, col: col, items: items, per: per,
                       p: try ConvolutionParameters(geometry, op: "im2col", device: info.selector))
    }

    /// The reference composition, on GPUs with the inner dimension split
    /// (`Composed.weightGradientSplits`) when one group's m×n has too few 32×32 blocks to give each
    /// compute unit two. CPU devices (the row kernel kind) have a few cores that one long GEMM
    /// already keeps busy, so they save the extra launch of the partial sums.
    public func conv2dWeightGradient(_ x: Buffer, _ dy: Buffer, _ dw: Buffer, biasGradient: Buffer?, geometry: ConvGeometry,
                                     saved: Buffer?) throws {
        let splits = rowKernels ? 1 : Composed.weightGradientSplits(
            m: geometry.outChannels / geometry.groups, n: geometry.colRows / geometry.groups, k: geometry.colCols,
            target: 2 * Swift.max(1, info.computeUnits))
        try Composed.conv2dWeightGradient(on: self, x, dy, dw, biasGradient: biasGradient, geometry: geometry, saved: saved,
                                          splits: splits)
    }

    public func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws {
        let p = try ConvolutionParameters(geometry, op: "col2im", device: info.selector)
        // On a CPU device, a line per work-item (runs of adds) beats a pixel per work-item (divisions
        // and tests for every tap); GPUs keep the pixel-wise gather.
        if rowKernels && geometry.strideW == 1 {
            let lines = geometry.batch * geometry.channels * geometry.height
            try col2im_lines_f32(global: [lines], col: col, x: x, lines: lines, p: p)
            return
        }
        let total = geometry.batch * geometry.channels * geometry.height * geometry.width
        try col2im_f32(global: [total], col: col, x: x, total: total, p: p)
    }
}
