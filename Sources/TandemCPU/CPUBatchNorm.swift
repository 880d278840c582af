#if canImport(Glibc)
import Glibc
#endif
import TandemCore

/// Fused batch normalisation on the CPU: each channel is one task of `Parallel.chunks`, its sums run
/// over the N planes of S contiguous values in eight float lanes per block of 256 values, the
/// blocks added in float64, so long channels keep float32 accuracy (`Kernels/batch_norm.cl` computes
/// the same expressions).
extension CPUDevice {
    public func batchNormForward(_ x: Buffer, _ y: Buffer, weight: Buffer?, bias: Buffer?, mean: Buffer, invstd: Buffer,
                                 runningMean: Buffer?, runningVar: Buffer?, geometry g: BatchNormGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "batchNormForward") }
        let op = "batchNormForward"
        try g.validate(op: op, device: info.selector, data: [x, y], perChannel: [weight, bias, mean, invstd, runningMean, runningVar])
        if !g.training && (runningMean == nil || runningVar == nil) {
            throw TandemError.invalidArgument(op: op, message: "evaluation mode needs running statistics (on \(info.selector))")
        }
        let px = SharedPointer(host(x).pointer), py = SharedPointer(host(y).pointer)
        let pw = weight.map { SharedPointer(host($0).pointer) }, pb = bias.map { SharedPointer(host($0).pointer) }
        let pm = SharedPointer(host(mean).pointer), pi = SharedPointer(host(invstd).pointer)
        let prm = runningMean.map { SharedPointer(host($0).pointer) }, prv = runningVar.map { SharedPointer(host($0).pointer) }
        let plane = g.channels * g.inner, m = g.count
        Parallel.chunks(g.channels, cost: 3 * m) { channels in
            for c in channels {
                let first = px.base + c * g.inner
                let mu: Float, inv: Float
                if g.training {
                    // Sums of x − K with K the channel's first value: no cancellation when the mean
                    // is large against the spread.
                    let shift = m > 0 ? first[0] : 0
                    var s = 0.0, s2 = 0.0
                    for n in 0..<g.batch {
                        let sums = productSums(first + n * plane, minus: shift, first + n * plane, minus: shift, count: g.inner)
                        s += sums.0
                        s2 += sums.1
                    }
                    let d = s / Double(m)
                    var variance = s2 / Double(m) - d * d
                    if variance < 0 { variance = 0 }
                    mu = Float(Double(shift) + d)
                    inv = Float(1 / (variance + Double(g.epsilon)).squareRoot())
                    if let prm { prm.base[c] = (1 - g.momentum) * prm.base[c] + g.momentum * mu }
                    if let prv {
                        let unbiased = Float(variance * Double(m) / Double(m - 1))
                        prv.base[c] = (1 - g.momentum) * prv.base[c] + g.momentum * unbiased
                    }
                } else if let prm, let prv {
                    mu = prm.base[c]
                    inv = 1 / sqrtf(prv.base[c] + g.epsilon)
                } else {
                    continue  // Unreachable: checked above.
                }
                pm.base[c] = mu
                pi.base[c] = inv
                let scale = inv * (pw?.base[c] ?? 1), offset = pb?.base[c] ?? 0
                for n in 0..<g.batch {
                    let source = first + n * plane, target = py.base + c * g.inner + n * plane
                    if g.relu {
                        for p in 0..<g.inner {
                            let v = (source[p] - mu) * scale + offset
                            target[p] = v <= 0 ? 0 : v
                        }
                    } else {
                        for p in 0..<g.inner { target[p] = (source[p] - mu) * scale + offset }
                    }
                }
            }
        }
    }

    public func batchNormBackward(_ x: Buffer, _ dy: Buffer, weight: Buffer?, mean: Buffer, invstd: Buffer,
                                  dx: Buffer?, dweight: Buffer?, dbias: Buffer?, geometry g: BatchNormGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "batchNormBackward") }
        try g.validate(op: "batchNormBackward", device: info.selector, data: [x, dy, dx], perChannel: [weight, mean, invstd, dweight, dbias])
        let px = SharedPointer(host(x).pointer), pg = SharedPointer(host(dy).pointer)
        let pw = weight.map { SharedPointer(host($0).pointer) }
        let pm = SharedPointer(host(mean).pointer), pi = SharedPointer(host(invstd).pointer)
        let pdx = dx.map { SharedPointer(host($0).pointer) }
        let pdw = dweight.map { SharedPointer(host($0).pointer) }, pdb = dbias.map { SharedPointer(host($0).pointer) }
        // The sums feed dweight and dbias, and dx in training; evaluation-mode dx needs none.
        let needSums = dweight != nil || dbias != nil || (dx != nil && g.training)
        let plane = g.channels * g.inner, m = g.count
        Parallel.chunks(g.channels, cost: 3 * m) { channels in
            for c in channels {
                let mu = pm.base[c], inv = pi.base[c]
                var sumG = 0.0, sumGX = 0.0  // Σ dy and Σ dy·(x − mean)
                if needSums {
                    for n in 0..<g.batch {
                        let offset = c * g.inner + n * plane
                        let sums = productSums(pg.base + offset, minus: 0, px.base + offset, minus: mu, count: g.inner)
                        sumG += sums.0
                        sumGX += sums.1
                    }
                }
                pdb?.base[c] = Float(sumG)
                pdw?.base[c] = Float(sumGX) * inv
                guard let pdx else { continue }
                let k = inv * (pw?.base[c] ?? 1)
                // dx = k·(dy − Σdy/M − (x − mean)·invstd²·Σ dy·(x − mean)/M) in training.
                let meanG = g.training ? Float(sumG / Double(m)) : 0
                let coefficient = g.training ? Float(sumGX / Double(m)) * inv * inv : 0
                for n in 0..<g.batch {
                    let offset = c * g.inner + n * plane
                    let gv = pg.base + offset, xv = px.base + offset, out = pdx.base + offset
                    if g.training {
                        for p in 0..<g.inner { out[p] = k * (gv[p] - meanG - (xv[p] - mu) * coefficient) }
                    } else {
                        for p in 0..<g.inner { out[p] = k * gv[p] }
                    }
                }
            }
        }
    }
}

