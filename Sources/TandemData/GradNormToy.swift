import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The GradNorm toy problem (Chen et al. 2018, §4): T regression tasks
/// fᵢ(x) = σᵢ·tanh((B + εᵢ)·x) with x ∈ R^250 and outputs in R^100, B ~ N(0, 10²) shared by all tasks
/// and εᵢ ~ N(0, 3.5²) per task, element-wise; σ = (1, 100) for T = 2. Tasks `task1`…`taskT`, each a
/// 100-vector; inputs [250].
///
/// Input distribution (the paper does not state one): x ~ N(0, s²)^250 with s = `inputStd`,
/// 0.01 by default, so that (B + εᵢ)x has a standard deviation of about 1.7 and tanh is neither
/// linear nor saturated. The network is given x/s (unit variance, the usual input
/// standardisation; the labels are computed from x itself). The matrices come from the seed alone,
/// so both splits share them.
public enum GradNormToy {
    /// Input dimension.
    public static let inputDimension = 250
    /// Output dimension of each task.
    public static let outputDimension = 100
    /// The paper's scales for T = 2.
    public static let defaultSigmas: [Double] = [1, 100]

    /// The task names for `taskCount` tasks.
    public static func taskNames(_ taskCount: Int) -> [String] { (1...max(1, taskCount)).map { "task\($0)" } }

    /// The per-task matrices B + εᵢ ([100, 250] row-major each) drawn from `seed`.
    public static func matrices(taskCount: Int, seed: UInt64) -> [[Double]] {
        var random = DataRandom(seed: seed, stream: 0x6BAD)
        let n = outputDimension * inputDimension
        let b = (0..<n).map { _ in 10 * random.normal() }
        return (0..<taskCount).map { _ in b.map { $0 + 3.5 * random.normal() } }
    }

    /// `count` samples; `sampleSeed` draws the inputs, `seed` the matrices.
    public static func make(count: Int, sigmas: [Double], seed: UInt64, sampleSeed: UInt64, inputStd: Double = 0.01,
                            name: String) throws -> ArrayDataset {
        guard !sigmas.isEmpty, sigmas.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw TandemError.invalidArgument(op: "gradnorm-toy", message: "task scales \(sigmas) must be positive (one per task)")
        }
        guard count > 0 else { throw TandemError.invalidArgument(op: "gradnorm-toy", message: "sample count \(count) must be positive") }
        let m = matrices(taskCount: sigmas.count, seed: seed)
        var random = DataRandom(seed: sampleSeed, stream: 0x1A7E)
        let d = inputDimension, o = outputDimension
        var inputs = [Float](repeating: 0, count: count * d)
        var labels = [[Float]](repeating: [Float](repeating: 0, count: count * o), count: sigmas.count)
        var x = [Double](repeating: 0, count: d)
        for i in 0..<count {
            for j in 0..<d {
                let z = random.normal()
                x[j] = inputStd * z
                inputs[i * d + j] = Float(z)
            }
            for t in sigmas.indices {
                for r in 0..<o {
                    var s = 0.0
                    for j in 0..<d { s += m[t][r * d + j] * x[j] }
                    labels[t][i * o + r] = Float(sigmas[t] * tanh(s))
                }
            }
        }
        return try ArrayDataset(name: name, inputs: inputs, inputShape: [d],
                                tasks: taskNames(sigmas.count).map { DatasetTask($0, .regression, labelShape: [o]) }, labels: labels)
    }

    /// Training and test splits sharing the matrices of `seed`.
    public static func splits(sigmas: [Double] = defaultSigmas, trainCount: Int = 10_000, testCount: Int = 1_000,
                              seed: UInt64 = 0, inputStd: Double = 0.01) throws -> DatasetSplits {
        DatasetSplits(train: try make(count: trainCount, sigmas: sigmas, seed: seed, sampleSeed: seed &+ 1, inputStd: inputStd,
                                      name: "gradnorm-toy/train"),
                      test: try make(count: testCount, sigmas: sigmas, seed: seed, sampleSeed: seed &+ 2, inputStd: inputStd,
                                     name: "gradnorm-toy/test"))
    }
}
