/// Dense linear algebra on the small T×T matrices (Gram matrices of task gradients) that the
/// gradient-combination methods solve on the host, in float64. T is the number of tasks, so every
/// routine here is O(T³) at most and runs in microseconds.
enum SmallLinearAlgebra {
    /// x with A·x = b by Gaussian elimination with partial pivoting, or nil when A is singular to
    /// within `relativeTolerance` of its largest entry (or holds a value that is not finite).
    static func solve(_ a: [[Double]], _ b: [Double], relativeTolerance: Double = 1e-12) -> [Double]? {
        let n = b.count
        guard a.count == n, a.allSatisfy({ $0.count == n }) else { return nil }
        if n == 0 { return [] }
        var m = a
        var x = b
        let scale = a.joined().reduce(0) { Swift.max($0, Swift.abs($1)) }
        guard scale.isFinite, scale > 0, x.allSatisfy(\.isFinite) else { return nil }
        for column in 0..<n {
            var pivot = column
            for row in (column + 1)..<n where Swift.abs(m[row][column]) > Swift.abs(m[pivot][column]) { pivot = row }
            guard Swift.abs(m[pivot][column]) > relativeTolerance * scale else { return nil }
            if pivot != column {
                m.swapAt(pivot, column)
                x.swapAt(pivot, column)
            }
            for row in (column + 1)..<n {
                let factor = m[row][column] / m[column][column]
                if factor == 0 { continue }
                for k in column..<n { m[row][k] -= factor * m[column][k] }
                x[row] -= factor * x[column]
            }
        }
        for row in stride(from: n - 1, through: 0, by: -1) {
            var sum = x[row]
            for k in (row + 1)..<n { sum -= m[row][k] * x[k] }
            x[row] = sum / m[row][row]
        }
        return x
    }

    /// The eigenvalues (ascending) and unit eigenvectors (`vectors[k]` belongs to `values[k]`) of the
    /// symmetric matrix `a`, by cyclic Jacobi rotations until the off-diagonal part is negligible.
    static func symmetricEigen(_ a: [[Double]]) -> (values: [Double], vectors: [[Double]]) {
        let n = a.count
        var m = a
        var v = (0..<n).map { i in (0..<n).map { $0 == i ? 1.0 : 0.0 } }
        let total = a.joined().reduce(0) { $0 + $1 * $1 }
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<n { for j in 0..<n where i != j { off += m[i][j] * m[i][j] } }
            if !(off > 1e-30 * total) { break }
            for p in 0..<n {
                for q in (p + 1)..<n where m[p][q] != 0 {
                    // The rotation that zeroes m[p][q] (Golub and Van Loan, Algorithm 8.4.1).
                    let theta = (m[q][q] - m[p][p]) / (2 * m[p][q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (Swift.abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let kp = m[k][p], kq = m[k][q]
                        m[k][p] = c * kp - s * kq
                        m[k][q] = s * kp + c * kq
                    }
                    for k in 0..<n {
                        let pk = m[p][k], qk = m[q][k]
                        m[p][k] = c * pk - s * qk
                        m[q][k] = s * pk + c * qk
                    }
                    for k in 0..<n {
                        let kp = v[k][p], kq = v[k][q]
                        v[k][p] = c * kp - s * kq
                        v[k][q] = s * kp + c * kq
                    }
                }
            }
        }
        let order = (0..<n).sorted { m[$0][$0] < m[$1][$1] }
        return (order.map { m[$0][$0] }, order.map { k in (0..<n).map { v[$0][k] } })
    }

    /// The Euclidean projection of `v` onto the probability simplex {w ≥ 0, Σw = 1} (sort and
    /// threshold: Held, Wolfe and Crowder 1974).
    static func projectToSimplex(_ v: [Double]) -> [Double] {
        let sorted = v.sorted(by: >)
        var sum = 0.0, threshold = 0.0
        for (k, value) in sorted.enumerated() {
            sum += value
            let candidate = (sum - 1) / Double(k + 1)
            if value - candidate > 0 { threshold = candidate }
        }
        return v.map { Swift.max($0 - threshold, 0) }
    }

    /// G·x.
    static func multiply(_ g: [[Double]], _ x: [Double]) -> [Double] {
        g.map { row in zip(row, x).reduce(0) { $0 + $1.0 * $1.1 } }
    }

    /// xᵀ·y.
    static func dot(_ x: [Double], _ y: [Double]) -> Double { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }

    /// softmax(x) = exp(xᵢ − max x)/Σⱼ exp(xⱼ − max x): on the simplex, safe for any finite x.
    static func softmax(_ x: [Double]) -> [Double] {
        let top = x.max() ?? 0
        let e = x.map { HostMath.exp($0 - top) }
        let total = e.reduce(0, +)
        return e.map { $0 / total }
    }

    /// Whether every entry is finite.
    static func isFinite(_ g: [[Double]]) -> Bool { g.allSatisfy { $0.allSatisfy(\.isFinite) } }
}
