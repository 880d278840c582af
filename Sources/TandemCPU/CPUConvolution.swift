import TandemCore

/// The three convolution passes on the CPU (`FusedPrimitives`), its own algorithm: each worker
/// takes a range of images, builds the im2col block of one image (or of up to four, side by side,
/// when their output planes are small) in a scratch buffer that stays in cache, and multiplies it
/// with single-threaded OpenBLAS, so no batch-sized column matrix is ever written and nothing is
/// kept from the forward. The batch-wide `im2col`/`col2im` are not needed here: the CPU keeps
/// their reference compositions, which only the self-test's composed checks run.
extension CPUDevice {
    /// Rows `rows` of one image's im2col block: row r = (c, i, j) holds, for every output pixel, the
    /// input pixel that kernel tap (i, j) of channel c reads (0 in the padding). Row r starts at
    /// `target + r · rowLength`.
    static func im2colImage(_ image: UnsafeMutablePointer<Float>, into target: UnsafeMutablePointer<Float>, rowLength: Int,
                            rows: Range<Int>, _ g: ConvGeometry) {
        let oh = g.outHeight, ow = g.outWidth
        if isDense(g) {
            // No padding, stride and dilation 1: every line is one run of `ow` floats.
            for row in rows {
                let (c, i, j) = tap(row, g)
                var line = image + (c * g.height + i) * g.width + j, out = target + row * rowLength
                for _ in 0..<oh {
                    Self.copyRun(from: line, to: out, count: ow)
                    line += g.width
                    out += ow
                }
            }
            return
        }
        for row in rows {
            let (c, i, j) = tap(row, g)
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

    /// `to[0..<count] += from[0..<count]`, eight lanes at a time (`axpy` with α = 1, exact).
    @inline(__always)
    static func addRun(from: UnsafeMutablePointer<Float>, to: UnsafeMutablePointer<Float>, count: Int) {
        axpy(1, from, to, count: count)
    }

    /// The channel and kernel tap (c, i, j) that im2col row `row` holds.
    @inline(__always)
    static func tap(_ row: Int, _ g: ConvGeometry) -> (c: Int, i: Int, j: Int) {
        (row / (g.kernelW * g.kernelH), (row / g.kernelW) % g.kernelH, row % g.kernelW)
    }

    /// Whether every kernel tap reads a whole run of the input (no padding, stride and dilation 1).
    @inline(__always)
    static func isDense(_ g: ConvGeometry) -> Bool {
        g.padH == 0 && g.padW == 0 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
    }

    /// One image of col2im: zeroes the image, then adds every column entry to the pixel it came from.
    static func col2imImage(_ col: UnsafeMutablePointer<Float>, rowLength: Int, into image: UnsafeMutablePointer<Float>,
                            _ g: ConvGeometry) {
        let oh = g.outHeight, ow = g.outWidth
        image.update(repeating: 0, count: g.channels * g.height * g.width)
        if isDense(g) {
            for row in 0..<g.colRows {
                let (c, i, j) = tap(row, g)
                var line = image + (c * g.height + i) * g.width + j, source = col + row * rowLength
                for _ in 0..<oh {
                    Self.addRun(from: source, to: line, count: ow)
                    line += g.width
                    source += ow
                }
            }
            return
        }
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

    /// Workers a convolution runs on: one range of images each (`byChunk`, and the weight
    /// gradient's partial sums, one per worker).
    private static func convWorkers(_ g: ConvGeometry) -> Int { min(Parallel.workers, g.batch) }

    /// Whether one image's im2col block is the image itself (1×1 kernel, stride 1, no padding).
    private static func columnsAreImage(_ g: ConvGeometry) -> Bool {
        g.kernelH == 1 && g.kernelW == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0
    }

    /// Runs `body(chunk, part, columns, gathered)` over the batch: each worker takes a range of
    /// images and walks it in chunks of `ConvChunks.images(g)`, with its own scratch for one chunk's
    /// im2col block and one chunk's gathered output (`O × chunk·plane`), taken from the device's pool
    /// (so a training step touches no fresh memory).
    private func byChunk(_ g: ConvGeometry,
                         _ body: @Sendable (Range<Int>, Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) throws {
        let (columnCount, gatheredCount) = Self.chunkScratch(g)
        let parts = Self.convWorkers(g), chunk = ConvChunks.images(g)
        let scratch = try allocate(Self.scratchCount(g))
        let base = SharedPointer(host(scratch).pointer)
        Parallel.split(g.batch, parts: parts, align: 1) { part, images in
            let columns = base.base + part * (columnCount + gatheredCount)
            var start = images.lowerBound
            while start < images.upperBound {
                let end = min(images.upperBound, start + chunk)
                body(start..<end, part, columns, columns + columnCount)
                start = end
            }
        }
        withExtendedLifetime(scratch) {}
    }

    /// Floats of one worker's im2col block and gathered output for one chunk of images.
    private static func chunkScratch(_ g: ConvGeometry) -> (columns: Int, gathered: Int) {
        let plane = g.outHeight * g.outWidth, chunk = ConvChunks.images(g)
        return (g.colRows * plane * chunk, chunk > 1 ? g.outChannels * plane * chunk : 0)
    }

    /// Floats of the scratch buffer of a pass (`byChunk`): every worker's chunk scratch, rounded
    /// up to a power of two so that the convolutions of a network share a few pooled blocks
    /// instead of caching one block per distinct layer shape.
    private static func scratchCount(_ g: ConvGeometry) -> Int {
        let (columns, gathered) = chunkScratch(g)
        let needed = max(1, convWorkers(g) * (columns + gathered))
        return 1 << (Int.bitWidth - (needed - 1).leadingZeroBitCount)
    }

    /// The pool memory of each pass: the workers' scratch (one image's columns each, or a few
    /// images' when the planes are small), and for the weight gradient the workers' partial dW
    /// first. Nothing is kept from the forward.
    public func convolutionScratch(_ pass: ConvolutionScratch.Pass, geometry g: ConvGeometry) -> ConvolutionScratch {
        guard g.batch > 0 else { return ConvolutionScratch(buffers: []) }
        if case .weightGradient = pass {
            return ConvolutionScratch(buffers: [Self.convWorkers(g) * g.outChannels * (g.colRows / g.groups), Self.scratchCount(g)])
        }
        return ConvolutionScratch(buffers: [Self.scratchCount(g)])
    }

    /// Builds the im2col block of images `chunk` in `columns` (rows of `chunk.count · plane`, image
    /// by image) and returns it, or returns the image itself when that is already its block.
    private static func chunkColumns(_ x: UnsafeMutablePointer<Float>, _ chunk: Range<Int>, _ columns: UnsafeMutablePointer<Float>,
                                     _ g: ConvGeometry) -> UnsafeMutablePointer<Float> {
        let plane = g.outHeight * g.outWidth, imageSize = g.channels * g.height * g.width
        if chunk.count == 1 && columnsAreImage(g) { return x + chunk.lowerBound * imageSize }
        for (b, n) in chunk.enumerated() {
            im2colImage(x + n * imageSize, into: columns + b * plane, rowLength: chunk.count * plane, rows: 0..<g.colRows, g)
        }
        return columns
    }

    /// The output gradient of images `chunk` as one matrix [O, chunk.count · plane]: dY itself for
    /// one image, else gathered into `gathered`.
    private static func chunkOutput(_ dy: UnsafeMutablePointer<Float>, _ chunk: Range<Int>, _ gathered: UnsafeMutablePointer<Float>,
                                    _ g: ConvGeometry) -> UnsafeMutablePointer<Float> {
        let plane = g.outHeight * g.outWidth, width = chunk.count * plane
        if chunk.count == 1 { return dy + chunk.lowerBound * g.outChannels * plane }
        for (b, n) in chunk.enumerated() {
            for o in 0..<g.outChannels {
                copyRun(from: dy + (n * g.outChannels + o) * plane, to: gathered + o * width + b * plane, count: plane)
            }
        }
        return gathered
    }

    public func conv2dForward(_ x: Buffer, weight: Buffer, bias: Buffer?, _ y: Buffer, geometry g: ConvGeometry,
                              keep: Bool) throws -> Buffer? {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "conv2d") }
        let px = SharedPointer(host(x).pointer), pw = SharedPointer(host(weight).pointer), py = SharedPointer(host(y).pointer)
        let pb = bias.map { SharedPointer(host($0).pointer) }
        let plane = g.outHeight * g.outWidth
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups
        GEMMCounter.add(GEMM(m: g.outChannels, n: plane, k: depth, batchCount: g.batch))
        try byChunk(g) { chunk, _, columns, gathered in
            let col = Self.chunkColumns(px.base, chunk, columns, g)
            let width = chunk.count * plane
            // One image writes straight into Y; a chunk goes through `gathered` and is scattered.
            let out = chunk.count == 1 ? py.base + chunk.lowerBound * g.outChannels * plane : gathered
            for group in 0..<g.groups {
                var gemm = GEMM(m: og, n: width, k: depth)
                gemm.offsetA = group * og * depth
                gemm.offsetB = group * depth * width
                gemm.offsetC = group * og * width
                Self.sgemm(gemm, pw.base, col, out)
            }
            for (b, n) in chunk.enumerated() {
                for o in 0..<g.outChannels {
                    let row = py.base + (n * g.outChannels + o) * plane
                    if chunk.count > 1 { Self.copyRun(from: gathered + o * width + b * plane, to: row, count: plane) }
                    if let pb {
                        let value = pb.base[o]
                        for p in 0..<plane { row[p] += value }
                    }
                }
            }
        }
        return nil  // The weight gradient rebuilds each image's columns in cache.
    }

    public func conv2dInputGradient(_ dy: Buffer, weight: Buffer, _ dx: Buffer, geometry g: ConvGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "conv2d input gradient") }
        let pdy = SharedPointer(host(dy).pointer), pw = SharedPointer(host(weight).pointer), pdx = SharedPointer(host(dx).pointer)
        let plane = g.outHeight * g.outWidth, imageSize = g.channels * g.height * g.width
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups, direct = Self.columnsAreImage(g)
        GEMMCounter.add(GEMM(m: depth, n: plane, k: og, batchCount: g.batch * g.groups))
        try byChunk(g) { chunk, _, columns, gathered in
            let width = chunk.count * plane
            let dyChunk = Self.chunkOutput(pdy.base, chunk, gathered, g)
            // dcol = Wᵀ·dY per group, straight into the image when one image's columns are the image.
            let inPlace = direct && chunk.count == 1
            let dcol = inPlace ? pdx.base + chunk.lowerBound * imageSize : columns
            for group in 0..<g.groups {
                var gemm = GEMM(m: depth, n: width, k: og, transposeA: true)
                gemm.offsetA = group * og * depth
                gemm.offsetB = group * og * width
                gemm.offsetC = group * depth * width
                Self.sgemm(gemm, pw.base, dyChunk, dcol)
            }
            if !inPlace {
                for (b, n) in chunk.enumerated() {
                    Self.col2imImage(columns + b * plane, rowLength: width, into: pdx.base + n * imageSize, g)
                }
            }
        }
    }

