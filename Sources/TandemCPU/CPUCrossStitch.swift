import TandemCore

/// Cross-stitch mixing on the CPU (`Kernels/cross_stitch.cl` computes the same sums on OpenCL).
extension CPUDevice {
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
                        // The sum runs over batch × spatial, easily 10⁵ terms: float lanes per block
                        // of 256 values and float64 across blocks, as batch norm's sums.
                        var sum = 0.0
                        for n in 0..<batch {
                            let base = (n * channels + c) * inner
                            let g = pg.base + t * columnSize + base, v = px.base + s * columnSize + base
                            sum += productSums(g, minus: 0, v, minus: 0, count: inner).1
                        }
                        pd.base[(c * tasks + t) * tasks + s] = Float(sum)
                    }
                }
            }
        }
    }
}
