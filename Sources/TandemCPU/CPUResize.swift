#if canImport(Glibc)
import Glibc
#endif
import TandemCore

/// Source coordinate rules of the resampling ops, shared by the CPU loops (the kernels in
/// `Kernels/resize.cl` mirror them line by line). PyTorch's formulas: with `alignCorners` the corner
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
}

/// Bilinear and nearest-neighbour resizing on the CPU; each backward is a gather.
extension CPUDevice {
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
