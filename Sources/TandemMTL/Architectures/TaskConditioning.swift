import TandemCore
import TandemNN

/// Conditions features [N, D] on a per-sample task id [N] (exact float ids 0..<T) through a learned
/// task embedding: added (`sum`), appended (`concatenation`, output [N, D + E]) or as a FiLM-style
/// scale and shift (`multiplicative`: γ_t ⊙ x + β_t).
public final class TaskConditioning: Module, Layer {
    public enum Mode: String, Sendable { case sum, concatenation, multiplicative }

    public let mode: Mode
    public let tasks: Int
    /// [T, E] (sum: E = D; concatenation: any E; multiplicative: [T, 2D], γ then β).
    public let embedding: Tensor
    /// The task ids the next call uses.
    public var taskIDs: Tensor?

    public init(mode: Mode, tasks: Int, features: Int, embeddingSize: Int? = nil, random: RandomSource, on device: any Device) throws {
        guard tasks > 0, features > 0 else {
            throw TandemError.invalidArgument(op: "TaskConditioning", message: "needs positive task and feature counts, got \(tasks), \(features)")
        }
        self.mode = mode
        self.tasks = tasks
        let width: Int
        var values: [Float]
        switch mode {
        case .sum:
            width = features
            values = random.normal(tasks * width, std: 0.1)
        case .concatenation:
            width = embeddingSize ?? features
            values = random.normal(tasks * width, std: 0.1)
        case .multiplicative:
            width = 2 * features
            values = (0..<(tasks * width)).map { ($0 % width) < features ? 1 : 0 }  // γ = 1, β = 0: identity at start.
        }
        embedding = try Tensor(values, shape: [tasks, width], on: device, requiresGrad: true)
    }

    /// Features conditioned on `taskIDs` ([N] of ids).
    public func callAsFunction(_ x: Tensor, taskIDs ids: Tensor) throws -> Tensor {
        guard x.rank == 2, ids.shape == [x.shape[0]] else {
            throw TandemError.invalidArgument(op: "TaskConditioning", message: "features \(x.shape) and task ids \(ids.shape) do not fit ([N, D] and [N])")
        }
        let range = try Tensor((0..<tasks).map(Float.init), shape: [1, tasks], on: x.device)
        let oneHot = try ids.reshape([-1, 1]).equal(range)  // [N, T]
        let e = try oneHot.matmul(embedding)  // [N, E]
        switch mode {
        case .sum: return try x + e
        case .concatenation: return try Tensor.concat([x, e], axis: 1)
        case .multiplicative:
            let d = x.shape[1]
            return try x * e.slice(axis: 1, 0..<d) + e.slice(axis: 1, d..<(2 * d))
        }
    }

    /// Uses `taskIDs` set beforehand, so the layer fits in a `Sequential`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard let ids = taskIDs else {
            throw TandemError.invalidArgument(op: "TaskConditioning", message: "set taskIDs before calling the layer")
        }
        return try self(x, taskIDs: ids)
    }
}
