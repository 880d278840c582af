import TandemCore
import TandemNN

/// Turns the per-task losses of one batch into parameter gradients: a weighted sum for loss
/// weightings (EW, fixed, UW, DWA, GradNorm) or a combination of per-task gradients (PCGrad, MGDA).
///
/// The trainer clears gradients, calls `backward(losses:model:)`, adds any regularisation, and steps
/// the optimizer over the model's parameters and the method's own `parameters`.
public protocol LossWeighting: AnyObject {
    /// The name used on the command line: `ew`, `fixed`, `uw`, `dwa`, `gradnorm`, `pcgrad`, `mgda`.
    var name: String { get }
    /// Learnable parameters of the method itself (UW's log-variances, GradNorm's task weights),
    /// optimised together with the model; empty for most methods.
    var parameters: [Tensor] { get }
    /// Accumulates into `.grad` of every model parameter (and of `parameters`) the gradient of this
    /// step's combined objective. `losses` are per-task scalars on the model's device, in task order.
    func backward(losses: [Tensor], model: any MultiTaskModel) throws
    /// Called after each epoch with the epoch-mean training loss of each task (DWA uses it).
    func endEpoch(meanLosses: [Float]) throws
    /// The task weights of the last step, for reports (host values; read at most once per epoch).
    func currentWeights() throws -> [Float]
    /// Whether `backward` is one backward pass that completes each parameter's gradient when it
    /// reaches it (a weighted sum of the losses), so data-parallel training may start a gradient
    /// bucket's all-reduce before the backward ends. False for methods that take per-task gradients
    /// first.
    var completesGradientsInOneBackward: Bool { get }
}

extension LossWeighting {
    /// No learnable parameters by default.
    public var parameters: [Tensor] { [] }
    /// False unless a method says otherwise.
    public var completesGradientsInOneBackward: Bool { false }
    /// Records the epoch-mean training losses; the last two decide the next epoch's weights.
    public func endEpoch(meanLosses: [Float]) throws {}
}
