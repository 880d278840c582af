import TandemCore
import TandemNN

/// Learning to Branch (Guo, Lee and Ulbricht 2020, "Learning to Branch for Multi-Task Learning",
/// ICML): a tree-shaped network whose branching is learned with the Gumbel-softmax. Every stage has
/// one node per task (here: column); node k of stage s > 0 reads one node of stage s − 1, its parent,
/// chosen by a categorical distribution with logits θₛ,ₖ (a learned [T] row; `logits` holds
/// [S − 1, T, T]). Two nodes that pick the same parent share everything below it, so any tree from
/// full sharing to one column per task can come out; head t reads node t of the last stage.
///
/// Training draws each parent with the straight-through Gumbel-softmax (Jang et al. 2017; the
/// paper's Eq. 3–4): y = softmax((θ + g)/τ) with gᵢ = −log(−log uᵢ), uᵢ ~ U(0, 1); the forward pass
/// uses the one-hot argmax of y (a hard choice, so a sampled tree is what runs) and the backward pass
/// the gradient of y. Schedule (the paper trains the weights first, then anneals τ; the constants
/// are LibMTL's for ten epochs): during the first `warmup` epochs every node reads the mean of all
/// parents and θ is not trained; afterwards τₑ = τ₀/√(e + 1) (τ₀ = 0.5). In evaluation mode the
/// branching is the most likely tree, argmax θ (the mean of all parents during the warm-up).
///
/// Noise comes from the device's counter-based stream, seeded and counted, so CPU and OpenCL draw
/// the same trees and a resumed run the same next one (the count and epoch are part of the state).
/// The paper then re-trains the final tree from scratch; here the trained weights are kept.
public final class LearningToBranch: Module, MultiTaskModel, EpochScheduledModel, MixingParameters, StateLoadObserver {
    public let tasks: [TaskSpec]
    /// `stages[s][k]`: node k of stage s.
    public let stages: [[any Layer]]
    /// θ, [S − 1, T, T]: row (s, k) the parent logits of node k at stage s + 1.
    public let logits: Tensor
    public let heads: [any Layer]
    /// Epochs during which every node reads the mean of all parents.
    public let warmup: Int
    /// τ₀ of the temperature schedule.
    public let initialTemperature: Float
    /// The stream seed of the Gumbel noise.
    public let seed: UInt64
    /// (epoch, draws so far): saved with the weights so that evaluation and resume follow the schedule.
    let progress: Tensor
    private final class Counters {
        var epoch = 0
        var draws = 0
        var loaded = false
    }
    private let counters = Counters()

    /// `stages[s]` holds one node per task (layers of equal output shape within a stage); θ starts
    /// at 0 (every parent equally likely).
    public init(tasks: [TaskSpec], stages: [[any Layer & Module]], heads: [any Layer & Module], warmup: Int = 1,
                initialTemperature: Float = 0.5, seed: UInt64 = 0, on device: any Device) throws {
        guard !tasks.isEmpty, stages.count >= 2, heads.count == tasks.count, stages.allSatisfy({ $0.count == tasks.count }),
              warmup >= 0, initialTemperature > 0, initialTemperature.isFinite else {
            throw TandemError.invalidArgument(
                op: "LearningToBranch", message: "\(tasks.count) tasks need two or more stages of a node per task and a head each, warm-up ≥ 0 and τ₀ > 0; got stages \(stages.map(\.count)), \(heads.count) heads, warm-up \(warmup), τ₀ \(initialTemperature)")
        }
        self.tasks = tasks
        self.stages = stages
        self.heads = heads
        self.warmup = warmup
        self.initialTemperature = initialTemperature
        self.seed = seed
        logits = try Tensor.zeros([stages.count - 1, tasks.count, tasks.count], on: device, requiresGrad: true)
        progress = try Tensor.zeros([2], on: device)
    }

    /// τ of epoch `epoch` (after the warm-up).
    public func temperature(epoch: Int) -> Float { initialTemperature / Float(epoch + 1).squareRoot() }

    /// The trainer's epoch.
    public func schedule(epoch: Int) throws {
        try syncCounters()
        if counters.epoch != epoch {
            counters.epoch = epoch
            try saveCounters()
        }
    }

    /// Whether the warm-up (mean of all parents) is in force.
    public var inWarmup: Bool { counters.epoch < warmup }