/// Values summed in float lanes before a block's total joins the float64 sum.
private let blockValues = 256

/// Σ (u − su) and Σ (u − su)·(w − sw) over `count` contiguous values: the statistics
/// (u = w = x around a shift: Σd and Σd²) and the gradient sums (u = dy with su = 0, w = x around
/// the mean; also the cross-stitch α gradient's Σ dy·x), in float lanes per block of `blockValues`
/// and float64 across blocks, so the error stays a few 2^-24 of the terms' magnitudes at any count.
@inline(__always)
func productSums(_ u: UnsafeMutablePointer<Float>, minus su: Float, _ w: UnsafeMutablePointer<Float>, minus sw: Float,
                 count: Int) -> (Double, Double) {
    var s = 0.0, s2 = 0.0, i = 0
    let ku = SIMD8<Float>(repeating: su), kw = SIMD8<Float>(repeating: sw)
    while i + 8 <= count {
        let end = Swift.min(count, i + blockValues)
        var a = SIMD8<Float>(), b = SIMD8<Float>()
        while i + 8 <= end {
            let d = UnsafeRawPointer(u + i).loadUnaligned(as: SIMD8<Float>.self) - ku
            a += d
            b += d * (UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<Float>.self) - kw)
            i += 8
        }
        s += lanes(a)
        s2 += lanes(b)
    }
    while i < count {
        let d = Double(u[i] - su)
        s += d
        s2 += d * Double(w[i] - sw)
        i += 1
    }
    return (s, s2)
}

/// The sum of eight float lanes in float64.
@inline(__always)
private func lanes(_ v: SIMD8<Float>) -> Double {
    var total = 0.0
    for l in 0..<8 { total += Double(v[l]) }
    return total
}
