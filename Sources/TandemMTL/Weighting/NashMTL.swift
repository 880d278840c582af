import TandemCore
import TandemNN

/// Nash-MTL (Navon et al. 2022, "Multi-Task Learning as a Bargaining Game", ICML): the update
/// d = Σ αᵢgᵢ is the Nash bargaining solution of the tasks, the direction that maximises
/// Σ log(gᵢᵀd) on a ball. Its condition (the paper's Claim 3.1) is Gα = 1/α element-wise, with G
/// the Gram matrix of the task gradients, so gᵢᵀd = 1/αᵢ: every task improves, and a task's share
/// does not depend on the scale of its loss (scaling Lᵢ by k scales αᵢ by 1/k and leaves d
/// unchanged, the paper's scale invariance).
///
/// α is found on the host by damped Newton steps on ½αᵀGα − Σ log αᵢ (FairGrad's solver at α = 1,
/// in place of the paper's sequence of convex programs; the solution is the same unique point). The
/// norm of d does not shrink with the gradients (‖d‖² = Σ 1 = T at the solution): the paper's
/// experiments clip the update norm to 1 (`--grad-clip 1`).
public final class NashMTL: LossWeighting, GramCombination {
    /// The name used on the command line and in reports.
    public let name = "nash-mtl"
    /// The Gram matrix of the last step's task gradients on the shared parameters.
    public internal(set) var lastGram: [[Double]]?
    /// α of the last step.
    public internal(set) var lastCoefficients: [Float] = []

    public init() {}

    /// Accumulates Σ αᵢ·gᵢ (see the type's documentation) into the shared parameters' `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws { try combine(losses: losses, model: model) }

    func coefficients(gram: [[Double]], losses: [Float]) throws -> [Double] { FairGrad.weights(gram: gram, alpha: 1) }

    /// α of the last step.
    public func currentWeights() throws -> [Float] { lastCoefficients }
}
