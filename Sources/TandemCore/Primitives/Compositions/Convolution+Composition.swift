extension Composed {
    /// The largest im2col matrix (elements, 16 MiB) the composed forward keeps for the weight
    /// gradient; larger ones are recomputed in the backward, trading time for memory.
    public static let keptColumnLimit = 1 << 22

    /// y = W·im2col(x) + b: per group, one GEMM batched over the images (each image's block of
    /// columns times the group's weights, written straight into NCHW), then the bias added in place. Keeps the im2col matrix for the weight gradient when asked and small.
    public static func conv2dForward(on device: any Device, _ x: Buffer, weight: Buffer, bias: Buffer?, _ y: Buffer,
                                     geometry g: ConvGeometry, keep: Bool) throws -> Buffer? {
        guard g.batch > 0 else { return nil }
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups, plane = g.outHeight * g.outWidth
        let col = try scratch(device, g.colRows * g.colCols)
        try device.im2col(x, col, geometry: g)
        for group in 0..<g.groups {
            var gemm = GEMM(m: og, n: plane, k: depth, batchCount: g.batch)
            gemm.ldb = g.colCols
            (gemm.offsetA, gemm.strideA) = (group * og * depth, 0)
            (gemm.offsetB, gemm.strideB) = (group * depth * g.colCols, plane)
            (gemm.offsetC, gemm.strideC) = (group * og * plane, g.outChannels * plane)
            try device.gemm(gemm, a: weight, b: col, c: y)
        }
        if let bias {
            try device.addChannelBias(y, bias: bias, batch: g.batch, channels: g.outChannels, inner: plane, relu: false)
        }
        return keep && col.count <= keptColumnLimit ? col : nil
    }

    /// What the compositions take from the pool per pass, with a device's own im2col and col2im
    /// (as OpenCL runs them): the forward's im2col matrix (kept for the weight gradient when asked
    /// and at most `keptColumnLimit`), the input gradient's column matrix, and the weight
    /// gradient's recomputed matrix (unless saved) and dy in rows. The weight gradient's optional
    /// split partial sums are at most 64 weight tensors and are left out.
    public static func convolutionScratch(_ pass: ConvolutionScratch.Pass, geometry g: ConvGeometry) -> ConvolutionScratch {
        let columns = g.colRows * g.colCols
        guard g.batch > 0 else { return ConvolutionScratch(buffers: []) }
        switch pass {
        case let .forward(keep): return ConvolutionScratch(buffers: [columns], keepsFirst: keep && columns <= keptColumnLimit)
        case .inputGradient: return ConvolutionScratch(buffers: [columns])
        case let .weightGradient(saved):
            return ConvolutionScratch(buffers: (saved ? [] : [columns]) + [g.outChannels * g.colCols])
        }
    }

    /// dx = col2im(Wᵀ·dy) per group: the GEMM batched over the images reads dy in NCHW as it is.
    public static func conv2dInputGradient(on device: any Device, _ dy: Buffer, weight: Buffer, _ dx: Buffer,
                                           geometry g: ConvGeometry) throws {
        guard g.batch > 0 else { return }
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups, plane = g.outHeight * g.outWidth
        let dcol = try scratch(device, g.colRows * g.colCols)
        for group in 0..<g.groups {
            var gemm = GEMM(m: depth, n: plane, k: og, transposeA: true, batchCount: g.batch)
            (gemm.offsetA, gemm.strideA) = (group * og * depth, 0)
            (gemm.ldb, gemm.offsetB, gemm.strideB) = (plane, group * og * plane, g.outChannels * plane)
            (gemm.ldc, gemm.offsetC, gemm.strideC) = (g.colCols, group * depth * g.colCols, plane)
            try device.gemm(gemm, a: weight, b: dy, c: dcol)
        }
        try device.col2im(dcol, dx, geometry: g)
    }

    /// dW = dY'·colᵀ per group, dY' = dy as [O, N·OH·OW] (one permuting copy), col the forward's
    /// when it was kept, else recomputed; the bias gradient is dy summed over pixels, then images.
    ///
    /// With `splits` > 1 (a divisor of N·OH·OW, see `weightGradientSplits`) the long inner
    /// dimension is cut into that many equal slices: one GEMM batched over the slices writes a
    /// partial dW per slice, and one per-element sum over the slices (`channelSums`) adds them.
    /// A GEMM with a tiny m×n and a huge k otherwise runs as one or two work-groups on a GPU.
    public static func conv2dWeightGradient(on device: any Device, _ x: Buffer, _ dy: Buffer, _ dw: Buffer,
                                            biasGradient: Buffer?, geometry g: ConvGeometry, saved: Buffer?,
                                            splits: Int = 1) throws {
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups, plane = g.outHeight * g.outWidth
        guard g.colCols > 0 else {
            try device.fill(dw, value: 0, offset: 0, count: g.outChannels * depth)
            if let biasGradient { try device.fill(biasGradient, value: 0, offset: 0, count: g.outChannels) }
            return
        }
        let col: Buffer
        if let saved {
            col = saved
        } else {
            col = try scratch(device, g.colRows * g.colCols)
            try device.im2col(x, col, geometry: g)
        }
        let rows = try scratch(device, g.outChannels * g.colCols)
        try device.copy(dy, rows, layout: StridedLayout(
            shape: [g.outChannels, g.batch, plane],
            strides: [[plane, g.outChannels * plane, 1], [g.colCols, plane, 1]]))
        if splits > 1 {
            precondition(g.colCols % splits == 0, "conv2dWeightGradient: \(splits) splits of \(g.colCols) columns")
            let slice = g.colCols / splits, weights = g.outChannels * depth
            let partial = try scratch(device, splits * weights)
            for group in 0..<g.groups {
                var gemm = GEMM(m: og, n: depth, k: slice, transposeB: true, batchCount: splits)
                (gemm.lda, gemm.ldb) = (g.colCols, g.colCols)
                (gemm.offsetA, gemm.offsetB, gemm.offsetC) = (group * og * g.colCols, group * depth * g.colCols, group * og * depth)
                (gemm.strideA, gemm.strideB, gemm.strideC) = (slice, slice, weights)
                try device.gemm(gemm, a: rows, b: col, c: partial)
            }
            try device.channelSums(partial, dw, batch: splits, channels: weights, inner: 1)
        } else {
            var gemm = GEMM(m: og, n: depth, k: g.colCols, transposeB: true, batchCount: g.groups)
            (gemm.strideA, gemm.strideB, gemm.strideC) = (og * g.colCols, depth * g.colCols, og * depth)
            try device.gemm(gemm, a: rows, b: col, c: dw)
        }
        if let biasGradient {
            try device.channelSums(dy, biasGradient, batch: g.batch, channels: g.outChannels, inner: plane)
        }
    }

    /// How many slices of N·OH·OW the weight-gradient GEMM of one group (m = O/groups, n = its
    /// C/groups·kh·kw) is cut into so that about `target` blocks of `tile`×`tile` outputs run at
    /// once: 1 when the GEMM already has that many blocks or its inner dimension is under two
    /// slices of `minimumSlice`; else the largest divisor of k (images × pixels) not above
    /// min(target ÷ blocks, k ÷ minimumSlice, 64), so every slice is the same GEMM.
    public static func weightGradientSplits(m: Int, n: Int, k: Int, target: Int, tile: Int = 32,
                                            minimumSlice: Int = 1024) -> Int {
        let blocks = ((m + tile - 1) / tile) * ((n + tile - 1) / tile)
        guard blocks > 0, blocks < target else { return 1 }
        let most = Swift.min((target + blocks - 1) / blocks, k / Swift.max(1, minimumSlice), 64)
        guard most >= 2 else { return 1 }
        for splits in stride(from: most, through: 2, by: -1) where k % splits == 0 { return splits }
        return 1
    }

    /// The image padded with zeros to [N, C, H + 2·padH, W + 2·padW] (x itself when unpadded).
    static func padded(_ device: any Device, _ x: Buffer, _ g: ConvGeometry) throws -> Buffer {
        guard g.padH > 0 || g.padW > 0 else { return x }
        let (hp, wp) = (g.height + 2 * g.padH, g.width + 2 * g.padW)
        let xp = try scratch(device, g.batch * g.channels * hp * wp)
        try device.fill(xp, value: 0, offset: 0, count: xp.count)
        try device.copy(x, xp, layout: StridedLayout(
            shape: [g.batch * g.channels, g.height, g.width],
            strides: [[g.height * g.width, g.width, 1], [hp * wp, wp, 1]],
            offsets: [0, g.padH * wp + g.padW]))
        return xp
    }

    /// Where tap (i, j) of every (channel, image, output pixel) reads the padded image: a strided
    /// view of shape [C, N, OH, OW], so im2col is one copy and col2im one add per tap.
    static func tapView(_ g: ConvGeometry, i: Int, j: Int) -> (shape: [Int], strides: [Int], offset: Int) {
        let (hp, wp) = (g.height + 2 * g.padH, g.width + 2 * g.padW)
        return ([g.channels, g.batch, g.outHeight, g.outWidth],
                [hp * wp, g.channels * hp * wp, g.strideH * wp, g.strideW],
                i * g.dilationH * wp + j * g.dilationW)
    }

    /// col row (c, i, j), columns (n, oh, ow): for each tap one strided copy out of the padded image.
    public static func im2col(on device: any Device, _ x: Buffer, _ col: Buffer, geometry g: ConvGeometry) throws {
        guard g.colRows * g.colCols > 0 else { return }
        let xp = try padded(device, x, g)
        let taps = g.kernelH * g.kernelW, plane = g.outHeight * g.outWidth
        for i in 0..<g.kernelH {
            for j in 0..<g.kernelW {
                let view = tapView(g, i: i, j: j)
                try device.copy(xp, col, layout: StridedLayout(
                    shape: view.shape, strides: [view.strides, [taps * g.colCols, plane, g.outWidth, 1]],
                    offsets: [view.offset, (i * g.kernelW + j) * g.colCols]))
            }
        }
    }

    /// The adjoint: a zero padded image, then for each tap (in im2col's row order) the tap's
    /// columns added onto its view (a sum into a temporary and a copy back: a view of one tap never
    /// reads a pixel twice), then the interior copied out.
    public static func col2im(on device: any Device, _ col: Buffer, _ x: Buffer, geometry g: ConvGeometry) throws {
        let count = g.batch * g.channels * g.height * g.width
        guard count > 0 else { return }
        let (hp, wp) = (g.height + 2 * g.padH, g.width + 2 * g.padW)
        let xp = try scratch(device, g.batch * g.channels * hp * wp)
        try device.fill(xp, value: 0, offset: 0, count: xp.count)
        let taps = g.kernelH * g.kernelW, plane = g.outHeight * g.outWidth
        let sum = try scratch(device, g.channels * g.batch * plane)
        for i in 0..<g.kernelH {
            for j in 0..<g.kernelW where g.colCols > 0 {
                let view = tapView(g, i: i, j: j)
                let columns = [taps * g.colCols, plane, g.outWidth, 1]
                try device.binary(.add, xp, col, sum, layout: StridedLayout(
                    shape: view.shape, strides: [view.strides, columns], offsets: [view.offset, (i * g.kernelW + j) * g.colCols]))
                try device.copy(sum, xp, layout: StridedLayout(
                    shape: view.shape, strides: [Shapes.strides(view.shape), view.strides], offsets: [0, view.offset]))
            }
        }
        try device.copy(xp, x, layout: StridedLayout(
            shape: [g.batch * g.channels, g.height, g.width],
            strides: [[hp * wp, wp, 1], [g.height * g.width, g.width, 1]],
            offsets: [g.padH * wp + g.padW, 0]))
    }
}
