import TandemCore
import TandemNN

/// Multi-gate mixture of experts (Ma et al. 2018): E experts Linear(in→h)+ReLU computed as ONE
/// batched GEMM, a softmax gate per task (or one shared gate: OMoE), and a tower per task.
public final class MMoE: Module, RepresentationModel {
    public let tasks: [TaskSpec]
    /// Expert weights [E, h, in] and biases [E, h].
    public let expertWeight: Tensor
    public let expertBias: Tensor
    public let gates: [Linear]
    public let towers: [any Layer]

    /// With `sharedGate` (OMoE) one gate serves every task.
    public init(tasks: [TaskSpec], inputs: Int, experts: Int, expertUnits: Int, towers: [any Layer & Module],
                sharedGate: Bool = false, random: RandomSource, on device: any Device) throws {
        guard !tasks.isEmpty, towers.count == tasks.count, experts > 0, expertUnits > 0, inputs > 0 else {
            throw TandemError.invalidArgument(
                op: "MMoE", message: "\(tasks.count) tasks, \(towers.count) towers, \(experts) experts of \(expertUnits) units on \(inputs) inputs")
        }
        self.tasks = tasks
        let bound = 1 / Float(inputs).squareRoot()
        expertWeight = try Tensor.initialized([experts, expertUnits, inputs], on: device, requiresGrad: true) {
            random.uniform(experts * expertUnits * inputs, low: -bound, high: bound)
        }
        expertBias = try Tensor.initialized([experts, expertUnits], on: device, requiresGrad: true) {
            random.uniform(experts * expertUnits, low: -bound, high: bound)
        }
        gates = try (0..<(sharedGate ? 1 : tasks.count)).map { _ in try Linear(inputs, experts, random: random, on: device) }
        self.towers = towers
    }

    public func forward(_ x: Tensor) throws -> [Tensor] { try forward(x, representation: { $0 }) }

    /// The experts' outputs [N, E, h] are the representation (the gates read the input).
    public func forward(_ x: Tensor, representation hook: (Tensor) throws -> Tensor) throws -> [Tensor] {
        let experts = expertWeight.shape[0]
        // [N, in] × [E, h, in]ᵀ → [E, N, h] in one strided-batched GEMM (x reused for every expert).
        let hidden = try (x.matmul(expertWeight, transposeOther: true) + expertBias.unsqueeze(1)).relu()
        let perSample = try hook(hidden.permute([1, 0, 2]))  // [N, E, h]
        return try towers.enumerated().map { t, tower in
            let gate = try gates[gates.count == 1 ? 0 : t](x).softmax(axis: -1)  // [N, E]
            let mixture = try gate.reshape([-1, 1, experts]).matmul(perSample).squeeze(1)  // [N, h]
            return try tower(mixture)
        }
    }

    public var sharedParameters: [Tensor] { [expertWeight, expertBias] }
    public var lastSharedWeight: Tensor? { expertWeight }
}
