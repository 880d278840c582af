import TandemCore
import TandemNN

/// Soft parameter sharing: one column per task, tied by the penalty λ·Σ_{s<t} ‖θ_s − θ_t‖² over
/// corresponding parameters (Duong et al. 2015). Columns must have the same structure.
public final class SoftParameterSharing: Module, MultiTaskModel {
    public let tasks: [TaskSpec]
    public let columns: [any Layer]
    public let heads: [any Layer]
    public let lambda: Float

    public init(tasks: [TaskSpec], columns: [any Layer & Module], heads: [any Layer & Module], lambda: Float = 1e-3) throws {
        guard !tasks.isEmpty, columns.count == tasks.count, heads.count == tasks.count else {
            throw TandemError.invalidArgument(
                op: "SoftParameterSharing", message: "\(tasks.count) tasks need as many columns and heads, got \(columns.count) and \(heads.count)")
        }
        let shapes = columns.map { $0.parameters.map(\.shape) }
        guard shapes.allSatisfy({ $0 == shapes[0] }) else {
            throw TandemError.invalidArgument(op: "SoftParameterSharing", message: "columns differ in structure: \(shapes)")
        }
        self.tasks = tasks
        self.columns = columns
        self.heads = heads
        self.lambda = lambda
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        try zip(columns, heads).map { column, head in try head(column(x)) }
    }

    /// No parameter is shared; gradient methods look at the columns.
    public var sharedParameters: [Tensor] { columns.flatMap { ($0 as? Module)?.parameters ?? [] } }

    public func regularization() throws -> Tensor? {
        let params = columns.map { ($0 as? Module)?.parameters ?? [] }
        var total: Tensor? = nil
        for s in params.indices {
            for t in params.indices where t > s {
                for (a, b) in zip(params[s], params[t]) {
                    let term = try (a - b).square().sum()
                    total = try total.map { try $0 + term } ?? term
                }
            }
        }
        return try total.map { try $0 * lambda }
    }
}
