import TandemCore

/// A set of tasks trained together in one network: a bit set over task indices (task i is bit i).
/// Groups order by size, then by their members, so lists of them read the same in every run.
public struct TaskGroup: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Bit i set when task i is a member.
    public let mask: UInt32
    /// The most tasks a group can hold.
    public static let maximumTasks = 31

    /// The group of the tasks whose bits are set in `mask`.
    public init(mask: UInt32) { self.mask = mask }

    /// The group of `members` (task indices in 0..<31; repeats count once).
    public init(_ members: [Int]) {
        var mask: UInt32 = 0
        for m in members {
            precondition((0..<Self.maximumTasks).contains(m), "task index \(m) out of 0..<\(Self.maximumTasks)")
            mask |= 1 << UInt32(m)
        }
        self.mask = mask
    }

    /// The member task indices, ascending.
    public var members: [Int] { (0..<Self.maximumTasks).filter { contains($0) } }
    /// How many tasks the group holds.
    public var count: Int { mask.nonzeroBitCount }
    /// Whether task `task` is a member.
    public func contains(_ task: Int) -> Bool { task >= 0 && task < Self.maximumTasks && mask & (1 << UInt32(task)) != 0 }

    /// Every non-empty group of `tasks` tasks (2^tasks − 1 of them), smallest first.
    public static func all(tasks: Int) -> [TaskGroup] {
        precondition((1...Self.maximumTasks).contains(tasks), "\(tasks) tasks")
        return (1..<(UInt32(1) << UInt32(tasks))).map(TaskGroup.init(mask:)).sorted()
    }

    /// The groups of `tasks` tasks with at most `size` members, smallest first.
    public static func all(tasks: Int, upTo size: Int) -> [TaskGroup] {
        var out: [TaskGroup] = []
        func extend(_ start: Int, _ members: [Int]) {
            if !members.isEmpty { out.append(TaskGroup(members)) }
            guard members.count < size else { return }
            for t in start..<tasks { extend(t + 1, members + [t]) }
        }
        extend(0, [])
        return out.sorted()
    }

    /// The group with the members' names: `{depth, normals}`.
    public func label(_ names: [String]) -> String {
        "{" + members.map { $0 < names.count ? names[$0] : "#\($0)" }.joined(separator: ", ") + "}"
    }

    public var description: String { "{" + members.map(String.init).joined(separator: ", ") + "}" }

    public static func < (a: TaskGroup, b: TaskGroup) -> Bool {
        a.count != b.count ? a.count < b.count : a.members.lexicographicallyPrecedes(b.members)
    }
}
