import TandemCore
import TandemNN

/// Progressive Layered Extraction (Tang et al. 2020, "Progressive Layered Extraction (PLE): A Novel
/// Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys), and its one-level
/// form CGC, Customized Gate Control.
///
/// Each level has shared experts and experts of each task, every expert Linear(in→h)+ReLU. Task t's
/// gate, a softmax over its own experts and the shared ones computed from task t's input, mixes
/// them (the paper's Eq. 2–3: gᵗ(x) = softmax(W_gᵗ x), yᵗ = gᵗ(x)·[E_t(x), E_s(x)]); below the
/// last level a shared gate, from the shared input, mixes every expert into the next level's shared
/// input (Eq. 5). At the first level every input is x. A tower per task reads its last mixture.
/// With no task experts and one level this is MMoE (every task gated over the same experts).
///
/// The experts of one group (the shared ones, or one task's) run as one strided-batched GEMM.
public final class PLE: Module, MultiTaskModel {
    /// One level's experts and gates.
    public final class Level: Module {
        /// Shared experts: weights [Es, h, in], biases [Es, h].
        public let sharedWeight: Tensor
        public let sharedBias: Tensor
        /// Each task's experts: weights [Et, h, in], biases [Et, h] (none when Et is 0).
        public let taskWeights: [Tensor]
        public let taskBiases: [Tensor]
        /// Each task's gate over its Et experts and the Es shared ones.
        public let taskGates: [Linear]
        /// The gate over every expert that makes the next level's shared input (nil at the last level).
        public let sharedGate: Linear?

        init(tasks: Int, inputs: Int, units: Int, sharedExperts: Int, taskExperts: Int, last: Bool,
             random: RandomSource, on device: any Device) throws {
            let bound = 1 / Float(inputs).squareRoot()
            func experts(_ count: Int) throws -> (Tensor, Tensor) {
                (try Tensor.initialized([count, units, inputs], on: device, requiresGrad: true) {
                    random.uniform(count * units * inputs, low: -bound, high: bound)
                 },
                 try Tensor.initialized([count, units], on: device, requiresGrad: true) { random.uniform(count * units, low: -bound, high: bound) })
            }
            (sharedWeight, sharedBias) = try experts(sharedExperts)
            var weights: [Tensor] = [], biases: [Tensor] = []
            if taskExperts > 0 {
                for _ in 0..<tasks {
                    let (w, b) = try experts(taskExperts)
                    weights.append(w)
                    biases.append(b)
                }
            }
            taskWeights = weights
            taskBiases = biases
            taskGates = try (0..<tasks).map { _ in try Linear(inputs, sharedExperts + taskExperts, random: random, on: device) }
            sharedGate = last ? nil : try Linear(inputs, sharedExperts + tasks * taskExperts, random: random, on: device)
        }

        /// The outputs of a group of experts on `x` [N, in]: [N, E, h].
        static func run(_ weight: Tensor, _ bias: Tensor, _ x: Tensor) throws -> Tensor {
            try (x.matmul(weight, transposeOther: true) + bias.unsqueeze(1)).relu().permute([1, 0, 2])
        }

        /// A gate's softmax [N, E] applied to experts [N, E, h]: [N, h].
        static func mix(_ gate: Linear, _ input: Tensor, _ experts: Tensor) throws -> Tensor {
            let weights = try gate(input).softmax(axis: -1)
            return try weights.reshape([-1, 1, experts.shape[1]]).matmul(experts).squeeze(1)
        }

        /// Task inputs and the shared input → task mixtures and the next shared input.
        func callAsFunction(tasks inputs: [Tensor], shared: Tensor) throws -> (tasks: [Tensor], shared: Tensor?) {
            let sharedOut = try Self.run(sharedWeight, sharedBias, shared)
            var own: [Tensor] = []
            if !taskWeights.isEmpty {
                own = try inputs.enumerated().map { t, x in try Self.run(taskWeights[t], taskBiases[t], x) }
            }
            let mixtures = try inputs.enumerated().map { t, x in
                try Self.mix(taskGates[t], x, own.isEmpty ? sharedOut : try Tensor.concat([own[t], sharedOut], axis: 1))
            }
            let next = try sharedGate.map { gate in try Self.mix(gate, shared, try Tensor.concat(own + [sharedOut], axis: 1)) }
            return (mixtures, next)
        }
    }

    public let tasks: [TaskSpec]
    public let levels: [Level]
    public let towers: [any Layer]

    /// `levels` extraction levels (1: CGC) of `sharedExperts` shared and `taskExperts` per-task experts
    /// of `units` units each on `inputs` inputs, then `towers` (each reading `units` features).
    public init(tasks: [TaskSpec], inputs: Int, levels: Int, sharedExperts: Int, taskExperts: Int, units: Int,
                towers: [any Layer & Module], random: RandomSource, on device: any Device) throws {
        guard !tasks.isEmpty, towers.count == tasks.count, levels >= 1, sharedExperts >= 1, taskExperts >= 0, units > 0, inputs > 0 else {
            throw TandemError.invalidArgument(
                op: "PLE", message: "\(tasks.count) tasks, \(towers.count) towers, \(levels) levels, \(sharedExperts) shared and \(taskExperts) task experts of \(units) units on \(inputs) inputs")
        }
        self.tasks = tasks
        self.levels = try (0..<levels).map { level in
            try Level(tasks: tasks.count, inputs: level == 0 ? inputs : units, units: units, sharedExperts: sharedExperts,
                      taskExperts: taskExperts, last: level == levels - 1, random: random, on: device)
        }
        self.towers = towers
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        var inputs = [Tensor](repeating: x, count: tasks.count)
        var shared = x
        for level in levels {
            let (mixtures, next) = try level(tasks: inputs, shared: shared)
            inputs = mixtures
            if let next { shared = next }
        }
        return try zip(towers, inputs).map { try $0($1) }
    }

    /// The shared experts and the shared gates of every level.
    public var sharedParameters: [Tensor] {
        levels.flatMap { [$0.sharedWeight, $0.sharedBias] + ($0.sharedGate?.parameters ?? []) }
    }

    /// The last level's shared experts.
    public var lastSharedWeight: Tensor? { levels.last?.sharedWeight }
}
