import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a loader composes a step from data whose samples each carry one task's label (multi-input
/// data): the "sample tasks, then sample examples for each task" loop of the multi-task lecture
/// notes (Stanford CS330): each step draws `tasksPerStep` tasks without replacement, task t with
/// probability pₜ ∝ nₜ^{1/τ} (nₜ its samples; `uniform` is τ → ∞, `proportional` τ = 1), then the next
/// batch ÷ K samples of each drawn task from a seeded shuffle of that task's own samples (reshuffled
/// when they run out). With every task in every step (the default) this is LibMTL's multi-input mode.
/// An epoch is ⌈Σ nₜ ÷ (K·b)⌉ steps: every sample once on average.
public struct TaskBatchSampling: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        case uniform
        case proportional
        /// pₜ ∝ nₜ^{1/τ}, τ > 0.
        case temperature(Double)
    }

    public var rule: Rule
    /// K; nil: every task in every step.
    public var tasksPerStep: Int?

    public init(rule: Rule = .uniform, tasksPerStep: Int? = nil) throws {
        if case let .temperature(t) = rule, !(t.isFinite && t > 0) {
            throw TandemError.invalidArgument(op: "task sampling", message: "the temperature must be finite and positive, got \(t)")
        }
        if let tasksPerStep, tasksPerStep < 1 {
            throw TandemError.invalidArgument(op: "task sampling", message: "tasks per step must be at least 1, got \(tasksPerStep)")
        }
        self.rule = rule
        self.tasksPerStep = tasksPerStep
    }

    /// The rule from its command-line spelling: `uniform`, `proportional` or `temperature=τ`.
    public init(parsing text: String, tasksPerStep: Int? = nil) throws {
        switch text {
        case "uniform": try self.init(rule: .uniform, tasksPerStep: tasksPerStep)
        case "proportional": try self.init(rule: .proportional, tasksPerStep: tasksPerStep)
        default:
            guard text.hasPrefix("temperature="), let t = Double(text.dropFirst("temperature=".count)) else {
                throw TandemError.invalidArgument(op: "task sampling", message: "expected uniform, proportional or temperature=τ, got '\(text)'")
            }
            try self.init(rule: .temperature(t), tasksPerStep: tasksPerStep)
        }
    }

    /// The rule's spelling (what `init(parsing:)` reads).
    public var spelling: String {
        switch rule {
        case .uniform: return "uniform"
        case .proportional: return "proportional"
        case let .temperature(t): return "temperature=\(t)"
        }
    }

    /// pₜ for tasks of `counts` samples (a task without samples gets 0).
    public func probabilities(counts: [Int]) -> [Double] {
        let weights = counts.map { n -> Double in
            guard n > 0 else { return 0 }
            switch rule {
            case .uniform: return 1
            case .proportional: return Double(n)
            case let .temperature(t): return pow(Double(n), 1 / t)
            }
        }
        let total = weights.reduce(0, +)
        return weights.map { total > 0 ? $0 / total : 0 }
    }

    /// How an epoch over `groups` (each task's samples) is laid out with `batchSize` samples per
    /// step: the tasks that have samples, K tasks per step, b samples of each, and the steps
    /// (⌈Σ nₜ ÷ (K·b)⌉, at least 1; 0 without samples).
    func layout(groups: [[Int]], batchSize: Int) -> (active: [Int], tasks: Int, samples: Int, steps: Int) {
        let active = groups.indices.filter { !groups[$0].isEmpty }
        guard !active.isEmpty else { return ([], 0, 0, 0) }
        let k = Swift.min(tasksPerStep ?? active.count, active.count)
        let per = Swift.max(1, batchSize / k)
        let total = active.reduce(0) { $0 + groups[$1].count }
        return (active, k, per, Swift.max(1, (total + k * per - 1) / (k * per)))
    }

    /// The sample indices of each step of epoch `epoch` over `groups` (each task's samples), with
    /// `batchSize` samples per step; a pure function of `seed` and `epoch`.
    func batches(groups: [[Int]], batchSize: Int, seed: UInt64, epoch: Int) -> [[Int]] {
        let (active, k, per, steps) = layout(groups: groups, batchSize: batchSize)
        guard steps > 0 else { return [] }
        let p = probabilities(counts: groups.map(\.count))
        var random = DataRandom(seed: seed, stream: 0x5A3D_0000 &+ UInt64(truncatingIfNeeded: epoch))
        var orders = groups.map { random.permutation($0.count) }
        var cursors = [Int](repeating: 0, count: groups.count)
        var out: [[Int]] = []
        out.reserveCapacity(steps)
        for _ in 0..<steps {
            var chosen: [Int]
            if k == active.count {
                chosen = active
            } else {
                chosen = []
                var left = active
                for _ in 0..<k {
                    let mass = left.reduce(0) { $0 + p[$1] }
                    var u = random.unit() * mass
                    var pick = left.count - 1
                    for (i, t) in left.enumerated() {
                        u -= p[t]
                        if u < 0 { pick = i; break }
                    }
                    chosen.append(left.remove(at: pick))
                }
            }
            var batch: [Int] = []
            batch.reserveCapacity(k * per)
            for t in chosen {
                for _ in 0..<per {
                    if cursors[t] == groups[t].count {
                        orders[t] = random.permutation(groups[t].count)
                        cursors[t] = 0
                    }
                    batch.append(groups[t][orders[t][cursors[t]]])
                    cursors[t] += 1
                }
            }
            out.append(batch)
        }
        return out
    }
}
