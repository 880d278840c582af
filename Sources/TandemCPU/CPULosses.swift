#if canImport(Glibc)
import Glibc
#endif
import TandemCore

/// Class gathers for the classification losses (`Kernels/losses.cl` mirrors these loops).
extension CPUDevice {
    /// The class index a target float names, or nil when it is outside 0..<classes (ignored labels
    /// such as −1 or −100, NaN for a missing label).
    @inline(__always)
    static func classIndex(_ target: Float, classes: Int) -> Int? {
        target >= 0 && target < Float(classes) ? Int(target) : nil
    }

    public func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "gatherClass") }
        let px = host(x).pointer, pt = host(target).pointer, py = host(y).pointer
        for n in 0..<batch {
            for s in 0..<inner {
                let i = n * inner + s
                if let c = CPUDevice.classIndex(pt[i], classes: classes) {
                    py[i] = px[(n * classes + c) * inner + s]
                } else {
                    py[i] = 0
                }
            }
        }
    }

    public func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "scatterClass") }
        let pdy = host(dy).pointer, pt = host(target).pointer, pdx = host(dx).pointer
        for n in 0..<batch {
            for s in 0..<inner {
                let i = n * inner + s
                let chosen = CPUDevice.classIndex(pt[i], classes: classes)
                for c in 0..<classes { pdx[(n * classes + c) * inner + s] = c == chosen ? pdy[i] : 0 }
            }
        }
    }
}

/// The fused classification losses on the CPU (`Kernels/losses.cl` mirrors these loops).
extension CPUDevice {
    public func logSoftmax(_ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "logSoftmax") }
        let px = host(x).pointer, py = host(y).pointer
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * extent * inner + i
                var maximum = -Float.infinity
                for e in 0..<extent where !(px[base + e * inner] <= maximum) { maximum = px[base + e * inner] }
                var sum: Float = 0
                for e in 0..<extent { sum += Glibc.expf(px[base + e * inner] - maximum) }
                let shift = maximum + Glibc.logf(sum)
                for e in 0..<extent { py[base + e * inner] = px[base + e * inner] - shift }
            }
        }
    }

    public func logSoftmaxBackward(_ y: Buffer, _ dy: Buffer, _ dx: Buffer, outer: Int, extent: Int, inner: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "logSoftmaxBackward") }
        let py = host(y).pointer, pdy = host(dy).pointer, pdx = host(dx).pointer
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * extent * inner + i
                var sum: Float = 0
                for e in 0..<extent { sum += pdy[base + e * inner] }
                for e in 0..<extent { pdx[base + e * inner] = pdy[base + e * inner] - Glibc.expf(py[base + e * inner]) * sum }
            }
        }
    }

    /// The weight of label `i` (sample `n`): the mask's value (1 without one) where the label names a
    /// class other than the ignored one, else 0, with the class.
    @inline(__always)
    static func labelWeight(_ target: Float, mask: UnsafeMutablePointer<Float>?, n: Int, i: Int,
                            geometry g: ClassLossGeometry) -> (weight: Float, c: Int)? {
        guard target > -0.5, target < Float(g.classes) - 0.5, let c = classIndex(target, classes: g.classes),
              c != g.ignoreIndex else { return nil }
        let weight = mask.map { $0[g.maskPerSample ? n : i] } ?? 1
        return weight != 0 ? (weight, c) : nil
    }

    public func nllLoss(_ x: Buffer, target: Buffer, mask: Buffer?, loss: Buffer, weight: Buffer, geometry g: ClassLossGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "nllLoss") }
        let px = host(x).pointer, pt = host(target).pointer, pm = mask.map { host($0).pointer }
        var sum: Double = 0, total: Double = 0
        for n in 0..<g.batch {
            for s in 0..<g.inner {
                let i = n * g.inner + s
                guard let (w, c) = CPUDevice.labelWeight(pt[i], mask: pm, n: n, i: i, geometry: g) else { continue }
                sum += Double(px[(n * g.classes + c) * g.inner + s])
                total += Double(w)
            }
        }
        host(loss).pointer[0] = Float(-sum / Swift.max(total, 1))
        host(weight).pointer[0] = Float(total)
    }

    public func nllLossBackward(target: Buffer, mask: Buffer?, weight: Buffer, _ dloss: Buffer, _ dx: Buffer,
                                geometry g: ClassLossGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "nllLossBackward") }
        let pt = host(target).pointer, pm = mask.map { host($0).pointer }, pdx = host(dx).pointer
        let share = -host(dloss).pointer[0] / Swift.max(host(weight).pointer[0], 1)
        for n in 0..<g.batch {
            for s in 0..<g.inner {
                let i = n * g.inner + s
                let chosen = CPUDevice.labelWeight(pt[i], mask: pm, n: n, i: i, geometry: g)?.c
                for c in 0..<g.classes { pdx[(n * g.classes + c) * g.inner + s] = c == chosen ? share : 0 }
            }
        }
    }
}
