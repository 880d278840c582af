import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The synthetic two-task regression data of the MMoE paper (Ma et al. 2018, §3.2), with the
/// constants of Google Research's generator: d = 100; u₁, u₂ orthonormal (Gram–Schmidt of two seeded
/// Gaussian vectors); w₁ = c·u₁, w₂ = c·(p·u₁ + √(1−p²)·u₂) with c = 1, so cos(w₁, w₂) = p;
/// x ~ N(0, 1)^d; yᵢ = wᵢᵀx + Σ_{k=1..10} sin(α_k·wᵢᵀx + β_k) + ε with α_k = k, β_k = (k−1)² and
/// ε ~ N(0, 0.01²). Tasks `task1` and `task2` (regression, one value each); inputs [100].
///
/// The weights come from the seed alone, so the training and test splits of one seed share them
/// and differ only in their samples.
public enum MMoESynthetic {
    /// Input dimension.
    public static let dimension = 100
    /// The task names.
    public static let taskNames = ["task1", "task2"]

    /// The orthonormal pair u₁, u₂ drawn from `seed` (the first two of `basis(count:seed:)`).
    public static func basis(seed: UInt64) -> (u1: [Double], u2: [Double]) {
        let u = basis(count: 2, seed: seed)
        return (u[0], u[1])
    }

    /// The task weight vectors w₁, w₂ for correlation `p` (c = 1).
    public static func weights(correlation p: Double, seed: UInt64) -> (w1: [Double], w2: [Double]) {
        let (u1, u2) = basis(seed: seed)
        let q = (max(0, 1 - p * p)).squareRoot()
        return (u1, zip(u1, u2).map { p * $0 + q * $1 })
    }

    /// The noiseless label of input projection `s = wᵀx`: s + Σ_{k=1..10} sin(k·s + (k−1)²).
    public static func target(_ s: Double) -> Double {
        var y = s
        for k in 1...10 { y += sin(Double(k) * s + Double((k - 1) * (k - 1))) }
        return y
    }

    /// The correlation matrix of two tasks with correlation `p`, which must lie in [−1, 1].
    static func twoTasks(_ p: Double) throws -> [[Double]] {
        guard (-1...1).contains(p) else {
            throw TandemError.invalidArgument(op: "mmoe-synth", message: "correlation \(p) is outside [-1, 1]")
        }
        return [[1, p], [p, 1]]
    }

    /// `count` samples for correlation `p`; `sampleSeed` draws the inputs and noise, `seed` the
    /// weights (the T-task generator with [[1, p], [p, 1]]).
    public static func make(count: Int, correlation p: Double, seed: UInt64, sampleSeed: UInt64, name: String) throws -> ArrayDataset {
        try make(count: count, correlations: twoTasks(p), seed: seed, sampleSeed: sampleSeed, name: name)
    }

    /// T orthonormal vectors u₁…u_T drawn from `seed` (Gram–Schmidt of seeded Gaussian vectors drawn
    /// in turn, so the first two are the same for every T).
    public static func basis(count: Int, seed: UInt64) -> [[Double]] {
        var random = DataRandom(seed: seed, stream: 0xB0A5)
        let d = dimension
        let raw = (0..<count).map { _ in (0..<d).map { _ in random.normal() } }
        func dot(_ x: [Double], _ y: [Double]) -> Double { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }
        var out: [[Double]] = []
        for var v in raw {
            for u in out {
                let projection = dot(u, v)
                v = zip(v, u).map { $0 - projection * $1 }
            }
            let norm = dot(v, v).squareRoot()
            out.append(v.map { $0 / norm })
        }
        return out
    }

