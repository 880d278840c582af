#if canImport(Glibc)
import Glibc
#endif

/// Source coordinate rules of the resampling ops, shared by the CPU loops (the kernels in
/// `Kernels/pool.cl` mirror them line by line). PyTorch's formulas: with `alignCorners` the corner
/// pixels of input and output coincide (scale (in−1)/(out−1)); without it pixel centres are mapped
/// (half-pixel, scale in/out) and the source is clamped at 0.
enum Resample {
    @inline(__always)
    static func bilinearScale(_ input: Int, _ output: Int, alignCorners: Bool) -> Float {
        if alignCorners { return output > 1 ? Float(input - 1) / Float(output - 1) : 0 }
        return Float(input) / Float(output)
    }

    /// The two source taps of output coordinate `o` and the weight of the second.
    @inline(__always)
    static func bilinearTaps(_ o: Int, input: Int, scale: Float, alignCorners: Bool) -> (Int, Int, Float) {
        let source = alignCorners ? Float(o) * scale : Swift.max(0, (Float(o) + 0.5) * scale - 0.5)
        let i0 = Swift.min(Int(source), input - 1)
        let i1 = Swift.min(i0 + 1, input - 1)
        return (i0, i1, source - Float(i0))
    }

    /// Output coordinates that may read input coordinate `i` (a superset; callers check each one).
    @inline(__always)
    static func bilinearCandidates(_ i: Int, output: Int, scale: Float, alignCorners: Bool) -> (Int, Int) {
        if scale == 0 { return (0, output - 1) }
        let offset: Float = alignCorners ? 0 : 0.5
        let low = i <= 1 ? 0 : Int(floorf((Float(i - 1) + offset) / scale - offset)) - 1
        let high = Int(ceilf((Float(i + 1) + offset) / scale - offset)) + 1
        return (Swift.max(low, 0), Swift.min(high, output - 1))
    }

    /// Weight of input coordinate `i` in output coordinate `o`.
    @inline(__always)
    static func bilinearWeight(_ o: Int, _ i: Int, input: Int, scale: Float, alignCorners: Bool) -> Float {
        let (i0, i1, lambda) = bilinearTaps(o, input: input, scale: scale, alignCorners: alignCorners)
        return (i0 == i ? 1 - lambda : 0) + (i1 == i ? lambda : 0)
    }

    /// First output window (inclusive) and last whose span `o·stride − pad ..< … + kernel` covers `i`.
    @inline(__always)
    static func windows(covering i: Int, kernel: Int, stride: Int, pad: Int, outputs: Int) -> (Int, Int) {
        let t = i + pad - kernel + 1
        let low = t <= 0 ? 0 : (t + stride - 1) / stride
        return (low, Swift.min((i + pad) / stride, outputs - 1))
    }
}

