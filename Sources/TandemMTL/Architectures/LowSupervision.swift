import TandemCore
import TandemNN

/// Low supervision (Søgaard and Goldberg 2016, "Deep multi-task learning with low level tasks
/// supervised at lower layers", Sec. 2): one shared stack of stages, and each task's head reads the
/// output of its own stage, `yₜ = headₜ(h_{ℓ(t)})` with `h_ℓ = stage_ℓ(h_{ℓ−1})`, so a low-level task
/// is supervised below the others and its loss never reaches the stages above its level.
public final class LowSupervision: Module, MultiTaskModel {
    public let tasks: [TaskSpec]
    public let stages: [any Layer]
    public let heads: [any Layer]
    /// `levels[t]`: the stage (0-based) whose output task t's head reads.
    public let levels: [Int]

    public init(tasks: [TaskSpec], stages: [any Layer & Module], levels: [Int], heads: [any Layer & Module]) throws {
        guard !tasks.isEmpty, heads.count == tasks.count, levels.count == tasks.count,
              levels.allSatisfy({ stages.indices.contains($0) }) else {
            throw TandemError.invalidArgument(
                op: "LowSupervision", message: "\(tasks.count) tasks need a head and a level each within \(stages.count) stages; got \(heads.count) heads, levels \(levels)")
        }
        self.tasks = tasks
        self.stages = stages
        self.heads = heads
        self.levels = levels
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        var outputs: [Tensor] = []
        var h = x
        // Stages above the highest level feed no head and are not run.
        for stage in stages.prefix((levels.max() ?? 0) + 1) {
            h = try stage(h)
            outputs.append(h)
        }
        return try zip(heads, levels).map { head, level in try head(outputs[level]) }
    }

    /// The stages (those above a task's level get no gradient from it).
    public var sharedParameters: [Tensor] { stages.flatMap { ($0 as? Module)?.parameters ?? [] } }
}
