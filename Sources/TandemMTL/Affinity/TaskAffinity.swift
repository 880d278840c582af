import TandemCore
import TandemNN
import TandemData

/// What the tasks did to each other during one epoch: the mean cosine similarity of their gradients
/// on the shared parameters and, when enabled, TAG's lookahead affinity, with a summary in words.
public struct AffinityReport: Sendable {
    /// Task names, in task order (rows and columns of the matrices).
    public let tasks: [String]
    /// How many steps were measured this epoch.
    public let steps: Int
    /// cosine[i][j]: mean over the measured steps of cos(∇Lᵢ, ∇Lⱼ) on the shared parameters (NaN
    /// for a pair never measured, for example when a gradient was always zero).
    public let cosine: [[Float]]
    /// lookahead[i][j] = Z_{i→j} = 1 − Lⱼ(θ − η∇Lᵢ)/Lⱼ(θ), averaged over the measured steps: how much
    /// a step on task i alone lowers task j's loss (negative: raises it). Nil when not enabled.
    public let lookahead: [[Float]]?
    /// One line per task pair (and per ordered pair for the lookahead): which help and which hurt.
    public let summary: [String]
    /// Pairs (i < j) whose cosine is below the conflict threshold.
    public let conflicts: [(Int, Int)]
    /// Pairs (i < j) whose cosine is above the help threshold.
    public let helps: [(Int, Int)]
}

/// Measures task affinity while training: call `observe` each training step and `endEpoch` after
/// each epoch.
///
/// Gradient cosines: every `every`-th step, each task's loss is backpropagated on its own, the
/// gradients of the shared parameters stay on the device as a [T, P] matrix, and only its T×T Gram
/// matrix is downloaded; the epoch's matrix is the mean of the per-step cosines (each step counts
/// the same whatever the gradients' size, so early large gradients do not dominate). A gradient
/// method that already has the Gram matrix (PCGrad, MGDA) can hand it over with `observe(gram:)`
/// at no extra cost.
///
/// Lookahead (TAG, Fifty et al. 2021), opt-in with `lookaheadLearningRate`: on the same batch, for
/// each task i the shared parameters are moved to θ − η∇Lᵢ, all losses are recomputed (by the
/// `recompute` closure the trainer passes), and the shared parameters are restored bit for bit.
/// It costs T extra forward passes and T + 1 downloads per measured step.
///
/// The parameters' `.grad` are left as they were, so `observe` may run before or after the
/// weighting method's `backward` on the same graph.
public final class TaskAffinity {
    /// The tasks measured.
    public let tasks: [TaskSpec]
    /// Measure every this many steps (1: every step).
    public let every: Int
    /// η of the lookahead, or nil when the lookahead is off.
    public let lookaheadLearningRate: Float?
    /// A cosine above this means the pair helps each other.
    public let helpThreshold: Float
    /// A cosine below this means the pair conflicts.
    public let conflictThreshold: Float

    private var step = 0
    private var measured = 0
    private var cosineSum: [[Double]]
    private var cosineCount: [[Int]]
    private var lookaheadSum: [[Double]]
    private var lookaheadCount: [[Int]]

    /// An affinity meter for `tasks`. `every` must be at least 1; the thresholds default to ±0.1.
    public init(tasks: [TaskSpec], every: Int = 1, lookaheadLearningRate: Float? = nil,
                helpThreshold: Float = 0.1, conflictThreshold: Float = -0.1) throws {
        guard !tasks.isEmpty, every >= 1, conflictThreshold <= helpThreshold,
              lookaheadLearningRate.map({ $0 > 0 && $0.isFinite }) ?? true else {
            throw TandemError.invalidArgument(
                op: "TaskAffinity",
                message: "needs tasks, every ≥ 1, a positive lookahead rate and conflict ≤ help threshold; got \(tasks.count) tasks, every \(every), rate \(lookaheadLearningRate.map { "\($0)" } ?? "off"), thresholds \(conflictThreshold)/\(helpThreshold)")
        }
        self.tasks = tasks
        self.every = every
        self.lookaheadLearningRate = lookaheadLearningRate
        self.helpThreshold = helpThreshold
        self.conflictThreshold = conflictThreshold
        let t = tasks.count
        cosineSum = Array(repeating: Array(repeating: 0, count: t), count: t)
        cosineCount = Array(repeating: Array(repeating: 0, count: t), count: t)
        lookaheadSum = cosineSum
        lookaheadCount = cosineCount
    }

