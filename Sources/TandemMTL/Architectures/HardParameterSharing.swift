import TandemCore
import TandemNN

/// Hard parameter sharing: one shared trunk, one head per task (Caruana 1997).
public final class HardParameterSharing: Module, MultiTaskModel {
    public let tasks: [TaskSpec]
    public let shared: any Layer
    public let heads: [any Layer]

    /// `trunk` and every head must be modules (so their parameters are found).
    public init(tasks: [TaskSpec], trunk: any Layer & Module, heads: [any Layer & Module]) throws {
        guard !tasks.isEmpty, heads.count == tasks.count else {
            throw TandemError.invalidArgument(op: "HardParameterSharing", message: "\(tasks.count) tasks need as many heads, got \(heads.count)")
        }
        self.tasks = tasks
        self.shared = trunk
        self.heads = heads
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        let features = try shared(x)
        return try heads.map { try $0(features) }
    }

    public var sharedParameters: [Tensor] { (shared as? Module)?.parameters ?? [] }
}

extension HardParameterSharing: RepresentationModel {
    /// The trunk's output is the representation.
    public func forward(_ x: Tensor, representation hook: (Tensor) throws -> Tensor) throws -> [Tensor] {
        let features = try hook(shared(x))
        return try heads.map { try $0(features) }
    }
}
