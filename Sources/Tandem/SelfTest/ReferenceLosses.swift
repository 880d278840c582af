import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// Float64 references of the losses family over flat row-major arrays. Each is the same function as
/// the op (including which elements count), since gradients are checked by differencing it.
extension Reference {
    /// (outer, extent, inner) of `shape` around `axis`.
    static func split(_ shape: [Int], _ axis: Int) -> (outer: Int, extent: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// Applies `f` to each line of `x` along `axis` (the line's values in, new values out).
    static func alongAxis(_ x: [Double], _ shape: [Int], _ axis: Int, _ f: ([Double]) -> [Double]) -> [Double] {
        let (outer, extent, inner) = split(shape, axis)
        var y = x
        for o in 0..<outer {
            for i in 0..<inner {
                let line = (0..<extent).map { x[(o * extent + $0) * inner + i] }
                for (k, v) in f(line).enumerated() { y[(o * extent + k) * inner + i] = v }
            }
        }
        return y
    }

    public static func softmax(_ x: [Double], _ shape: [Int], axis: Int) -> [Double] {
        alongAxis(x, shape, axis) { line in
            let m = line.max() ?? 0
            let e = line.map { Glibc.exp($0 - m) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }
    }

    public static func logSoftmax(_ x: [Double], _ shape: [Int], axis: Int) -> [Double] {
        alongAxis(x, shape, axis) { line in
            let m = line.max() ?? 0
            let lse = m + Glibc.log(line.map { Glibc.exp($0 - m) }.reduce(0, +))
            return line.map { $0 - lse }
        }
    }

    /// Mean NLL of log-probabilities [N, C, S...] at `target` [N, S...]; a label counts when it is in
    /// 0..<C, differs from `ignoreIndex` and its mask (per sample [N] or per element) is nonzero.
    public static func nllLoss(_ logp: [Double], _ shape: [Int], target: [Double], ignoreIndex: Int = -100,
                               mask: [Double]? = nil) -> [Double] {
        let n = shape[0], c = shape[1], inner = shape[2...].reduce(1, *)
        var total = 0.0, count = 0.0
        for b in 0..<n {
            for s in 0..<inner {
                let t = target[b * inner + s]
                guard t >= 0, t < Double(c), Int(t) != ignoreIndex else { continue }
                if let mask {
                    let m = mask.count == n ? mask[b] : mask[b * inner + s]
                    if m == 0 { continue }
                }
                total -= logp[(b * c + Int(t)) * inner + s]
                count += 1
            }
        }
        return [count > 0 ? total / count : 0]
    }

    /// Mean over the elements that count of `loss(x, t)`: t not NaN, mask (broadcast) nonzero, and
    /// `counts(t)`.
    static func maskedMean(_ x: [Double], _ shape: [Int], target: [Double], mask: ([Double], [Int])?,
                           counts: (Double) -> Bool, _ loss: (Double, Double) -> Double) -> [Double] {
        let m = mask.map { Reference.broadcasting([($0.0, $0.1), (x, shape)]) { $0[0] } } ?? x.map { _ in 1 }
        var total = 0.0, count = 0.0
        for i in x.indices where !target[i].isNaN && m[i] != 0 && counts(target[i]) {
            total += loss(x[i], target[i])
            count += 1
        }
        return [count > 0 ? total / count : 0]
    }

    public static func mseLoss(_ x: [Double], _ shape: [Int], target: [Double], mask: ([Double], [Int])? = nil) -> [Double] {
        maskedMean(x, shape, target: target, mask: mask, counts: { _ in true }) { ($0 - $1) * ($0 - $1) }
    }

    /// Mean |x − t| over nonzero targets, or over the mask's nonzero elements when one is given.
    public static func maskedL1Loss(_ x: [Double], _ shape: [Int], target: [Double], mask: ([Double], [Int])? = nil) -> [Double] {
        maskedMean(x, shape, target: target, mask: mask, counts: { mask != nil || $0 != 0 }) { Swift.abs($0 - $1) }
    }

    public static func l2Normalize(_ x: [Double], _ shape: [Int], axis: Int, epsilon: Double = 1e-12) -> [Double] {
        alongAxis(x, shape, axis) { line in
            let norm = Swift.max(line.map { $0 * $0 }.reduce(0, +).squareRoot(), epsilon)
            return line.map { $0 / norm }
        }
    }

    /// 1 − mean over valid pixels of ⟨x/‖x‖, t⟩ along `axis`; a pixel is valid when its target is
    /// nonzero and NaN-free and its mask (shape `shape` with `axis` of size 1) is nonzero.
    public static func normalLoss(_ x: [Double], _ shape: [Int], target: [Double], axis: Int = 1,
                                  mask: [Double]? = nil) -> [Double] {
        let xn = l2Normalize(x, shape, axis: axis)
        let (outer, extent, inner) = split(shape, axis)
        var total = 0.0, count = 0.0
        for o in 0..<outer {
            for i in 0..<inner {
                let at = (0..<extent).map { (o * extent + $0) * inner + i }
                let t = at.map { target[$0] }
                guard !t.contains(where: \.isNaN), t.contains(where: { $0 != 0 }), (mask?[o * inner + i] ?? 1) != 0 else { continue }
                total += zip(at, t).map { xn[$0.0] * $0.1 }.reduce(0, +)
                count += 1
            }
        }
        return [1 - (count > 0 ? total / count : 0)]
    }

    // MARK: Fixed inputs

    /// Depth-like targets in [0.1, 1.1) with a zero (no depth) at every fifth element and NaN at `nanAt`.
    static func depthTargets(_ count: Int, nanAt: [Int] = []) -> [Float] {
        (0..<count).map { i in
            if nanAt.contains(i) { return .nan }
            return i % 5 == 0 ? 0 : 0.1 + Float((i * 37) % 11) / 10
        }
    }

    /// Unit normals [N, 3, H·W] with a zero vector at every sixth pixel and a NaN component at pixel `nanPixel`.
    static func normalTargets(batch: Int, pixels: Int, nanPixel: Int) -> [Float] {
        var values = [Float](repeating: 0, count: batch * 3 * pixels)
        for n in 0..<batch {
            for p in 0..<pixels {
                let k = n * pixels + p
                guard k % 6 != 0 else { continue }
                let a = 0.7 * Double(k), b = 0.3 * Double(k) + 0.2
                let v = [Glibc.cos(a) * Glibc.sin(b), Glibc.sin(a) * Glibc.sin(b), Glibc.cos(b)]
                for c in 0..<3 { values[(n * 3 + c) * pixels + p] = k == nanPixel && c == 1 ? .nan : Float(v[c]) }
            }
        }
        return values
    }
}