    /// Whether the current step is one that `observe` measures (so a trainer can skip building
    /// anything for the others).
    public var measuresThisStep: Bool { step % every == 0 }

    /// One training step: measures the gradient cosines of `losses` (and the lookahead, when on and
    /// `recompute` is given) on `model`'s shared parameters if this step is sampled.
    ///
    /// `recompute` must return the per-task losses of the same batch at the model's current
    /// parameters, deterministically (evaluation mode, or the same dropout masks).
    public func observe(losses: [Tensor], model: any MultiTaskModel, recompute: (() throws -> [Tensor])? = nil) throws {
        defer { step += 1 }
        guard measuresThisStep else { return }
        try WeightingChecks.losses(losses, model: model, method: "TaskAffinity")
        guard losses.count == tasks.count else {
            throw TandemError.invalidArgument(op: "TaskAffinity", message: "\(losses.count) losses for \(tasks.count) tasks")
        }
        let all = model.parameters
        let saved = all.map(\.grad)
        defer { for (p, g) in zip(all, saved) { p.grad = g } }
        let gradients = try TaskGradients(losses: losses, parameters: model.sharedParameters, op: "TaskAffinity")
        let (gram, lossValues) = try gradients.gram(with: losses)
        add(gram: gram)
        if let eta = lookaheadLearningRate, let recompute {
            try lookahead(gradients: gradients, before: lossValues, eta: eta, recompute: recompute)
        }
    }

    /// Measures the batches `indices` of `data` (one step each): every batch through `model` in
    /// evaluation mode (so measuring moves no batch-norm running statistics), its per-task losses
    /// observed, and the lookahead's losses, when on, recomputed on the same batch.
    public func observe(batches indices: [[Int]], of data: any MultiTaskDataset, model: any MultiTaskModel, on device: any Device) throws {
        model.eval()
        defer { model.train() }
        let specs = model.tasks
        for batchIndices in indices {
            let batch = try TrainingBatch(data.batch(batchIndices), tasks: data.tasks, on: device)
            func losses() throws -> [Tensor] {
                let outputs = try model.forward(batch.input)
                return try specs.indices.map { try specs[$0].maskedLoss(outputs[$0], batch.targets[$0], mask: batch.masks[$0]) }
            }
            try observe(losses: try losses(), model: model, recompute: losses)
        }
    }

    /// One training step whose Gram matrix a gradient method already computed (`ProvidesTaskGram`):
    /// counts it if this step is sampled, without any device work.
    public func observe(gram: [[Double]]) throws {
        defer { step += 1 }
        guard measuresThisStep else { return }
        guard gram.count == tasks.count, gram.allSatisfy({ $0.count == tasks.count }) else {
            throw TandemError.invalidArgument(op: "TaskAffinity", message: "a \(gram.count)×\(gram.first?.count ?? 0) Gram matrix for \(tasks.count) tasks")
        }
        add(gram: gram)
    }

    /// The epoch's report; starts a new epoch.
    public func endEpoch() -> AffinityReport {
        let t = tasks.count
        let cosine = TaskAffinity.means(cosineSum, cosineCount)
        let hasLookahead = lookaheadLearningRate != nil && lookaheadCount.joined().contains { $0 > 0 }
        let lookahead: [[Float]]? = hasLookahead ? TaskAffinity.means(lookaheadSum, lookaheadCount) : nil
        let report = TaskAffinity.report(tasks: tasks.map(\.name), steps: measured, cosine: cosine, lookahead: lookahead,
                                         help: helpThreshold, conflict: conflictThreshold)
        cosineSum = Array(repeating: Array(repeating: 0, count: t), count: t)
        cosineCount = Array(repeating: Array(repeating: 0, count: t), count: t)
        lookaheadSum = cosineSum
        lookaheadCount = cosineCount
        measured = 0
        step = 0
        return report
    }

