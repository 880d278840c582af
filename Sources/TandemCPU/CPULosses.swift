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
