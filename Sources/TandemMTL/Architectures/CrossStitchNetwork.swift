import TandemCore
import TandemNN

/// Cross-stitch networks (Misra et al. 2016): one column per task, split into stages; after each
/// stage a cross-stitch unit remixes the columns channel by channel with a learned T×T α.
public final class CrossStitchNetwork: Module, MultiTaskModel, MixingParameters {
    public let tasks: [TaskSpec]
    /// `stages[s][t]`: column t's stage s.
    public let stages: [[any Layer]]
    /// One α [C_s, T, T] per stage.
    public let alphas: [Tensor]
    public let heads: [any Layer]

    /// `channels[s]` is the channel count after stage s (axis 1 of its output); α starts at
    /// `diagonal` on the diagonal and `offDiagonal` elsewhere.
    public init(tasks: [TaskSpec], stages: [[any Layer & Module]], channels: [Int], heads: [any Layer & Module],
                diagonal: Float = 0.9, offDiagonal: Float = 0.1, on device: any Device) throws {
        guard !tasks.isEmpty, heads.count == tasks.count, stages.count == channels.count,
              stages.allSatisfy({ $0.count == tasks.count }) else {
            throw TandemError.invalidArgument(
                op: "CrossStitchNetwork", message: "\(tasks.count) tasks need a column per stage and a head each; got stages \(stages.map(\.count)), \(channels.count) channel counts, \(heads.count) heads")
        }
        self.tasks = tasks
        self.stages = stages
        self.heads = heads
        alphas = try channels.map {
            try Tensor.crossStitchAlpha(channels: $0, tasks: tasks.count, diagonal: diagonal, offDiagonal: offDiagonal, on: device)
        }
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        var columns = [Tensor](repeating: x, count: tasks.count)
        for (stage, alpha) in zip(stages, alphas) {
            let outputs = try zip(stage, columns).map { layer, input in try layer(input) }
            columns = try Tensor.crossStitch(outputs, alpha: alpha)
        }
        return try zip(heads, columns).map { head, column in try head(column) }
    }

    /// The α units.
    public var mixingParameters: [Tensor] { alphas }

    /// The columns and the α units: everything before the heads.
    public var sharedParameters: [Tensor] { stages.flatMap { $0.flatMap { ($0 as? Module)?.parameters ?? [] } } + alphas }
}
