import TandemCore
import TandemNN

/// Sluice networks (Ruder, Bingel, Augenstein and Søgaard 2019, "Latent Multi-task Architecture
/// Learning", Sec. 2): one column per task, as in cross-stitch networks, but every stage's output is
/// split along its channels into G subspaces and the T·G subspaces are remixed by one learned
/// matrix α ∈ ℝ^{TG×TG} (Eq. 1: `[h̃_{1,1} … h̃_{T,G}]ᵀ = α [h_{1,1} … h_{T,G}]ᵀ`); each task's head then
/// reads a learned mixture of its column's last stages, `h̃ₜ = Σₖ βₜₖ hₜₖ` (Eq. 3, the layer-skip β),
/// over the final `skipStages` stages, which must share their output shape.
///
/// α starts at `own` on each subspace's own entry, `other/(T − 1)` on the same subspace of every other
/// task and 0 elsewhere (cross-stitch's 0.9/0.1 start when T = 2); β starts at 1 on the last stage and
/// 0 elsewhere, so training starts from a cross-stitch network. The paper's orthogonality penalty
/// between a column's subspaces is not included.
public final class SluiceNetwork: Module, MultiTaskModel, MixingParameters {
    public let tasks: [TaskSpec]
    /// `stages[s][t]`: column t's stage s.
    public let stages: [[any Layer]]
    /// Subspaces per stage output.
    public let subspaces: Int
    /// One α [T·G, T·G] per stage.
    public let alphas: [Tensor]
    /// β [T, skipStages]: task t's weights on its column's last `skipStages` stage outputs.
    public let beta: Tensor
    public let heads: [any Layer]

    /// `channels[s]` is the channel count (axis 1) of stage s's output; each must divide by `subspaces`.
    public init(tasks: [TaskSpec], stages: [[any Layer & Module]], channels: [Int], subspaces: Int = 2, skipStages: Int,
                heads: [any Layer & Module], own: Float = 0.9, other: Float = 0.1, on device: any Device) throws {
        let t = tasks.count
        guard t > 0, heads.count == t, stages.count == channels.count, stages.allSatisfy({ $0.count == t }), subspaces >= 1,
              channels.allSatisfy({ $0 % subspaces == 0 && $0 > 0 }), (1...max(1, stages.count)).contains(skipStages), !stages.isEmpty else {
            throw TandemError.invalidArgument(
                op: "SluiceNetwork", message: "\(t) tasks need a column per stage and a head each, channels divisible by \(subspaces) subspaces and 1...\(stages.count) skip stages; got stages \(stages.map(\.count)), channels \(channels), \(heads.count) heads, \(skipStages) skip stages")
        }
        self.tasks = tasks
        self.stages = stages
        self.subspaces = subspaces
        self.heads = heads
        let n = t * subspaces
        let alpha: [Float] = (0..<(n * n)).map { index in
            let (row, column) = (index / n, index % n)
            if row == column { return own }
            return row % subspaces == column % subspaces && t > 1 ? other / Float(t - 1) : 0
        }
        alphas = try channels.map { _ in try Tensor(alpha, shape: [n, n], on: device, requiresGrad: true) }
        let b = (0..<(t * skipStages)).map { $0 % skipStages == skipStages - 1 ? Float(1) : 0 }
        beta = try Tensor(b, shape: [t, skipStages], on: device, requiresGrad: true)
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        let t = tasks.count, skip = beta.shape[1]
        var columns = [Tensor](repeating: x, count: t)
        var kept: [[Tensor]] = []  // the last `skip` stages' mixed outputs, per stage
        for (s, (stage, alpha)) in zip(stages, alphas).enumerated() {
            let outputs = try zip(stage, columns).map { layer, input in try layer(input) }
            columns = try mix(outputs, alpha: alpha)
            if s >= stages.count - skip { kept.append(columns) }
        }
        return try (0..<t).map { task in
            var h: Tensor?
            for (k, stage) in kept.enumerated() {
                guard stage[task].shape == kept[kept.count - 1][task].shape else {
                    throw TandemError.invalidArgument(
                        op: "SluiceNetwork", message: "β mixes the last \(skip) stages, whose outputs must share a shape; got \(kept.map { $0[task].shape })")
                }
                let weight = try beta.slice(axis: 0, task..<(task + 1)).slice(axis: 1, k..<(k + 1))
                    .reshape([Int](repeating: 1, count: stage[task].rank))
                let term = try stage[task] * weight
                h = try h.map { try $0 + term } ?? term
            }
            return try heads[task](h!)
        }
    }

    /// α applied to the columns' outputs [N, C, …]: each split into G channel groups, all T·G groups
    /// mixed as rows of one [N, T·G, C/G·positions] tensor.
    public func mix(_ outputs: [Tensor], alpha: Tensor) throws -> [Tensor] {
        let g = subspaces
        let shape = outputs[0].shape
        guard shape.count >= 2, shape[1] % g == 0, outputs.allSatisfy({ $0.shape == shape }) else {
            throw TandemError.invalidArgument(
                op: "SluiceNetwork", message: "mixes columns of one shape [N, C, …] with C divisible by \(g); got \(outputs.map(\.shape))")
        }
        let width = shape.dropFirst().reduce(1, *) / g
        let rows = try Tensor.concat(outputs.map { try $0.reshape([shape[0], g, width]) }, axis: 1)
        let mixed = try alpha.matmul(rows)  // [T·G, T·G] · [N, T·G, width]
        return try mixed.split(axis: 1, sizes: [Int](repeating: g, count: outputs.count)).map { try $0.reshape(shape) }
    }

    /// α and β.
    public var mixingParameters: [Tensor] { alphas + [beta] }

    /// The columns, α and β: everything before the heads.
    public var sharedParameters: [Tensor] {
        stages.flatMap { $0.flatMap { ($0 as? Module)?.parameters ?? [] } } + alphas + [beta]
    }
}