    /// Builds a report (and its summary lines) from epoch matrices.
    public static func report(tasks: [String], steps: Int, cosine: [[Float]], lookahead: [[Float]]?,
                              help: Float = 0.1, conflict: Float = -0.1) -> AffinityReport {
        let t = tasks.count
        var lines: [String] = []
        var conflicts: [(Int, Int)] = []
        var helps: [(Int, Int)] = []
        if steps == 0 { lines.append("no steps were measured this epoch") }
        for i in 0..<t {
            for j in 0..<t where j > i {
                let c = cosine[i][j]
                let pair = "\(tasks[i]) and \(tasks[j])"
                if c.isNaN {
                    lines.append("\(pair): not measured (a gradient was zero)")
                } else if c > help {
                    helps.append((i, j))
                    lines.append("\(pair) help each other (gradient cosine \(format(c)))")
                } else if c < conflict {
                    conflicts.append((i, j))
                    lines.append("\(pair) conflict (gradient cosine \(format(c)))")
                } else {
                    lines.append("\(pair) are nearly independent (gradient cosine \(format(c)))")
                }
            }
        }
        if let lookahead {
            for i in 0..<t {
                for j in 0..<t where j != i && !lookahead[i][j].isNaN {
                    let z = lookahead[i][j]
                    let effect = z > 0 ? "lowers" : (z < 0 ? "raises" : "does not change")
                    let percent = z == 0 ? "" : " by \(format(Swift.abs(z) * 100))%"
                    lines.append("a step on \(tasks[i]) \(effect) \(tasks[j])'s loss\(percent) (lookahead Z = \(format(z, digits: 4)))")
                }
            }
        }
        return AffinityReport(tasks: tasks, steps: steps, cosine: cosine, lookahead: lookahead, summary: lines,
                              conflicts: conflicts, helps: helps)
    }

    /// `x` with `digits` decimals (as the summary lines print numbers), without Foundation.
    public static func format(_ x: Float, digits: Int = 2) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (Double(Swift.abs(x)) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        var fractionText = String(fraction)
        while fractionText.count < digits { fractionText = "0" + fractionText }
        let sign = x < 0 && scaled > 0 ? "-" : ""
        return digits > 0 ? "\(sign)\(whole).\(fractionText)" : "\(sign)\(whole)"
    }

    /// Element-wise sum/count, NaN where the count is 0.
    private static func means(_ sums: [[Double]], _ counts: [[Int]]) -> [[Float]] {
        var result: [[Float]] = []
        for (sumRow, countRow) in zip(sums, counts) {
            var row: [Float] = []
            for (sum, count) in zip(sumRow, countRow) {
                row.append(count > 0 ? Float(sum / Double(count)) : Float.nan)
            }
            result.append(row)
        }
        return result
    }

    private func add(gram: [[Double]]) {
        measured += 1
        let t = tasks.count
        for i in 0..<t {
            for j in 0..<t where gram[i][i] > 0 && gram[j][j] > 0 {
                let c = gram[i][j] / (gram[i][i].squareRoot() * gram[j][j].squareRoot())
                cosineSum[i][j] += Swift.min(Swift.max(c, -1), 1)
                cosineCount[i][j] += 1
            }
        }
    }

    private func lookahead(gradients: TaskGradients, before: [Float], eta: Float, recompute: () throws -> [Tensor]) throws {
        let shared = gradients.parameters
        let originals = try Tensor.withoutGradient { try shared.map { try $0.detach() * 1 } }
        defer {
            // Restoring cannot fail for tensors of the same shape and device; keep the first error.
            try? Tensor.withoutGradient { for (p, o) in zip(shared, originals) { try p.assign(o) } }
        }
        let t = tasks.count
        for i in 0..<t {
            let after: [Float] = try Tensor.withoutGradient {
                for (p, (o, g)) in zip(shared, zip(originals, try gradients.gradient(of: i))) {
                    try p.assign(try o - g * eta)
                }
                let losses = try recompute()
                guard losses.count == t, losses.allSatisfy({ $0.count == 1 }) else {
                    throw TandemError.invalidArgument(op: "TaskAffinity", message: "recompute returned \(losses.count) losses for \(t) tasks")
                }
                return try Tensor.concat(losses.map { try $0.detach().reshape([1]) }, axis: 0).values()
            }
            for j in 0..<t where before[j] != 0 && before[j].isFinite && after[j].isFinite {
                lookaheadSum[i][j] += 1 - Double(after[j]) / Double(before[j])
                lookaheadCount[i][j] += 1
            }
        }
    }
}
