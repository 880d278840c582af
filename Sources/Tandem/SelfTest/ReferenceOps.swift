import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// Float64 references of the core ops over flat row-major arrays, written as plainly as possible.
extension Reference {
    /// Multi-index of flat `index` in `shape`.
    static func unflatten(_ index: Int, _ shape: [Int]) -> [Int] {
        var rest = index
        var result = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() {
            result[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return result
    }

    static func flatten(_ index: [Int], _ shape: [Int]) -> Int {
        zip(index, Shapes.strides(shape)).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// Element of `values` (shape `shape`) read at the broadcast index `index` of the output.
    static func broadcastRead(_ values: [Double], _ shape: [Int], _ index: [Int]) -> Double {
        let lead = index.count - shape.count
        let own = shape.indices.map { shape[$0] == 1 ? 0 : index[lead + $0] }
        return values[flatten(own, shape)]
    }

    /// `f` applied elementwise over the broadcast of the operands.
    public static func broadcasting(_ operands: [([Double], [Int])], _ f: ([Double]) -> Double) -> [Double] {
        let shape = operands.dropFirst().reduce(operands[0].1) { Shapes.broadcast($0, $1.1)! }
        return (0..<Shapes.count(shape)).map { i in
            let index = unflatten(i, shape)
            return f(operands.map { broadcastRead($0.0, $0.1, index) })
        }
    }

    /// Reduction of `values` over `axes`, keeping them as size 1.
    public static func reduce(_ values: [Double], _ shape: [Int], axes: [Int], initial: Double,
                              _ combine: (Double, Double) -> Double) -> [Double] {
        var outShape = shape
        for a in axes { outShape[a] = 1 }
        var out = [Double](repeating: initial, count: Shapes.count(outShape))
        for i in values.indices {
            var index = unflatten(i, shape)
            for a in axes { index[a] = 0 }
            let o = flatten(index, outShape)
            out[o] = combine(out[o], values[i])
        }
        return out
    }

    /// Row-major matrix product with broadcast batch dimensions.
    public static func matmul(_ a: [Double], _ sa: [Int], _ b: [Double], _ sb: [Int]) -> [Double] {
        let m = sa[sa.count - 2], k = sa[sa.count - 1], n = sb[sb.count - 1]
        let batch = Shapes.broadcast(Array(sa.dropLast(2)), Array(sb.dropLast(2)))!
        var out: [Double] = []
        for bi in 0..<Shapes.count(batch) {
            let index = unflatten(bi, batch)
            func matrix(_ v: [Double], _ s: [Int]) -> Int {
                let own = Array(s.dropLast(2)), lead = index.count - own.count
                let idx = own.indices.map { own[$0] == 1 ? 0 : index[lead + $0] }
                return (own.isEmpty ? 0 : flatten(idx, own)) * s[s.count - 2] * s[s.count - 1]
            }
            let oa = matrix(a, sa), ob = matrix(b, sb)
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k { sum += a[oa + i * k + p] * b[ob + p * n + j] }
                    out.append(sum)
                }
            }
        }
        return out
    }

    /// Axis permutation of a row-major array.
    public static func permute(_ values: [Double], _ shape: [Int], _ axes: [Int]) -> [Double] {
        let outShape = axes.map { shape[$0] }
        return (0..<values.count).map { i in
            let out = unflatten(i, outShape)
            var index = [Int](repeating: 0, count: shape.count)
            for (o, a) in axes.enumerated() { index[a] = out[o] }
            return values[flatten(index, shape)]
        }
    }

    public static func sigmoid(_ x: Double) -> Double { 1 / (1 + Glibc.exp(-x)) }
    public static func softplus(_ x: Double) -> Double { Swift.max(x, 0) + Glibc.log1p(Glibc.exp(-Swift.abs(x))) }
}
