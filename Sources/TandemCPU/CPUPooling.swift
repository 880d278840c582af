#if canImport(Glibc)
import Glibc
#endif
import TandemCore

/// Pooling primitives on the CPU (`Kernels/pooling.cl` on OpenCL). Every backward is a gather: each
/// input pixel sums the output gradients that read it, so no two iterations write the same element.
extension CPUDevice {
    /// First output window (inclusive) and last whose span `o·stride − pad ..< … + kernel` covers `i`.
    @inline(__always)
    static func windows(covering i: Int, kernel: Int, stride: Int, pad: Int, outputs: Int) -> (Int, Int) {
        let t = i + pad - kernel + 1
        let low = t <= 0 ? 0 : (t + stride - 1) / stride
        return (low, Swift.min((i + pad) / stride, outputs - 1))
    }

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
        if g.strideH >= g.kernelH && g.strideW >= g.kernelW {
            // Windows do not overlap, so every pixel gets at most one gradient: unpooling dy (a
            // scatter into zeroed planes) is the whole backward, and cheaper than a gather per pixel.
            return try scatterPlanes(dy, indices: indices, dx, planes: g.planes, inputSize: g.outHeight * g.outWidth,
                                     outputSize: g.height * g.width)
        }
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "maxPool2dBackward") }
        let pdy = SharedPointer(host(dy).pointer), pi = SharedPointer(host(indices).pointer), pdx = SharedPointer(host(dx).pointer)
        let oh = g.outHeight, ow = g.outWidth
        Parallel.chunks(g.planes, cost: g.height * g.width) { planes in
            for p in planes {
                for h in 0..<g.height {
                    let (r0, r1) = Self.windows(covering: h, kernel: g.kernelH, stride: g.strideH, pad: g.padH, outputs: oh)
                    for w in 0..<g.width {
                        let (c0, c1) = Self.windows(covering: w, kernel: g.kernelW, stride: g.strideW, pad: g.padW, outputs: ow)
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
                let (r0, r1) = Self.windows(covering: h, kernel: g.kernelH, stride: g.strideH, pad: g.padH, outputs: oh)
                for w in 0..<g.width {
                    let (c0, c1) = Self.windows(covering: w, kernel: g.kernelW, stride: g.strideW, pad: g.padW, outputs: ow)
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
}
