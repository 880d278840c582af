import TandemCore

extension CPUDevice {
    /// Sums accumulate in float64, so long reductions keep float32 accuracy.
    public func reduce(_ op: ReduceOp, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "reduce.\(op)") }
        let px = SharedPointer(host(x).pointer), py = SharedPointer(host(y).pointer)
        if op == .sum && inner > 1 {
            // Rows of the extent axis added one after another into per-output accumulators: the
            // reads are contiguous, and each output still sums its terms in extent order.
            let splitOuter = outer >= Parallel.workers
            Parallel.chunks(splitOuter ? outer : inner, cost: extent * (splitOuter ? inner : 1)) { range in
                let outers = splitOuter ? range : 0..<outer, inners = splitOuter ? 0..<inner : range
                let total = UnsafeMutablePointer<Double>.allocate(capacity: inners.count)
                defer { total.deallocate() }
                for o in outers {
                    total.update(repeating: 0, count: inners.count)
                    for e in 0..<extent {
                        let row = px.base + (o * extent + e) * inner + inners.lowerBound
                        for i in 0..<inners.count { total[i] += Double(row[i]) }
                    }
                    let out = py.base + o * inner + inners.lowerBound
                    for i in 0..<inners.count { out[i] = Float(total[i]) }
                }
            }
            return
        }
        Parallel.chunks(outer, cost: extent * inner) { outers in
            let px = px.base, py = py.base
            for o in outers {
                let base = o * extent * inner
                switch op {
                case .sum:
                    for i in 0..<inner {
                        var total = 0.0
                        for e in 0..<extent { total += Double(px[base + e * inner + i]) }
                        py[o * inner + i] = Float(total)
                    }
                case .max:
                    for i in 0..<inner {
                        var best = -Float.infinity
                        for e in 0..<extent {
                            let v = px[base + e * inner + i]
                            if v > best || v.isNaN { best = v }
                            if best.isNaN { break }
                        }
                        py[o * inner + i] = best
                    }
                }
            }
        }
    }

    public func argmax(_ x: Buffer, values: Buffer, indices: Buffer, outer: Int, extent: Int, inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "argmax") }
        let px = host(x).pointer, pv = host(values).pointer, pi = host(indices).pointer
        for o in 0..<outer {
            for i in 0..<inner {
                var best = -Float.infinity, index = 0
                for e in 0..<extent {
                    let v = px[(o * extent + e) * inner + i]
                    if v > best || (e == 0 && !(v < best)) { best = v; index = e }
                }
                pv[o * inner + i] = best
                pi[o * inner + i] = Float(index)
            }
        }
    }
}

extension CPUDevice {
    /// Per-channel sums in float64 (a bias gradient over many images and pixels).
    public func channelSums(_ x: Buffer, _ y: Buffer, batch: Int, channels: Int, inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "channelSums") }
        let px = host(x).pointer, py = host(y).pointer
        for c in 0..<channels {
            var sum: Double = 0
            for n in 0..<batch {
                let plane = px + (n * channels + c) * inner
                for s in 0..<inner { sum += Double(plane[s]) }
            }
            py[c] = Float(sum)
        }
    }

    public func gatedChannelSums(_ dy: Buffer, gate y: Buffer, _ dz: Buffer, sums: Buffer, batch: Int, channels: Int,
                                 inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "gatedChannelSums") }
        let pdy = host(dy).pointer, py = host(y).pointer, pdz = host(dz).pointer, ps = host(sums).pointer
        for c in 0..<channels {
            var sum: Double = 0
            for n in 0..<batch {
                let base = (n * channels + c) * inner
                for s in 0..<inner {
                    let g = py[base + s] > 0 ? pdy[base + s] : 0
                    pdz[base + s] = g
                    sum += Double(g)
                }
            }
            ps[c] = Float(sum)
        }
    }
}