    /// The most likely tree: for each stage after the first, each node's parent (argmax θ).
    public func branching() throws -> [[Int]] {
        let t = tasks.count
        let values = try logits.values()
        return (0..<(stages.count - 1)).map { s in
            (0..<t).map { k in
                let row = values[((s * t + k) * t)..<((s * t + k + 1) * t)]
                return row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! - (s * t + k) * t
            }
        }
    }

    /// The learned tree in words: per stage, which nodes the tasks' paths share.
    public func describeBranching() throws -> String {
        let parents = try branching()
        var lines: [String] = []
        // path[k]: the node at the current stage that task k's path runs through.
        var path = Array(0..<tasks.count)
        var groups: [[Int]] = []
        for s in stride(from: stages.count - 1, through: 1, by: -1) {
            path = path.map { parents[s - 1][$0] }
            groups.append(path)
        }
        for (offset, nodes) in groups.reversed().enumerated() {
            var bySource: [Int: [String]] = [:]
            for (k, node) in nodes.enumerated() { bySource[node, default: []].append(tasks[k].name) }
            let text = bySource.values.map { "{\($0.joined(separator: ", "))}" }.sorted().joined(separator: " ")
            lines.append("stage \(offset + 1): \(text)")
        }
        lines.append("stage \(stages.count): " + tasks.map { "{\($0.name)}" }.joined(separator: " "))
        return lines.joined(separator: "\n")
    }

    /// A [T, T] mixing matrix for stage s + 1 (row k: node k's weights over the parents); `tree` is
    /// `branching()` when the caller has it already.
    func mixing(_ s: Int, tree: [[Int]]? = nil) throws -> Tensor {
        let t = tasks.count
        let device = logits.device
        if inWarmup { return try Tensor.full([t, t], 1 / Float(t), on: device) }
        guard isTraining else {
            // The most likely tree (ties to the lower parent, as `branching` breaks them).
            let parents = try (tree ?? branching())[s]
            return try Tensor((0..<t).flatMap { k in (0..<t).map { j in parents[k] == j ? Float(1) : 0 } }, shape: [t, t], on: device)
        }
        let theta = try logits.slice(axis: 0, s..<(s + 1)).reshape([t, t])
        // Straight-through Gumbel-softmax: the hard one-hot forward, the soft sample's gradient.
        let stream = seed &+ UInt64(counters.draws) &* 0x9E37_79B9_7F4A_7C15
        counters.draws += 1
        return try GumbelSoftmax.sample(theta, temperature: temperature(epoch: counters.epoch - warmup), stream: stream, hard: true)
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        try syncCounters()
        // In evaluation the most likely tree, read from θ once for every stage.
        let tree = isTraining || inWarmup ? nil : try branching()
        var nodes = try stages[0].map { try $0(x) }
        for s in 1..<stages.count {
            let shape = nodes[0].shape
            let stacked = try Tensor.concat(nodes.map { try $0.reshape([1, $0.count]) }, axis: 0)
            let mixed = try mixing(s - 1, tree: tree).matmul(stacked)
            nodes = try stages[s].enumerated().map { k, layer in try layer(mixed.slice(axis: 0, k..<(k + 1)).reshape(shape)) }
        }
        if isTraining { try saveCounters() }
        return try zip(heads, nodes).map { head, node in try head(node) }
    }

    private func saveCounters() throws {
        try progress.assign(Tensor([Float(counters.epoch), Float(counters.draws)], shape: [2], on: progress.device))
    }

    /// Reads the saved (epoch, draws) once after a state was loaded into `progress`.
    private func syncCounters() throws {
        guard !counters.loaded else { return }
        counters.loaded = true
        let values = try progress.values()
        if values.allSatisfy({ $0.isFinite && $0 >= 0 && $0 == $0.rounded() }) {
            counters.epoch = Int(values[0])
            counters.draws = Int(values[1])
        }
    }

    /// Marks the counters for re-reading after `loadStateDict` wrote `progress`.
    public func stateDidLoad() { counters.loaded = false }

    /// θ.
    public var mixingParameters: [Tensor] { [logits] }

    /// The nodes and θ: everything before the heads.
    public var sharedParameters: [Tensor] { stages.flatMap { $0.flatMap { ($0 as? Module)?.parameters ?? [] } } + [logits] }
}
