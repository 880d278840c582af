import TandemCore
import TandemNN

/// What a task predicts, which fixes its loss and its metrics.
public enum TaskKind: Sendable, Equatable {
    /// One class of `classes` per sample; logits out, cross-entropy loss.
    case classification(classes: Int)
    /// Real-valued targets; mean squared error.
    case regression
    /// One class per pixel; log-probabilities out, NLL with label −1 ignored.
    case segmentation(classes: Int)
    /// Per-pixel depth; L1 over pixels whose target is not 0.
    case depth
    /// Per-pixel unit normals; 1 − mean cosine over pixels with a non-zero target.
    case normals
}

/// One task of a multi-task model.
public struct TaskSpec: Sendable, Equatable {
    public var name: String
    public var kind: TaskKind
    /// An auxiliary task is trained like any other but serves the others: it is left out of Δm,
    /// of the best-epoch score, of `tandem compare`'s ranks and single-task baselines, and may be
    /// stopped early on its own (`AuxiliaryStopping`).
    public var auxiliary = false
    /// An adversarial task (always auxiliary): its head reads the shared features through a gradient
    /// reversal layer of this λ (Ganin and Lempitsky 2015), so the head learns to predict the task
    /// while the shared layers learn to hide it. Nil for an ordinary task.
    public var adversarialLambda: Float?

    public init(_ name: String, _ kind: TaskKind) {
        self.name = name
        self.kind = kind
    }

    /// The task's loss of `prediction` against `target`; `mask` ([N], 1 keep / 0 drop) removes
    /// samples without a label, which then contribute nothing.
    public func loss(_ prediction: Tensor, _ target: Tensor, mask: Tensor? = nil) throws -> Tensor {
        switch kind {
        case .classification:
            return try Tensor.crossEntropy(logits: prediction, target: target, ignoreIndex: -1, mask: mask)
        case .regression:
            let p = prediction.rank == target.rank + 1 && prediction.shape.last == 1 ? try prediction.squeeze(-1) : prediction
            return try p.mseLoss(target: target, mask: mask.map { try $0.reshape([$0.count] + [Int](repeating: 1, count: target.rank - 1)) })
        case .segmentation:
            return try prediction.nllLoss(target: target, ignoreIndex: -1, mask: mask)
        case .depth:
            return try prediction.maskedL1Loss(target: target)
        case .normals:
            return try prediction.normalLoss(target: target)
        }
    }

    /// Whether a larger value of the task's main metric is better (accuracy, mIoU) or worse (errors).
    public var higherIsBetter: Bool {
        switch kind {
        case .classification, .segmentation: return true
        case .regression, .depth, .normals: return false
        }
    }
}

/// A network with one output per task, in `tasks` order.
public protocol MultiTaskModel: Module {
    var tasks: [TaskSpec] { get }
    /// One prediction per task.
    func forward(_ x: Tensor) throws -> [Tensor]
    /// Parameters shared by all tasks: where gradient-combination methods (PCGrad, MGDA) and task
    /// affinity look.
    var sharedParameters: [Tensor] { get }
    /// The shared representation's last layer's weight: where GradNorm measures gradient norms.
    var lastSharedWeight: Tensor? { get }
    /// A penalty added to the training loss (soft parameter sharing); nil for none.
    func regularization() throws -> Tensor?
}

/// A model whose task heads all read one shared representation (hard sharing's trunk output, the
/// experts' outputs of a mixture of experts). Gradient methods can then combine the tasks' gradients
/// with respect to that representation instead of the shared parameters (`Trainer.representationGradients`,
/// LibMTL's `rep_grad`; with MGDA this is MGDA-UB, Sener and Koltun 2018, Sec. 3.3): cheaper, as
/// the representation is usually far smaller than the parameters.
public protocol RepresentationModel: MultiTaskModel {
    /// The forward pass, with `hook` applied to the shared representation before anything reads it.
    func forward(_ x: Tensor, representation hook: (Tensor) throws -> Tensor) throws -> [Tensor]
}

/// A model with parameters that mix or route its columns rather than compute features (cross-stitch
/// α, Learning to Branch's θ): they get a parameter group of their own, with the recipe's
/// `stitchLearningRateMultiplier`.
public protocol MixingParameters: MultiTaskModel {
    var mixingParameters: [Tensor] { get }
}

/// A model whose network changes during training (AdaShare re-trains its final network from
/// scratch): only epochs of the final network can be the best epoch, and early stopping counts from
/// the first of them.
public protocol PhasedModel: MultiTaskModel {
    /// Whether the model after epoch `epoch` (0-based) is the final network.
    func isFinal(epoch: Int) -> Bool
}

/// A model that re-initialises some of its weights during training (AdaShare's re-training from
/// scratch): after each `schedule(epoch:)` the trainer takes the tensors it re-initialised and clears
/// the optimizer's state for them, so that they train as fresh parameters.
public protocol ReinitializingModel: MultiTaskModel {
    /// The parameters re-initialised since the last call (empty when none).
    func takeReinitialized() -> [Tensor]
}

/// A model whose forward pass follows the training schedule: the trainer tells it, before each
/// training step, which epoch is under way (Learning to Branch's warm-up and temperature).
public protocol EpochScheduledModel: MultiTaskModel {
    /// Called by the trainer before each training step with the current epoch (0-based).
    func schedule(epoch: Int) throws
}

extension MultiTaskModel {
    public var lastSharedWeight: Tensor? { sharedParameters.last { $0.rank >= 2 } }
    public func regularization() throws -> Tensor? { nil }
}