/// Pooling and resampling primitives on the CPU. Every backward is a gather: each input pixel sums
/// the output gradients that read it, so no two iterations write the same element.
extension CPUDevice {
    public func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry g: PoolGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "maxPool2d") }
        let px = SharedPointer(host(x).pointer), py = SharedPointer(host(y).pointer), pi = SharedPointer(host(indices).pointer)
        let oh = g.outHeight, ow = g.outWidth
        if g.kernelH == 2, g.kernelW == 2, g.strideH == 2, g.strideW == 2, g.padH == 0, g.padW == 0 {
            maxPool2x2(px, py, pi, g)
            return
        }
        Parallel.chunks(g.planes, cost: g.height * g.width) { planes in
            for p in planes {
                let plane = px.base + p * g.height * g.width
                for r in 0..<oh {
                    // Window rows and columns clipped to the image (padding never wins a max).
                    let h0 = max(0, r * g.strideH - g.padH), h1 = min(g.height, r * g.strideH - g.padH + g.kernelH)
                    for c in 0..<ow {
                        let w0 = max(0, c * g.strideW - g.padW), w1 = min(g.width, c * g.strideW - g.padW + g.kernelW)
                        var best = -Float.infinity, bestIndex = -1
                        for h in h0..<max(h0, h1) {
                            let line = plane + h * g.width
                            for w in w0..<max(w0, w1) {
                                let v = line[w]
                                // The first maximum wins; a NaN wins over numbers (it propagates, as in PyTorch).
                                if bestIndex < 0 || v > best || (v.isNaN && !best.isNaN) { best = v; bestIndex = h * g.width + w }
                            }
                        }
                        let o = (p * oh + r) * ow + c
                        py.base[o] = best
                        pi.base[o] = Float(bestIndex)
                    }
                }
            }
        }
    }

    /// The common 2×2, stride 2, unpadded window: four loads per output in the same order (and with
    /// the same first-maximum and NaN rules) as the general loop.
    private func maxPool2x2(_ px: SharedPointer<Float>, _ py: SharedPointer<Float>, _ pi: SharedPointer<Float>, _ g: PoolGeometry) {
        let oh = g.outHeight, ow = g.outWidth, width = g.width
        let lanes = SIMD8<Float>(0, 2, 4, 6, 8, 10, 12, 14)
        Parallel.chunks(g.planes, cost: g.height * g.width) { planes in
            for p in planes {
                let plane = px.base + p * g.height * width
                var o = p * oh * ow
                for r in 0..<oh {
                    let top = plane + 2 * r * width, bottom = top + width
                    var c = 0
                    // Eight windows at a time: even and odd columns of both rows, lane-wise selects.
                    while c &+ 8 <= ow {
                        let t = UnsafeRawPointer(top + 2 &* c).loadUnaligned(as: SIMD16<Float>.self)
                        let b = UnsafeRawPointer(bottom + 2 &* c).loadUnaligned(as: SIMD16<Float>.self)
                        let base = SIMD8<Float>(repeating: Float(2 &* r &* width &+ 2 &* c)) + lanes
                        var best = t.evenHalf, index = base
                        @inline(__always) func consider(_ v: SIMD8<Float>, _ offset: Float) {
                            let wins = (v .> best) .| ((v .!= v) .& (best .== best))
                            index.replace(with: base + offset, where: wins)
                            best.replace(with: v, where: wins)
                        }
                        consider(t.oddHalf, 1)
                        consider(b.evenHalf, Float(width))
                        consider(b.oddHalf, Float(width + 1))
                        UnsafeMutableRawPointer(py.base + o).storeBytes(of: best, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(pi.base + o).storeBytes(of: index, as: SIMD8<Float>.self)
                        o &+= 8
                        c &+= 8
                    }
                    // Four windows at a time (LeNet's 8×8 → 4×4 planes), the same selects. Written out
                    // twice on purpose: one helper generic over the SIMD width was not specialised by
                    // the compiler and made this loop about 30× slower (W2 max-pool 0.5 → 15 ms).
                    while c &+ 4 <= ow {
                        let t = UnsafeRawPointer(top + 2 &* c).loadUnaligned(as: SIMD8<Float>.self)
                        let b = UnsafeRawPointer(bottom + 2 &* c).loadUnaligned(as: SIMD8<Float>.self)
                        let base = SIMD4<Float>(repeating: Float(2 &* r &* width &+ 2 &* c)) + lanes.lowHalf
                        var best = t.evenHalf, index = base
                        @inline(__always) func consider(_ v: SIMD4<Float>, _ offset: Float) {
                            let wins = (v .> best) .| ((v .!= v) .& (best .== best))
                            index.replace(with: base + offset, where: wins)
                            best.replace(with: v, where: wins)
                        }
                        consider(t.oddHalf, 1)
                        consider(b.evenHalf, Float(width))
                        consider(b.oddHalf, Float(width + 1))
                        UnsafeMutableRawPointer(py.base + o).storeBytes(of: best, as: SIMD4<Float>.self)
                        UnsafeMutableRawPointer(pi.base + o).storeBytes(of: index, as: SIMD4<Float>.self)
                        o &+= 4
                        c &+= 4
                    }
                    while c < ow {
                        let w = 2 &* c, first = 2 &* r &* width &+ w
                        var best = top[w], bestIndex = first
                        // Branch-free: which pixel wins is data, and a mispredicted jump per
                        // comparison costs more than the comparisons. `!(v <= best)` is v > best or
                        // either is NaN; a NaN already chosen stays (the first NaN wins).
                        @inline(__always) func consider(_ v: Float, _ index: Int) {
                            let wins = (v <= best ? 0 : 1) & (best == best ? 1 : 0)
                            best = wins != 0 ? v : best
                            bestIndex = wins != 0 ? index : bestIndex
                        }
                        consider(top[w &+ 1], first &+ 1)
                        consider(bottom[w], first &+ width)
                        consider(bottom[w &+ 1], first &+ width &+ 1)
                        py.base[o] = best
                        pi.base[o] = Float(bestIndex)
                        o &+= 1
                        c &+= 1
                    }
                }
            }
        }
    }

    public func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry g: PoolGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "maxPool2dBackward") }
        let pdy = SharedPointer(host(dy).pointer), pi = SharedPointer(host(indices).pointer), pdx = SharedPointer(host(dx).pointer)
        let oh = g.outHeight, ow = g.outWidth
        Parallel.chunks(g.planes, cost: g.height * g.width) { planes in
            for p in planes {
                for h in 0..<g.height {
                    let (r0, r1) = Resample.windows(covering: h, kernel: g.kernelH, stride: g.strideH, pad: g.padH, outputs: oh)
                    for w in 0..<g.width {
                        let (c0, c1) = Resample.windows(covering: w, kernel: g.kernelW, stride: g.strideW, pad: g.padW, outputs: ow)
                        let me = Float(h * g.width + w)
                        var sum: Float = 0
                        if r0 <= r1 && c0 <= c1 {
                            for r in r0...r1 {
                                for c in c0...c1 {
                                    let o = (p * oh + r) * ow + c
                                    if pi.base[o] == me { sum += pdy.base[o] }
                                }
                            }
                        }
                        pdx.base[(p * g.height + h) * g.width + w] = sum
                    }
                }
            }
        }
    }

    public func avgPool2d(_ x: Buffer, _ y: Buffer, geometry g: PoolGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "avgPool2d") }
        let px = host(x).pointer, py = host(y).pointer
        let oh = g.outHeight, ow = g.outWidth
        let divisor = Float(g.kernelH * g.kernelW)
        for p in 0..<g.planes {
            let plane = px + p * g.height * g.width
            for r in 0..<oh {
                for c in 0..<ow {
                    var sum: Float = 0
                    for i in 0..<g.kernelH {
                        let h = r * g.strideH - g.padH + i
                        guard h >= 0, h < g.height else { continue }
                        for j in 0..<g.kernelW {
                            let w = c * g.strideW - g.padW + j
                            if w >= 0 && w < g.width { sum += plane[h * g.width + w] }
                        }
                    }
                    py[(p * oh + r) * ow + c] = sum / divisor
                }
            }
        }
    }

    public func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry g: PoolGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "avgPool2dBackward") }
        let pdy = host(dy).pointer, pdx = host(dx).pointer
        let oh = g.outHeight, ow = g.outWidth
        let divisor = Float(g.kernelH * g.kernelW)
        for p in 0..<g.planes {
            for h in 0..<g.height {
                let (r0, r1) = Resample.windows(covering: h, kernel: g.kernelH, stride: g.strideH, pad: g.padH, outputs: oh)
                for w in 0..<g.width {
                    let (c0, c1) = Resample.windows(covering: w, kernel: g.kernelW, stride: g.strideW, pad: g.padW, outputs: ow)
                    var sum: Float = 0
                    if r0 <= r1 && c0 <= c1 {
                        for r in r0...r1 {
                            for c in c0...c1 { sum += pdy[(p * oh + r) * ow + c] }
                        }
                    }
                    pdx[(p * g.height + h) * g.width + w] = sum / divisor
                }
            }
        }
    }

    public func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "scatterPlanes") }
        let px = SharedPointer(host(x).pointer), pi = SharedPointer(host(indices).pointer), py = SharedPointer(host(y).pointer)
        let limit = Float(outputSize)
        // Planes are independent: each worker zeroes and fills its own, one plane at a time so the
        // scatter lands in the cache lines the zeroing just brought in.
        Parallel.chunks(planes, cost: outputSize) { range in
            for p in range {
                (py.base + p * outputSize).update(repeating: 0, count: outputSize)
                for i in 0..<inputSize {
                    let v = pi.base[p * inputSize + i]
                    if v >= 0 && v < limit { py.base[p * outputSize + Int(v)] = px.base[p * inputSize + i] }
                }
            }
        }
    }

    public func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "gatherPlanes") }
        let px = host(x).pointer, pi = host(indices).pointer, py = host(y).pointer
        let limit = Float(inputSize)
        for p in 0..<planes {
            for i in 0..<outputSize {
                let v = pi[p * outputSize + i]
                py[p * outputSize + i] = v >= 0 && v < limit ? px[p * inputSize + Int(v)] : 0
            }
        }
    }

    public func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                               alignCorners: Bool, backward: Bool) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "resizeBilinear") }
        let px = SharedPointer(host(x).pointer), py = SharedPointer(host(y).pointer)
        let sh = Resample.bilinearScale(height, outHeight, alignCorners: alignCorners)
        let sw = Resample.bilinearScale(width, outWidth, alignCorners: alignCorners)
        if !backward {
            let rows = (0..<outHeight).map { Resample.bilinearTaps($0, input: height, scale: sh, alignCorners: alignCorners) }
            let cols = (0..<outWidth).map { Resample.bilinearTaps($0, input: width, scale: sw, alignCorners: alignCorners) }
            Parallel.chunks(planes, cost: outHeight * outWidth) { range in
                for p in range {
                    let plane = px.base + p * height * width
                    for (r, (h0, h1, ly)) in rows.enumerated() {
                        for (c, (w0, w1, lx)) in cols.enumerated() {
                            let top = (1 - lx) * plane[h0 * width + w0] + lx * plane[h0 * width + w1]
                            let bottom = (1 - lx) * plane[h1 * width + w0] + lx * plane[h1 * width + w1]
                            py.base[(p * outHeight + r) * outWidth + c] = (1 - ly) * top + ly * bottom
                        }
                    }
                }
            }
            return
        }
        // x is dy [planes, outHeight, outWidth], y is dx [planes, height, width]. Each input
        // coordinate gathers the outputs that read it, with the weights tabulated once per axis.
        func readers(_ input: Int, _ output: Int, _ scale: Float) -> [[(Int, Float)]] {
            (0..<input).map { i in
                let (o0, o1) = Resample.bilinearCandidates(i, output: output, scale: scale, alignCorners: alignCorners)
                guard o0 <= o1 else { return [] }
                return (o0...o1).map { ($0, Resample.bilinearWeight($0, i, input: input, scale: scale, alignCorners: alignCorners)) }
                    .filter { $0.1 != 0 }
            }
        }
        let rowReaders = readers(height, outHeight, sh), colReaders = readers(width, outWidth, sw)
        Parallel.chunks(planes, cost: height * width * 4) { range in
            for p in range {
                let plane = px.base + p * outHeight * outWidth
                for h in 0..<height {
                    for w in 0..<width {
                        var sum: Float = 0
                        for (r, wy) in rowReaders[h] {
                            var row: Float = 0
                            for (c, wx) in colReaders[w] { row += wx * plane[r * outWidth + c] }
                            sum += wy * row
                        }
                        py.base[(p * height + h) * width + w] = sum
                    }
                }
            }
        }
    }

    public func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                              backward: Bool) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "resizeNearest") }
        let px = host(x).pointer, py = host(y).pointer
        if !backward {
            for p in 0..<planes {
                for r in 0..<outHeight {
                    let h = r * height / outHeight
                    for c in 0..<outWidth {
                        py[(p * outHeight + r) * outWidth + c] = px[(p * height + h) * width + c * width / outWidth]
                    }
                }
            }
            return
        }
        // x is dy [planes, outHeight, outWidth], y is dx [planes, height, width]; output r reads
        // ⌊r·in/out⌋, so input h is read by r in ⌈h·out/in⌉ ..< ⌈(h+1)·out/in⌉.
        for p in 0..<planes {
            for h in 0..<height {
                let r0 = (h * outHeight + height - 1) / height, r1 = ((h + 1) * outHeight + height - 1) / height
                for w in 0..<width {
                    let c0 = (w * outWidth + width - 1) / width, c1 = ((w + 1) * outWidth + width - 1) / width
                    var sum: Float = 0
                    for r in r0..<r1 {
                        for c in c0..<c1 { sum += px[(p * outHeight + r) * outWidth + c] }
                    }
                    py[(p * height + h) * width + w] = sum
                }
            }
        }
    }
}
