import TandemCore
import TandemNN

/// The model as a weighting method sees it during a step with gradients at the shared
/// representation (`Trainer.representationGradients`): the same tasks, with the cut representation's
/// leaf as the only shared "parameter", so the method's per-task gradients and their combination are
/// taken with respect to the representation. GradNorm, which measures norms at the last shared
/// weight, finds none and says so.
final class RepresentationCut: Module, MultiTaskModel {
    let model: any MultiTaskModel
    let leaf: Tensor

    init(_ model: any MultiTaskModel, leaf: Tensor) throws {
        self.model = model
        self.leaf = leaf
    }

    var tasks: [TaskSpec] { model.tasks }
    func forward(_ x: Tensor) throws -> [Tensor] { try model.forward(x) }
    var sharedParameters: [Tensor] { [leaf] }
    var lastSharedWeight: Tensor? { nil }
}