    /// Task weight vectors whose cosines are `correlations` (a symmetric positive semi-definite T×T
    /// matrix with a unit diagonal): wᵢ = Σⱼ Lᵢⱼ uⱼ with L its Cholesky factor, so wᵢᵀw_k = Σᵢₖ. For
    /// T = 2 and [[1, p], [p, 1]] these are `weights(correlation: p, seed:)`.
    public static func weights(correlations: [[Double]], seed: UInt64) throws -> [[Double]] {
        let t = correlations.count
        func fail(_ message: String) -> TandemError { .invalidArgument(op: "mmoe-synth", message: message) }
        guard t >= 1, t <= dimension, correlations.allSatisfy({ $0.count == t }) else { throw fail("the task correlations must be a square matrix of 1...\(dimension) tasks") }
        for i in 0..<t {
            guard correlations[i][i] == 1 else { throw fail("task \(i + 1)'s correlation with itself must be 1, got \(correlations[i][i])") }
            for k in 0..<t where correlations[i][k] != correlations[k][i] || !(-1...1).contains(correlations[i][k]) {
                throw fail("the task correlations must be symmetric and within [-1, 1]; entry (\(i + 1), \(k + 1)) is \(correlations[i][k])")
            }
        }
        var l = [[Double]](repeating: [Double](repeating: 0, count: t), count: t)
        for i in 0..<t {
            for k in 0...i {
                var sum = correlations[i][k]
                for j in 0..<k { sum -= l[i][j] * l[k][j] }
                if i == k {
                    guard sum > -1e-12 else { throw fail("the task correlations are not positive semi-definite") }
                    l[i][i] = max(0, sum).squareRoot()
                } else {
                    l[i][k] = l[k][k] > 1e-12 ? sum / l[k][k] : 0
                }
            }
        }
        let u = basis(count: t, seed: seed)
        return (0..<t).map { i in (0..<dimension).map { j in (0...i).reduce(0) { $0 + l[i][$1] * u[$1][j] } } }
    }

    /// `count` samples of T tasks whose weight vectors have cosines `correlations` (tasks
    /// `task1`…`taskT`), each label built as in the two-task set.
    public static func make(count: Int, correlations: [[Double]], seed: UInt64, sampleSeed: UInt64, name: String) throws -> ArrayDataset {
        guard count > 0 else { throw TandemError.invalidArgument(op: "mmoe-synth", message: "sample count \(count) must be positive") }
        let w = try weights(correlations: correlations, seed: seed)
        var random = DataRandom(seed: sampleSeed, stream: 0xDA7A)
        let d = dimension, t = w.count
        var inputs = [Float](repeating: 0, count: count * d)
        var labels = [[Float]](repeating: [Float](repeating: 0, count: count), count: t)
        var x = [Double](repeating: 0, count: d)
        for i in 0..<count {
            for j in 0..<d {
                x[j] = random.normal()
                inputs[i * d + j] = Float(x[j])
            }
            for task in 0..<t {
                let s = zip(w[task], x).reduce(0) { $0 + $1.0 * $1.1 }
                labels[task][i] = Float(target(s) + 0.01 * random.normal())
            }
        }
        return try ArrayDataset(name: name, inputs: inputs, inputShape: [d],
                                tasks: (1...t).map { DatasetTask("task\($0)", .regression) }, labels: labels)
    }

    /// Four tasks in two pairs whose weights have cosine `within` inside a pair and 0 across: the
    /// planted grouping {task1, task2}, {task3, task4} (`mmoe-pairs`: 0.9; `mmoe-pairs-neg`: −0.9).
    public static func pairs(within: Double) -> [[Double]] {
        (0..<4).map { i in (0..<4).map { k in i == k ? 1 : (i / 2 == k / 2 ? within : 0) } }
    }

    /// Training and test splits of T tasks with `correlations`, sharing the weights of `seed`.
    public static func splits(correlations: [[Double]], trainCount: Int = 10_000, testCount: Int = 2_000, seed: UInt64 = 0,
                              name: String) throws -> DatasetSplits {
        DatasetSplits(train: try make(count: trainCount, correlations: correlations, seed: seed, sampleSeed: seed &+ 1, name: "\(name)/train"),
                      test: try make(count: testCount, correlations: correlations, seed: seed, sampleSeed: seed &+ 2, name: "\(name)/test"))
    }

    /// Training and test splits for correlation `p`, sharing the weights of `seed`.
    public static func splits(correlation p: Double = 0.5, trainCount: Int = 10_000, testCount: Int = 2_000,
                              seed: UInt64 = 0) throws -> DatasetSplits {
        try splits(correlations: twoTasks(p), trainCount: trainCount, testCount: testCount, seed: seed, name: "mmoe-synth")
    }
}
