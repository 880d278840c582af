import TandemCore

/// What each candidate group is worth to each of its tasks: `values[g][t]` for every task t of group
/// g, lower is better (a loss, a loss relative to the task's own network, or minus an affinity).
/// The grouping methods differ only in how they fill this table (Standley et al. 2020, §3: the
/// exact search and the early-stopping approximation measure it, the higher-order approximation
/// averages pairs, TAG derives it from lookahead affinities); `GroupSelection` then picks the groups.
public struct GroupScores: Sendable, Equatable {
    /// How many tasks there are.
    public let taskCount: Int
    /// Per group, a value for each of the tasks (NaN for the tasks outside the group).
    public private(set) var values: [TaskGroup: [Double]]

    /// An empty table of `taskCount` tasks.
    public init(taskCount: Int) {
        precondition((1...TaskGroup.maximumTasks).contains(taskCount), "\(taskCount) tasks")
        self.taskCount = taskCount
        values = [:]
    }

    /// The groups with values, smallest first.
    public var groups: [TaskGroup] { values.keys.sorted() }

    /// The value of `task` in `group`, or nil when the group is not scored or the task not in it.
    public subscript(group: TaskGroup, task: Int) -> Double? {
        guard group.contains(task), let row = values[group] else { return nil }
        return row[task]
    }

    /// Sets `group`'s values: `perTask[t]` for each member t (the others are ignored). Every member's
    /// value must be finite.
    public mutating func set(_ group: TaskGroup, _ perTask: [Double]) throws {
        guard group.count > 0, group.members.allSatisfy({ $0 < taskCount }), perTask.count == taskCount else {
            throw TandemError.invalidArgument(op: "group", message: "group \(group) with \(perTask.count) values for \(taskCount) tasks")
        }
        var row = [Double](repeating: .nan, count: taskCount)
        for t in group.members {
            guard perTask[t].isFinite else {
                throw TandemError.invalidArgument(op: "group", message: "group \(group): task \(t)'s value is \(perTask[t])")
            }
            row[t] = perTask[t]
        }
        values[group] = row
    }

    /// Each value divided by the value of its task alone (`{t}`), so that 1 means "as good as its own
    /// network" and the tasks' scales no longer weigh on the choice. Every single-task group must be
    /// scored with a positive value.
    public func relativeToSingles() throws -> GroupScores {
        var singles: [Double] = []
        for t in 0..<taskCount {
            guard let alone = self[TaskGroup([t]), t], alone > 0 else {
                throw TandemError.invalidArgument(op: "group", message: "task \(t) has no positive value of its own to be relative to")
            }
            singles.append(alone)
        }
        var out = GroupScores(taskCount: taskCount)
        for (group, row) in values { try out.set(group, (0..<taskCount).map { group.contains($0) ? row[$0] / singles[$0] : .nan }) }
        return out
    }

    /// Equal tables score the same groups with the same values (the NaNs of tasks outside a group
    /// compare equal).
    public static func == (a: GroupScores, b: GroupScores) -> Bool {
        a.taskCount == b.taskCount && a.values.count == b.values.count && a.values.allSatisfy { group, row in
            guard let other = b.values[group] else { return false }
            return zip(row, other).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
        }
    }

    /// The element-wise mean of tables of the same tasks, over the groups every table scores.
    public static func mean(_ tables: [GroupScores]) throws -> GroupScores {
        guard let first = tables.first, tables.allSatisfy({ $0.taskCount == first.taskCount }) else {
            throw TandemError.invalidArgument(op: "group", message: "averaging \(tables.count) tables of different task counts")
        }
        var out = GroupScores(taskCount: first.taskCount)
        for group in first.groups where tables.allSatisfy({ $0.values[group] != nil }) {
            try out.set(group, (0..<first.taskCount).map { t in
                group.contains(t) ? tables.map { $0[group, t] ?? .nan }.reduce(0, +) / Double(tables.count) : .nan
            })
        }
        return out
    }
}
