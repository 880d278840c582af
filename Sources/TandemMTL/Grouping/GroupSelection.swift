import TandemCore

/// The networks to train under a budget, and which of them serves each task: the choice of
/// Standley et al. 2020 ("Which tasks should be learned together in multi-task learning?", §3.3).
/// Groups may overlap; each task is served by the chosen group it does best in, and the choice
/// minimises the sum over tasks of that value, Σₜ min_{g ∋ t} values[g][t], subject to
/// Σ_g cost(g) ≤ budget and every task served. `search` finds it exactly by branch and bound.
public struct GroupSelection: Sendable, Equatable {
    /// The chosen groups, smallest first.
    public var groups: [TaskGroup]
    /// Per task, the chosen group that serves it.
    public var serving: [TaskGroup]
    /// Per task, its value in the group that serves it.
    public var values: [Double]
    /// Σ of `values`: what the choice minimises.
    public var total: Double
    /// Σ of the chosen groups' costs.
    public var cost: Double

    /// The best choice from `scores` whose groups cost at most `budget` in all (`cost` gives each
    /// group's; 1 for every group makes the budget a number of networks). Ties go to fewer groups,
    /// then to the lower cost. With `disjoint`, the groups must not share a task (a partition of the
    /// tasks, as when each task is to be deployed in one network only). Throws when no choice serves
    /// every task within the budget.
    ///
    /// Branch and bound over the groups in order of their mean value: a partial choice is dropped
    /// when even the best value each task could still get from the groups after it cannot beat the
    /// best complete choice found so far; a group that improves no task's value is never added.
    public static func search(_ scores: GroupScores, budget: Double, disjoint: Bool = false,
                              cost: (TaskGroup) -> Double = { _ in 1 }) throws -> GroupSelection {
        let taskCount = scores.taskCount
        guard budget.isFinite, budget > 0 else {
            throw TandemError.invalidArgument(op: "group", message: "the budget must be a positive number, got \(budget)")
        }
        var candidates: [(group: TaskGroup, cost: Double, values: [Double])] = []
        for group in scores.groups {
            let c = cost(group)
            guard c.isFinite, c > 0 else { throw TandemError.invalidArgument(op: "group", message: "group \(group) costs \(c)") }
            if c <= budget + 1e-9 { candidates.append((group, c, scores.values[group]!)) }
        }
        func mean(_ candidate: (group: TaskGroup, cost: Double, values: [Double])) -> Double {
            candidate.group.members.map { candidate.values[$0] }.reduce(0, +) / Double(candidate.group.count)
        }
        candidates.sort { mean($0) != mean($1) ? mean($0) < mean($1) : $0.group < $1.group }
        let n = candidates.count
        // suffix[i][t]: the best value task t can get from candidates i..<n (∞ if none holds it).
        var suffix = [[Double]](repeating: [Double](repeating: .infinity, count: taskCount), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            suffix[i] = suffix[i + 1]
            for t in candidates[i].group.members { suffix[i][t] = Swift.min(suffix[i][t], candidates[i].values[t]) }
        }
        guard suffix[0].allSatisfy({ $0.isFinite }) else {
            let missing = (0..<taskCount).filter { !suffix[0][$0].isFinite }
            throw TandemError.invalidArgument(op: "group", message: "no scored group within the budget \(budget) holds task(s) \(missing.map(String.init).joined(separator: ", "))")
        }
        var best: (chosen: [Int], total: Double, cost: Double)?
        func better(_ total: Double, _ count: Int, _ cost: Double) -> Bool {
            guard let best else { return true }
            if total < best.total - 1e-12 { return true }
            if total > best.total + 1e-12 { return false }
            return count != best.chosen.count ? count < best.chosen.count : cost < best.cost - 1e-12
        }
        func visit(_ start: Int, _ chosen: [Int], _ values: [Double], _ spent: Double, _ used: UInt32) {
            if values.allSatisfy({ $0.isFinite }) {
                let total = values.reduce(0, +)
                if better(total, chosen.count, spent) { best = (chosen, total, spent) }
            }
            guard start < n else { return }
            var bound = 0.0
            for t in 0..<taskCount { bound += Swift.min(values[t], suffix[start][t]) }
            if !bound.isFinite { return }
            if let best, bound > best.total + 1e-12 { return }
            for j in start..<n where spent + candidates[j].cost <= budget + 1e-9 && !(disjoint && used & candidates[j].group.mask != 0) {
                var next = values, improves = false
                for t in candidates[j].group.members where candidates[j].values[t] < next[t] {
                    next[t] = candidates[j].values[t]
                    improves = true
                }
                if improves { visit(j + 1, chosen + [j], next, spent + candidates[j].cost, used | candidates[j].group.mask) }
            }
        }
        visit(0, [], [Double](repeating: .infinity, count: taskCount), 0, 0)
        guard let best else {
            throw TandemError.invalidArgument(op: "group", message: "no choice of groups serves all \(taskCount) tasks within the budget \(budget)")
        }
        let groups = best.chosen.map { candidates[$0].group }.sorted()
        var serving: [TaskGroup] = [], values: [Double] = []
        for t in 0..<taskCount {
            let server = groups.filter { $0.contains(t) }.min { scores[$0, t]! != scores[$1, t]! ? scores[$0, t]! < scores[$1, t]! : $0 < $1 }!
            serving.append(server)
            values.append(scores[server, t]!)
        }
        return GroupSelection(groups: groups, serving: serving, values: values, total: best.total, cost: best.cost)
    }
}
