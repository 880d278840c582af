import TandemCore
import TandemNN

/// Multi-task network cascades (Dai, He and Sun 2016, "Instance-aware Semantic Segmentation via
/// Multi-task Network Cascades", Sec. 3 and Eq. 3–4): the tasks run in a declared order, and each
/// task's branch reads the shared features with the previous task's output appended,
/// `yₜ = headₜ([f(x), yₜ₋₁])` (the first reads `f(x)` alone). As in the paper (Sec. 4, Eq. 8), the
/// cascade is trained end to end: a later task's loss reaches the earlier branches through the
/// appended outputs.
public final class NetworkCascade: Module, MultiTaskModel {
    public let tasks: [TaskSpec]
    public let shared: any Layer
    /// `heads[t]` reads `features` units, plus the width of task t − 1's output for t > 0.
    public let heads: [any Layer]

    /// Tasks run in `tasks` order; every head must be a module.
    public init(tasks: [TaskSpec], trunk: any Layer & Module, heads: [any Layer & Module]) throws {
        guard !tasks.isEmpty, heads.count == tasks.count else {
            throw TandemError.invalidArgument(op: "NetworkCascade", message: "\(tasks.count) tasks need as many heads, got \(heads.count)")
        }
        self.tasks = tasks
        self.shared = trunk
        self.heads = heads
    }

    public func forward(_ x: Tensor) throws -> [Tensor] { try cascade(shared(x)) }

    /// The branches in order on the trunk's `features` [N, D].
    func cascade(_ features: Tensor) throws -> [Tensor] {
        var outputs: [Tensor] = []
        for head in heads {
            let input = try outputs.last.map { previous in
                guard previous.rank == 2, previous.shape[0] == features.shape[0], features.rank == 2 else {
                    throw TandemError.invalidArgument(
                        op: "NetworkCascade", message: "appends a task's output [N, K] to features [N, D]; got \(previous.shape) and \(features.shape)")
                }
                return try Tensor.concat([features, previous], axis: 1)
            } ?? features
            outputs.append(try head(input))
        }
        return outputs
    }

    public var sharedParameters: [Tensor] { (shared as? Module)?.parameters ?? [] }
}

extension NetworkCascade: RepresentationModel {
    /// The trunk's output is the representation; every branch depends on the tasks only through it.
    public func forward(_ x: Tensor, representation hook: (Tensor) throws -> Tensor) throws -> [Tensor] {
        try cascade(hook(shared(x)))
    }
}
