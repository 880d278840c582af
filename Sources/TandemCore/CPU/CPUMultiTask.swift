#if canImport(Glibc)
import Glibc
#endif

/// The fused multi-task primitives on the CPU: MTAN attention gating and cross-stitch mixing, each
/// one pass over memory (the OpenCL kernels in `Kernels/mtl.cl` compute the same expressions).
extension CPUDevice {
    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "attentionGate") }
        let pz = SharedPointer(host(z).pointer), pf = SharedPointer(host(f).pointer), py = SharedPointer(host(y).pointer)
        Parallel.chunks(count, cost: 8) { range in
            let pz = pz.base, pf = pf.base, py = py.base
            for i in range { py[i] = pf[i] / (1 + expf(-pz[i])) }
        }
    }

    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "attentionGateBackward") }
        let pz = SharedPointer(host(z).pointer), pf = SharedPointer(host(f).pointer), pg = SharedPointer(host(dy).pointer)
        let pdz = SharedPointer(host(dz).pointer), pdf = SharedPointer(host(df).pointer)
        Parallel.chunks(count, cost: 8) { range in
            let pz = pz.base, pf = pf.base, pg = pg.base, pdz = pdz.base, pdf = pdf.base
            for i in range {
                let s = 1 / (1 + expf(-pz[i])), g = pg[i]
                pdz[i] = g * pf[i] * s * (1 - s)
                pdf[i] = g * s
            }
        }
    }

    /// Each worker mixes a range of (task, image) pairs; every output row is written by one worker.
    public func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int,
                            transposed: Bool) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "crossStitch") }
        let px = SharedPointer(host(x).pointer), pa = SharedPointer(host(alpha).pointer), py = SharedPointer(host(y).pointer)
        let columnSize = batch * channels * inner
        Parallel.chunks(tasks * batch, cost: channels * inner * tasks) { pairs in
            let px = px.base, pa = pa.base, py = py.base
            for pair in pairs {
                let t = pair / batch, n = pair % batch
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

    /// Each worker owns a range of channels, so every α entry is summed by one thread in a fixed order.
    public func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int,
                                         inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "crossStitchAlphaGradient") }
        let px = SharedPointer(host(x).pointer), pg = SharedPointer(host(dy).pointer), pd = SharedPointer(host(dalpha).pointer)
        let columnSize = batch * channels * inner
        Parallel.chunks(channels, cost: batch * inner * tasks * tasks) { range in
            for c in range {
                for t in 0..<tasks {
                    for s in 0..<tasks {
                        // Double accumulation: the sum runs over batch × spatial, easily 10⁵ terms.
                        var sum = 0.0
                        for n in 0..<batch {
                            let base = (n * channels + c) * inner
                            let g = pg.base + t * columnSize + base, v = px.base + s * columnSize + base
                            var partial: Float = 0
                            for p in 0..<inner { partial += g[p] * v[p] }
                            sum += Double(partial)
                        }
                        pd.base[(c * tasks + t) * tasks + s] = Float(sum)
                    }
                }
            }
        }
    }
}
