#if canImport(Glibc)
import Glibc
#endif

/// The fused multi-task primitives on the CPU: MTAN attention gating and cross-stitch mixing, each
/// one pass over memory (the OpenCL kernels in `Kernels/mtl.cl` compute the same expressions).
extension CPUDevice {
    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "attentionGate") }
        let pz = host(z).pointer, pf = host(f).pointer, py = host(y).pointer
        for i in 0..<count { py[i] = pf[i] / (1 + expf(-pz[i])) }
    }

    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "attentionGateBackward") }
        let pz = host(z).pointer, pf = host(f).pointer, pg = host(dy).pointer
        let pdz = host(dz).pointer, pdf = host(df).pointer
        for i in 0..<count {
            let s = 1 / (1 + expf(-pz[i])), g = pg[i]
            pdz[i] = g * pf[i] * s * (1 - s)
            pdf[i] = g * s
        }
    }

    public func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int,
                            transposed: Bool) throws {
                                let profile = Profiler.begin()
                                defer { Profiler.end(profile, device: "cpu", "crossStitch") }
        let px = host(x).pointer, pa = host(alpha).pointer, py = host(y).pointer
        let columnSize = batch * channels * inner
        for t in 0..<tasks {
            for n in 0..<batch {
                for c in 0..<channels {
                    let base = (n * channels + c) * inner
                    let out = py + t * columnSize + base
                    for p in 0..<inner { out[p] = 0 }
                    for s in 0..<tasks {
                        let a = pa[c * tasks * tasks + (transposed ? s * tasks + t : t * tasks + s)]
                        let source = px + s * columnSize + base
                        for p in 0..<inner { out[p] += a * source[p] }
                    }
                }
            }
        }
    }

    public func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int,
                                         inner: Int) throws {
                                             let profile = Profiler.begin()
                                             defer { Profiler.end(profile, device: "cpu", "crossStitchAlphaGradient") }
        let px = host(x).pointer, pg = host(dy).pointer, pd = host(dalpha).pointer
        let columnSize = batch * channels * inner
        for c in 0..<channels {
            for t in 0..<tasks {
                for s in 0..<tasks {
                    // Double accumulation: the sum runs over batch × spatial, easily 10⁵ terms.
                    var sum = 0.0
                    for n in 0..<batch {
                        let base = (n * channels + c) * inner
                        let g = pg + t * columnSize + base, v = px + s * columnSize + base
                        var partial: Float = 0
                        for p in 0..<inner { partial += g[p] * v[p] }
                        sum += Double(partial)
                    }
                    pd[(c * tasks + t) * tasks + s] = Float(sum)
                }
            }
        }
    }
}
