import TandemCore
import TandemNN

/// One shared network whose latter half each task runs with its own per-channel transform after
/// every layer there, then its own head. Two transforms:
///
/// - `projection`: the modulation module of Zhao, Li, Zhao and Feng 2018 ("A Modulation Module for
///   Multi-task Learning with Applications in Image Retrieval", Sec. 3.1, Eq. 1): after a layer with C
///   channels, task t projects every position's channel vector, `x′ = Wₜ x` with Wₜ ∈ ℝ^{C×C}
///   (initialised to the identity, so training starts from hard sharing). The paper's claim (Sec. 3.2):
///   the projections reduce the conflict between the tasks' gradients on the shared layers.
/// - `gate`: multiplicative gating of the shared layers by a learned task embedding (task
///   conditioning in the survey literature, Ruder 2017 and CS330's lecture notes):
///   `x′ = (E zₜ) ⊙ x` with zₜ the task's one-hot descriptor, so `E zₜ` is row t of E ∈ ℝ^{T×C}
///   (initialised to ones), one gate value per channel.
///
/// Each task's output is its own head on its own pass, `yₜ = headₜ(g(x; zₜ))`: the multi-head model
/// whose head is selected by the task id. Where each sample carries one task's label, the losses'
/// masks (a missing label contributes nothing) keep exactly `head_{t(x)}(g(x; z_{t(x)}))` for every
/// sample; the passes of the other tasks are computed and discarded (the latter half costs T
/// passes).
public final class TaskModulation: Module, MultiTaskModel {
    public enum Transform: String, Sendable { case projection, gate }

    public let tasks: [TaskSpec]
    public let transform: Transform
    /// The first half, run once.
    public let shared: any Layer
    /// The latter half's layers, each followed by the task's transform and then `after[s]`.
    public let layers: [any Layer]
    public let after: [any Layer]
    /// Per layer: [T, C, C] projections or [T, C] gates.
    public let transforms: [Tensor]
    public let heads: [any Layer]

    /// `channels[s]` is the channel count (axis 1) of `layers[s]`'s output.
    public init(tasks: [TaskSpec], transform: Transform, shared: any Layer & Module, layers: [any Layer & Module],
                channels: [Int], after: [any Layer & Module], heads: [any Layer & Module], on device: any Device) throws {
        guard !tasks.isEmpty, heads.count == tasks.count, !layers.isEmpty, layers.count == channels.count,
              after.count == layers.count, channels.allSatisfy({ $0 > 0 }) else {
            throw TandemError.invalidArgument(
                op: "TaskModulation", message: "\(tasks.count) tasks need a head each and every modulated layer a channel count and a follower; got \(heads.count) heads, \(layers.count) layers, channels \(channels), \(after.count) followers")
        }
        self.tasks = tasks
        self.transform = transform
        self.shared = shared
        self.layers = layers
        self.after = after
        self.heads = heads
        let t = tasks.count
        transforms = try channels.map { c in
            switch transform {
            case .projection:
                let identity = (0..<(t * c * c)).map { i -> Float in (i % (c * c)) / c == i % c ? 1 : 0 }
                return try Tensor(identity, shape: [t, c, c], on: device, requiresGrad: true)
            case .gate:
                return try Tensor([Float](repeating: 1, count: t * c), shape: [t, c], on: device, requiresGrad: true)
            }
        }
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        let h0 = try shared(x)
        return try heads.indices.map { t in
            var h = h0
            for s in layers.indices {
                h = try after[s](modulate(layers[s](h), stage: s, task: t))
            }
            return try heads[t](h)
        }
    }

    /// Task `task`'s transform of stage `stage` applied to `y` [N, C, …].
    func modulate(_ y: Tensor, stage: Int, task: Int) throws -> Tensor {
        let table = transforms[stage]
        let c = table.shape[1]
        guard y.rank >= 2, y.shape[1] == c else {
            throw TandemError.invalidArgument(op: "TaskModulation", message: "stage \(stage) expects [N, \(c), …], got \(y.shape)")
        }
        let row = try table.slice(axis: 0, task..<(task + 1))
        switch transform {
        case .projection:
            // [1, C, C] · [N, C, positions]: every position's channel vector projected.
            let positions = y.shape.dropFirst(2).reduce(1, *)
            return try row.matmul(y.reshape([y.shape[0], c, positions])).reshape(y.shape)
        case .gate:
            return try y * row.reshape([1, c] + [Int](repeating: 1, count: y.rank - 2))
        }
    }

    /// The shared layers of both halves (the transforms and heads are the tasks' own).
    public var sharedParameters: [Tensor] {
        ([shared] + layers + after).flatMap { ($0 as? Module)?.parameters ?? [] }
    }
}
