import TandemCore

/// The ways `tandem group` predicts what each group of tasks is worth (Standley et al. 2020; Fifty
/// et al. 2021). All but TAG read the validation loss of each task at its network's best epoch,
/// relative to the loss of the task's own network (1: as good as alone).
public enum GroupingMethod: String, CaseIterable, Sendable {
    /// TAG: lookahead inter-task affinities from one run of all the tasks (`AffinityGrouping`).
    case tag
    /// The higher-order approximation: networks of every task and pair (`HigherOrderApproximation`).
    case hoa
    /// The early-stopping approximation: every group trained for a fraction of the epochs.
    case esa
    /// Every group trained fully; the choice is then exact for the measured values.
    case exact

    /// The groups whose networks this method trains fully (TAG's one run is the group of all tasks).
    public func trainedGroups(tasks: Int) -> [TaskGroup] {
        switch self {
        case .tag: return [TaskGroup(Array(0..<tasks))]
        case .hoa: return HigherOrderApproximation.trainedGroups(tasks: tasks)
        case .esa, .exact: return TaskGroup.all(tasks: tasks)
        }
    }

    /// A line on what the method costs and reads.
    public var summary: String {
        switch self {
        case .tag: return "TAG (Fifty et al. 2021): lookahead affinities from one run of all tasks"
        case .hoa: return "higher-order approximation (Standley et al. 2020): every task alone and every pair"
        case .esa: return "early-stopping approximation (Standley et al. 2020): every group, a fraction of the epochs"
        case .exact: return "exact: every group trained fully"
        }
    }

    /// The relative table of `runs` (one per group, all of one seed) for the methods that read
    /// losses: ESA at `esaEpochs` epochs, HOA from single tasks and pairs, exact from every group.
    public func scores(runs: [TaskGroup: GroupRun], tasks: Int, esaEpochs: Int) throws -> GroupScores {
        var measured = GroupScores(taskCount: tasks)
        for group in trainedGroups(tasks: tasks) {
            guard let run = runs[group] else {
                throw TandemError.invalidArgument(op: "group", message: "\(rawValue) needs the network of group \(group)")
            }
            try measured.set(group, run.values(within: self == .esa ? esaEpochs : nil))
        }
        switch self {
        case .tag: throw TandemError.invalidArgument(op: "group", message: "TAG reads lookahead affinities, not losses")
        case .hoa: return try HigherOrderApproximation.scores(from: measured.relativeToSingles())
        case .esa, .exact: return try measured.relativeToSingles()
        }
    }
}
