/// Plain float64 reference implementations that device results are checked against.
public enum Reference {
    /// Row-major `C = alpha·op(A)·op(B) + beta·C` in float64, for every batch of `g`.
    public static func gemm(_ g: GEMM, a: [Float], b: [Float], c: [Float]) -> [Double] {
        var out = c.map(Double.init)
        for batch in 0..<g.batchCount {
            let baseA = g.offsetA + batch * g.strideA, baseB = g.offsetB + batch * g.strideB
            let baseC = g.offsetC + batch * g.strideC
            for i in 0..<g.m {
                for j in 0..<g.n {
                    var sum = 0.0
                    for p in 0..<g.k {
                        let av = g.transposeA ? a[baseA + p * g.lda + i] : a[baseA + i * g.lda + p]
                        let bv = g.transposeB ? b[baseB + j * g.ldb + p] : b[baseB + p * g.ldb + j]
                        sum += Double(av) * Double(bv)
                    }
                    let index = baseC + i * g.ldc + j
                    out[index] = Double(g.alpha) * sum + (g.beta == 0 ? 0 : Double(g.beta) * Double(c[index]))
                }
            }
        }
        return out
    }

    /// The largest error of `actual` against `expected` in units of `terms`, each element's sum of
    /// the absolute values of the terms that make it (for a GEMM, |α|·Σ|a||b| + |β||c|): the scale
    /// float32 rounding works at, so a sum that nearly cancels is not held to a relative error its
    /// inputs cannot give. NaN counts as an infinite error unless the reference is NaN there too.
    public static func maxErrorRelativeToTerms(_ actual: [Float], _ expected: [Double], terms: [Double]) -> Double {
        precondition(actual.count == expected.count && terms.count == expected.count, "compared arrays differ in length")
        var worst = 0.0
        for ((a, e), t) in zip(zip(actual, expected), terms) {
            if e.isNaN && a.isNaN { continue }
            let difference = abs(Double(a) - e)
            if difference == 0 { continue }
            let error = difference / max(t, .leastNormalMagnitude)
            if error.isNaN { return .infinity }
            worst = max(worst, error)
        }
        return worst
    }

    /// The largest relative error of `actual` against `expected`, with magnitudes below `floor`
    /// compared absolutely (relative error of values near zero says nothing). A NaN counts as an
    /// infinite error unless the reference is NaN there too (an element that must stay untouched).
    public static func maxRelativeError(_ actual: [Float], _ expected: [Double], floor: Double = 1) -> Double {
        precondition(actual.count == expected.count, "compared arrays differ in length")
        var worst = 0.0
        for (a, e) in zip(actual, expected) {
            if e.isNaN && a.isNaN { continue }
            let error = abs(Double(a) - e) / max(abs(e), floor)
            if error.isNaN { return .infinity }
            worst = max(worst, error)
        }
        return worst
    }
}
