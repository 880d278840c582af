import TandemCore

/// Standley et al. 2020's higher-order approximation (HOA, §3.2): from networks trained on every
/// single task and every pair, a task's value in a larger group is the mean of its values in the
/// pairs it forms with the group's other members,
///     v̂(g, t) = 1/(|g| − 1) · Σ_{u ∈ g, u ≠ t} v({t, u}, t),
/// so T(T + 1)/2 trainings predict all 2^T − 1 groups.
public enum HigherOrderApproximation {
    /// The groups HOA trains: each task alone and each pair.
    public static func trainedGroups(tasks: Int) -> [TaskGroup] { TaskGroup.all(tasks: tasks, upTo: 2) }

    /// Every group's predicted values from `measured`, which must hold every single task and pair.
    public static func scores(from measured: GroupScores) throws -> GroupScores {
        let taskCount = measured.taskCount
        var out = GroupScores(taskCount: taskCount)
        for group in trainedGroups(tasks: taskCount) {
            guard let row = measured.values[group] else {
                throw TandemError.invalidArgument(op: "group", message: "the higher-order approximation needs group \(group) trained")
            }
            try out.set(group, row)
        }
        for group in TaskGroup.all(tasks: taskCount) where group.count > 2 {
            try out.set(group, (0..<taskCount).map { t in
                guard group.contains(t) else { return .nan }
                let partners = group.members.filter { $0 != t }
                return partners.map { measured[TaskGroup([t, $0]), t]! }.reduce(0, +) / Double(partners.count)
            })
        }
        return out
    }
}
