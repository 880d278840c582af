import TandemCore
import TandemNN

/// DSelect-k (Hazimeh et al. 2021, "DSelect-k: Differentiable Selection in the Mixture of Experts
/// with Applications to Multi-Task Learning", NeurIPS): a mixture of experts whose per-task gates
/// select at most k of the n experts, and are still trained by gradient descent.
///
/// The smooth step (the paper's Eq. 1) is S(t) = 0 for t ≤ −γ/2, 1 for t ≥ γ/2 and
/// −2t³/γ³ + 3t/(2γ) + 1/2 between: a cubic that reaches 0 and 1 exactly, so gates become sparse
/// during training. A single expert selector with m = log₂ n binary codes z ∈ ℝᵐ puts weight
/// r(z)ᵢ = Πⱼ S(zⱼ)^{bᵢⱼ}·(1 − S(zⱼ))^{1 − bᵢⱼ} on expert i, bᵢ its binary code (Eq. 2); k selectors
/// mixed by softmax(α) give the gate q = Σₗ softmax(α)ₗ·r(z⁽ˡ⁾), which has at most k non-zero entries
/// once every S saturates (Eq. 3). Here the gates are per example (z and α linear in the input, the
/// paper's per-example variant) and each task has its own. `regularization()` adds the paper's
/// entropy penalty λ·Σ H(r(z⁽ˡ⁾)) (averaged over the batch) that pushes the selectors to binary.
///
/// The n experts (a power of two) run as one strided-batched GEMM, as in `MMoE`.
public final class DSelectK: Module, MultiTaskModel {
    public let tasks: [TaskSpec]
    /// Expert weights [n, h, in] and biases [n, h].
    public let expertWeight: Tensor
    public let expertBias: Tensor
    /// Each task's selector codes, Linear(in → k·m), and selector weights, Linear(in → k).
    public let codeGates: [Linear]
    public let mixGates: [Linear]
    public let towers: [any Layer]
    /// k, the most experts a task's gate selects.
    public let k: Int
    /// γ of the smooth step.
    public let gamma: Float
    /// λ of the entropy penalty.
    public let entropyWeight: Float
    /// Tensors that are not state (kept out of the state dictionary, which collects stored tensors):
    /// the experts' binary codes bᵢⱼ [n, m], a constant, and the last training forward's input.
    private final class Scratch {
        let codes: Tensor
        var input: Tensor?
        init(codes: Tensor) { self.codes = codes }
    }
    private let scratch: Scratch
    var codes: Tensor { scratch.codes }

    /// `experts` (a power of two ≥ 2) experts of `units` units on `inputs` inputs; a gate per task
    /// selecting up to `k`; `towers` reading `units` features.
    public init(tasks: [TaskSpec], inputs: Int, experts: Int, units: Int, k: Int, gamma: Float = 1, entropyWeight: Float = 0.01,
                towers: [any Layer & Module], random: RandomSource, on device: any Device) throws {
        let m = experts > 1 ? Int.bitWidth - (experts - 1).leadingZeroBitCount : 0
        guard !tasks.isEmpty, towers.count == tasks.count, experts >= 2, experts & (experts - 1) == 0, (1...experts).contains(k),
              units > 0, inputs > 0, gamma > 0, gamma.isFinite, entropyWeight >= 0, entropyWeight.isFinite else {
            throw TandemError.invalidArgument(
                op: "DSelect-k", message: "\(tasks.count) tasks, \(towers.count) towers, \(experts) experts (a power of two ≥ 2), k = \(k), γ = \(gamma), λ = \(entropyWeight)")
        }
        self.tasks = tasks
        self.k = k
        self.gamma = gamma
        self.entropyWeight = entropyWeight
        let bound = 1 / Float(inputs).squareRoot()
        expertWeight = try Tensor.initialized([experts, units, inputs], on: device, requiresGrad: true) {
            random.uniform(experts * units * inputs, low: -bound, high: bound)
        }
        expertBias = try Tensor.initialized([experts, units], on: device, requiresGrad: true) { random.uniform(experts * units, low: -bound, high: bound) }
        codeGates = try tasks.map { _ in try Linear(inputs, k * m, random: random, on: device) }
        mixGates = try tasks.map { _ in try Linear(inputs, k, random: random, on: device) }
        self.towers = towers
        scratch = Scratch(codes: try Tensor((0..<experts).flatMap { i in (0..<m).map { j in Float((i >> j) & 1) } }, shape: [experts, m], on: device))
    }

    /// The number of code bits m = log₂ n.
    public var bits: Int { codes.shape[1] }

    /// S(t), element-wise.
    public func smoothStep(_ t: Tensor) throws -> Tensor {
        let half = gamma / 2
        let c = try t.clamp(min: -half).clamp(max: half)
        return try c.pow(3) * (-2 / (gamma * gamma * gamma)) + c * (3 / (2 * gamma)) + 0.5
    }

    /// r(z) of codes z [..., m]: [..., n], each row on the simplex.
    public func selector(_ z: Tensor) throws -> Tensor {
        let m = bits, n = codes.shape[0]
        let s = try smoothStep(z)
        let lead = Array(z.shape.dropLast())
        // Per expert and bit: S where the code bit is 1, 1 − S where it is 0 → [..., n, m].
        let bit = try s.reshape(lead + [1, m])
        let factors = try (bit * 2 - 1) * codes + (1 - bit)
        var product = try factors.slice(axis: lead.count + 1, 0..<1)
        for j in 1..<m { product = try product * factors.slice(axis: lead.count + 1, j..<(j + 1)) }
        return try product.reshape(lead + [n])
    }

    /// Task t's gate q [N, n] for inputs x [N, in].
    public func gate(_ t: Int, _ x: Tensor) throws -> Tensor {
        let r = try selector(codeGates[t](x).reshape([-1, k, bits]))  // [N, k, n]
        let mix = try mixGates[t](x).softmax(axis: -1).reshape([-1, 1, k])
        return try mix.matmul(r).squeeze(1)
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        scratch.input = isTraining ? x.detach() : nil
        let n = expertWeight.shape[0]
        let hidden = try (x.matmul(expertWeight, transposeOther: true) + expertBias.unsqueeze(1)).relu()
        let perSample = try hidden.permute([1, 0, 2])  // [N, n, h]
        return try towers.enumerated().map { t, tower in
            let q = try gate(t, x).reshape([-1, 1, n])
            return try tower(q.matmul(perSample).squeeze(1))
        }
    }

    /// λ·Σ H(r) over the selectors of the last training forward's input, averaged over the batch. The
    /// selectors are computed again from that input, so the penalty's graph is its own (the trainer
    /// backpropagates it after the losses, whose graph is released by then).
    public func regularization() throws -> Tensor? {
        guard entropyWeight > 0, let x = scratch.input else { return nil }
        scratch.input = nil
        var total: Tensor?
        for gate in codeGates {
            let r = try selector(gate(x).reshape([-1, k, bits]))
            let entropy = try (r * (r + 1e-12).log()).sum().neg() * (1 / Float(r.shape[0]))
            total = try total.map { try $0 + entropy } ?? entropy
        }
        return try total.map { try $0 * entropyWeight }
    }

    public var sharedParameters: [Tensor] { [expertWeight, expertBias] }
    public var lastSharedWeight: Tensor? { expertWeight }
}