    public func conv2dWeightGradient(_ x: Buffer, _ dy: Buffer, _ dw: Buffer, biasGradient db: Buffer?,
                                     geometry g: ConvGeometry, saved: Buffer?) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "conv2d weight gradient") }
        let px = SharedPointer(host(x).pointer), pdy = SharedPointer(host(dy).pointer), pdw = host(dw).pointer
        let plane = g.outHeight * g.outWidth
        let og = g.outChannels / g.groups, depth = g.colRows / g.groups
        let weightCount = g.outChannels * depth
        GEMMCounter.add(GEMM(m: og, n: depth, k: plane, batchCount: g.batch * g.groups))
        // Each worker sums its images into its own partial dW (and partial bias sums, in float64);
        // the partials are added in worker order, so the result is the same on every run.
        let parts = Self.convWorkers(g)
        let partialBuffer = try allocate(parts * weightCount)
        let partials = host(partialBuffer).pointer
        defer { withExtendedLifetime(partialBuffer) {} }
        partials.update(repeating: 0, count: parts * weightCount)
        let biasSums = UnsafeMutablePointer<Double>.allocate(capacity: max(1, parts * g.outChannels))
        defer { biasSums.deallocate() }
        biasSums.update(repeating: 0, count: max(1, parts * g.outChannels))
        let shared = SharedPointer(partials), sharedBias = SharedPointer(biasSums), wantsBias = db != nil
        try byChunk(g) { chunk, part, columns, gathered in
            let width = chunk.count * plane
            let partial = shared.base + part * weightCount
            let col = Self.chunkColumns(px.base, chunk, columns, g)
            let dyChunk = Self.chunkOutput(pdy.base, chunk, gathered, g)
            for group in 0..<g.groups {
                var gemm = GEMM(m: og, n: depth, k: width, transposeB: true, beta: 1)
                gemm.offsetA = group * og * width
                gemm.offsetB = group * depth * width
                gemm.offsetC = group * og * depth
                Self.sgemm(gemm, dyChunk, col, partial)
            }
            if wantsBias {
                let sums = sharedBias.base + part * g.outChannels
                for o in 0..<g.outChannels { sums[o] += Double(Self.sumRun(dyChunk + o * width, count: width)) }
            }
        }
        pdw.update(from: partials, count: weightCount)
        for part in 1..<max(parts, 1) { Self.addRun(from: partials + part * weightCount, to: pdw, count: weightCount) }
        if let db {
            let pdb = host(db).pointer
            for o in 0..<g.outChannels {
                var total = 0.0
                for part in 0..<parts { total += biasSums[part * g.outChannels + o] }
                pdb[o] = Float(total)
            }
        }
    }

    /// The sum of `count` floats, eight lanes at a time (a row of at most a few thousand values).
    @inline(__always)
    static func sumRun(_ p: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(), i = 0
        while i &+ 8 <= count {
            lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            i &+= 8
        }
        var total = lanes.sum()
        while i < count { total += p[i]; i &+= 1 }
        return total
    }
}

/// How the CPU cuts a batch for convolution. Images with small output planes (LeNet's 8×8, MTAN's
/// deep 4×4 levels) make GEMMs too thin to run well one image at a time, so a worker builds the
/// im2col block of several images side by side and multiplies them at once.
enum ConvChunks {
    /// Column-block size (floats) a chunk aims for: 512 KiB, well inside a core's L2.
    static let columnBudget = 1 << 17
    /// Planes at least this large already give a wide enough GEMM from one image.
    static let widePlane = 512
    /// The most images in one chunk.
    static let maximumImages = 4

    /// Images per chunk for `g`.
    static func images(_ g: ConvGeometry) -> Int {
        let plane = g.outHeight * g.outWidth
        guard plane < widePlane else { return 1 }
        return max(1, min(maximumImages, columnBudget / max(1, g.colRows * plane)))
    }
}
