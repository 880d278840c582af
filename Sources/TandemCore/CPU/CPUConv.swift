/// Convolution on the CPU. Training runs image by image (`ImageConvolution`): each worker takes a
/// range of images, builds one image's im2col block in a scratch buffer that stays in cache, and
/// multiplies it with single-threaded OpenBLAS, so no batch-sized column matrix is ever written.
/// The batch-wide `im2col`/`col2im` primitives belong to the closed set every device implements;
/// `Tensor.conv2d` does not call them on the CPU, and they are thin loops over the same per-image
/// functions that the convolution checks exercise.
extension CPUDevice: ImageConvolution {
    public func im2col(_ x: Buffer, _ col: Buffer, geometry g: ConvGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "im2col") }
        let px = SharedPointer(host(x).pointer), pc = SharedPointer(host(col).pointer)
        let plane = g.outHeight * g.outWidth, imageSize = g.channels * g.height * g.width
        // Rows of the column matrix are independent: split them over the cores.
        Parallel.chunks(g.colRows, cost: g.colCols) { rows in
            for n in 0..<g.batch {
                Self.im2colImage(px.base + n * imageSize, into: pc.base + n * plane, rowLength: g.colCols, rows: rows, g)
            }
        }
    }

    /// The adjoint of im2col: every pixel sums the column entries that read it, in (channel, kernel
    /// row, kernel column) order. Each worker owns a range of images.
    public func col2im(_ col: Buffer, _ x: Buffer, geometry g: ConvGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "col2im") }
        let pc = SharedPointer(host(col).pointer), px = SharedPointer(host(x).pointer)
        let plane = g.outHeight * g.outWidth, imageSize = g.channels * g.height * g.width
        Parallel.chunks(g.batch, cost: g.colRows * plane) { images in
            for n in images {
                Self.col2imImage(pc.base + n * plane, rowLength: g.colCols, into: px.base + n * imageSize, g)
            }
        }
    }

    /// Rows `rows` of one image's im2col block: row r = (c, i, j) holds, for every output pixel, the
    /// input pixel that kernel tap (i, j) of channel c reads (0 in the padding). Row r starts at
    /// `target + r · rowLength`.
    static func im2colImage(_ image: UnsafeMutablePointer<Float>, into target: UnsafeMutablePointer<Float>, rowLength: Int,
                            rows: Range<Int>, _ g: ConvGeometry) {
        let oh = g.outHeight, ow = g.outWidth
        for row in rows {
            let j = row % g.kernelW, i = (row / g.kernelW) % g.kernelH, c = row / (g.kernelW * g.kernelH)
            // Output columns xo whose input column xo·stride − pad + j·dilation lies inside the image.
            let shift = j * g.dilationW - g.padW
            var first = 0, last = ow
            if g.strideW == 1 {
                first = min(ow, max(0, -shift))
                last = max(first, min(ow, g.width - shift))
            }
            let plane = image + c * g.height * g.width
            for y in 0..<oh {
                let out = target + row * rowLength + y * ow
                let h = y * g.strideH - g.padH + i * g.dilationH
                guard h >= 0, h < g.height else {
                    for xo in 0..<ow { out[xo] = 0 }
                    continue
                }
                let line = plane + h * g.width
                if g.strideW == 1 {
                    // Zeros left and right of the image, a contiguous run in between, copied eight
                    // floats at a time (the lines are short: a library call per line costs more).
                    for xo in 0..<first { out[xo] = 0 }
                    Self.copyRun(from: line + shift + first, to: out + first, count: last - first)
                    for xo in last..<ow { out[xo] = 0 }
                } else {
                    var w = shift
                    for xo in 0..<ow {
                        out[xo] = w >= 0 && w < g.width ? line[w] : 0
                        w += g.strideW
                    }
                }
            }
        }
    }

    /// `to[0..<count] = from[0..<count]` in SIMD8 chunks and a scalar tail.
    @inline(__always)
    static func copyRun(from: UnsafeMutablePointer<Float>, to: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ 8 <= count {
            UnsafeMutableRawPointer(to + i).storeBytes(of: UnsafeRawPointer(from + i).loadUnaligned(as: SIMD8<Float>.self),
                                                       as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < count { to[i] = from[i]; i &+= 1 }
    }

    /// `to[0..<count] += from[0..<count]` in SIMD8 chunks and a scalar tail.
    @inline(__always)
    static func addRun(from: UnsafeMutablePointer<Float>, to: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ 8 <= count {
            let sum = UnsafeRawPointer(to + i).loadUnaligned(as: SIMD8<Float>.self)
                + UnsafeRawPointer(from + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(to + i).storeBytes(of: sum, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < count { to[i] += from[i]; i &+= 1 }
    }

    /// One image of col2im: zeroes the image, then adds every column entry to the pixel it came from.
    static func col2imImage(_ col: UnsafeMutablePointer<Float>, rowLength: Int, into image: UnsafeMutablePointer<Float>,
                            _ g: ConvGeometry) {
        let oh = g.outHeight, ow = g.outWidth
        image.update(repeating: 0, count: g.channels * g.height * g.width)
        for c in 0..<g.channels {
            let plane = image + c * g.height * g.width
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let row = (c * g.kernelH + i) * g.kernelW + j
                    let shift = j * g.dilationW - g.padW
                    var first = 0, last = ow
                    if g.strideW == 1 {
                        first = min(ow, max(0, -shift))
                        last = max(first, min(ow, g.width - shift))
                    }
                    for y in 0..<oh {
                        let h = y * g.strideH - g.padH + i * g.dilationH
                        guard h >= 0, h < g.height else { continue }
                        let source = col + row * rowLength + y * ow
                        let line = plane + h * g.width
                        if g.strideW == 1 {
                            Self.addRun(from: source + first, to: line + shift + first, count: last - first)
                        } else {
                            var w = shift
                            for xo in 0..<ow {
                                if w >= 0 && w < g.width { line[w] += source[xo] }
                                w += g.strideW
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether one image's im2col block is the image itself (1×1 kernel, stride 1, no padding).
    private static func columnsAreImage(_ g: ConvGeometry) -> Bool {
        g.kernelH == 1 && g.kernelW == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0
    }

    /// Runs `body(images, part, scratch)` over ranges of images on the workers, each with its own
    /// scratch block of one image's im2col size, taken from the device's pool (so a training step
    /// touches no fresh memory).
    private func byImage(_ g: ConvGeometry, _ body: @Sendable (Range<Int>, Int, UnsafeMutablePointer<Float>) -> Void) throws {
        let scratchCount = Self.columnsAreImage(g) ? 1 : g.colRows * g.outHeight * g.outWidth
        let parts = min(Parallel.workers, g.batch)
        let scratch = try allocate(parts * scratchCount)
        let base = SharedPointer(host(scratch).pointer)
        Parallel.split(g.batch, parts: parts, align: 1) { part, images in
            body(images, part, base.base + part * scratchCount)
        }
        withExtendedLifetime(scratch) {}
    }

    public func conv2dForward(_ x: Buffer, weight: Buffer, bias: Buffer?, _ y: Buffer, geometry g: ConvGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "conv2d") }
        let px = SharedPointer(host(x).pointer), pw = SharedPointer(host(weight).pointer), py = SharedPointer(host(y).pointer)
        let pb = bias.map { SharedPointer(host($0).pointer) }
        let plane = g.outHeight * g.outWidth, imageSize = g.channels * g.height * g.width
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups, direct = Self.columnsAreImage(g)
        GEMMCounter.add(GEMM(m: g.outChannels, n: plane, k: depth, batchCount: g.batch))
        try byImage(g) { images, _, scratch in
            for n in images {
                let image = px.base + n * imageSize
                let col = direct ? image : scratch
                if !direct { Self.im2colImage(image, into: scratch, rowLength: plane, rows: 0..<g.colRows, g) }
                let out = py.base + n * g.outChannels * plane
                for group in 0..<g.groups {
                    var gemm = GEMM(m: og, n: plane, k: depth)
                    gemm.offsetA = group * og * depth
                    gemm.offsetB = group * depth * plane
                    gemm.offsetC = group * og * plane
                    Self.sgemm(gemm, pw.base, col, out)
                }
                if let pb {
                    for o in 0..<g.outChannels {
                        let value = pb.base[o], row = out + o * plane
                        for p in 0..<plane { row[p] += value }
                    }
                }
            }
        }
    }

    public func conv2dInputGradient(_ dy: Buffer, weight: Buffer, _ dx: Buffer, geometry g: ConvGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "conv2d input gradient") }
        let pdy = SharedPointer(host(dy).pointer), pw = SharedPointer(host(weight).pointer), pdx = SharedPointer(host(dx).pointer)
        let plane = g.outHeight * g.outWidth, imageSize = g.channels * g.height * g.width
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups, direct = Self.columnsAreImage(g)
        GEMMCounter.add(GEMM(m: depth, n: plane, k: og, batchCount: g.batch * g.groups))
        try byImage(g) { images, _, scratch in
            for n in images {
                // dcol = Wᵀ·dY per group, straight into the image when the columns are the image.
                let image = pdx.base + n * imageSize
                let dcol = direct ? image : scratch
                for group in 0..<g.groups {
                    var gemm = GEMM(m: depth, n: plane, k: og, transposeA: true)
                    gemm.offsetA = group * og * depth
                    gemm.offsetB = n * g.outChannels * plane + group * og * plane
                    gemm.offsetC = group * depth * plane
                    Self.sgemm(gemm, pw.base, pdy.base, dcol)
                }
                if !direct { Self.col2imImage(scratch, rowLength: plane, into: image, g) }
            }
        }
    }

    public func conv2dWeightGradient(_ x: Buffer, _ dy: Buffer, _ dw: Buffer, geometry g: ConvGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "conv2d weight gradient") }
        let px = SharedPointer(host(x).pointer), pdy = SharedPointer(host(dy).pointer), pdw = host(dw).pointer
        let plane = g.outHeight * g.outWidth, imageSize = g.channels * g.height * g.width
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups, direct = Self.columnsAreImage(g)
        let weightCount = g.outChannels * depth
        GEMMCounter.add(GEMM(m: og, n: depth, k: plane, batchCount: g.batch * g.groups))
        // Each worker sums its images into its own partial dW; the partials are added in worker order.
        let parts = min(Parallel.workers, g.batch)
        let partialBuffer = try allocate(parts * weightCount)
        let partials = host(partialBuffer).pointer
        defer { withExtendedLifetime(partialBuffer) {} }
        partials.update(repeating: 0, count: parts * weightCount)
        let shared = SharedPointer(partials)
        try byImage(g) { images, part, scratch in
            let partial = shared.base + part * weightCount
            for n in images {
                let image = px.base + n * imageSize
                let col = direct ? image : scratch
                if !direct { Self.im2colImage(image, into: scratch, rowLength: plane, rows: 0..<g.colRows, g) }
                for group in 0..<g.groups {
                    var gemm = GEMM(m: og, n: depth, k: plane, transposeB: true, beta: 1)
                    gemm.offsetA = n * g.outChannels * plane + group * og * plane
                    gemm.offsetB = group * depth * plane
                    gemm.offsetC = group * og * depth
                    Self.sgemm(gemm, pdy.base, col, partial)
                }
            }
        }
        pdw.update(from: partials, count: weightCount)
        for part in 1..<max(parts, 1) { Self.addRun(from: partials + part * weightCount, to: pdw, count: weightCount) }
    }
}
