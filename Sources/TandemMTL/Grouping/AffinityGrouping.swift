import TandemCore

/// Task grouping from one training run (TAG, Fifty et al. 2021, "Efficiently identifying task
/// groupings for multi-task learning", §3.2): with the lookahead inter-task affinities
/// Z_{i→j} = 1 − L_j(θ − η∇L_i)/L_j(θ) averaged over training, a task's affinity in a group is the
/// mean affinity onto it from the group's other members,
///     a(g, t) = 1/(|g| − 1) · Σ_{i ∈ g, i ≠ t} Z_{i→t},
/// and the chosen groups maximise the total Σₜ a(g(t), t). A task alone receives none (a = 0). As
/// `GroupSelection` minimises, the table holds −a.
public enum AffinityGrouping {
    /// Every group's value −a(g, t) from the T×T lookahead matrix `lookahead[i][j]` = Z_{i→j}
    /// (the diagonal is not used; every other entry must be finite).
    public static func scores(lookahead: [[Double]]) throws -> GroupScores {
        let taskCount = lookahead.count
        guard taskCount >= 1, taskCount <= TaskGroup.maximumTasks, lookahead.allSatisfy({ $0.count == taskCount }) else {
            throw TandemError.invalidArgument(op: "group", message: "the lookahead affinities are not a square matrix (\(taskCount) rows)")
        }
        for i in 0..<taskCount {
            for j in 0..<taskCount where i != j && !lookahead[i][j].isFinite {
                throw TandemError.invalidArgument(op: "group", message: "the lookahead affinity of task \(i) onto task \(j) was never measured")
            }
        }
        var out = GroupScores(taskCount: taskCount)
        for group in TaskGroup.all(tasks: taskCount) {
            try out.set(group, (0..<taskCount).map { t in
                guard group.contains(t) else { return .nan }
                let others = group.members.filter { $0 != t }
                return others.isEmpty ? 0 : -others.map { lookahead[$0][t] }.reduce(0, +) / Double(others.count)
            })
        }
        return out
    }
}
