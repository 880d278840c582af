import TandemCore
import TandemNN

/// A gradient-combination method whose update of the shared parameters is Σᵢ cᵢ·gᵢ, with the
/// coefficients c computed on the host from the T×T Gram matrix of the task gradients gᵢ (and the
/// losses): IMTL-G, CAGrad, Nash-MTL, FairGrad, UPGrad, Aligned-MTL. The [T, P] gradients stay on
/// the device (`TaskGradients`); one download brings the Gram matrix and the losses, one upload
/// takes c back. Task-specific parameters get their own task's gradient from the per-task passes.
protocol GramCombination: LossWeighting, ProvidesTaskGram {
    /// The Gram matrix of the last step.
    var lastGram: [[Double]]? { get set }
    /// c of the last step.
    var lastCoefficients: [Float] { get set }
    /// c for a step whose task gradients have Gram matrix `gram` and whose losses are `losses`.
    /// Called only with a finite Gram matrix.
    func coefficients(gram: [[Double]], losses: [Float]) throws -> [Double]
}

extension GramCombination {
    /// The step of `backward(losses:model:)`: per-task gradients of the shared parameters, the Gram
    /// matrix, c, and Σ cᵢ·gᵢ into the shared parameters' `.grad`. A Gram matrix that is not finite
    /// (a NaN or infinite loss upstream) gives NaN coefficients, so the trainer's non-finite check
    /// sees it, rather than a solver run on garbage.
    func combine(losses: [Tensor], model: any MultiTaskModel) throws {
        try WeightingChecks.losses(losses, model: model, method: name)
        let gradients = try TaskGradients(losses: losses, parameters: model.sharedParameters, op: name)
        let (gram, values) = try gradients.gram(with: losses)
        lastGram = gram
        let c: [Double]
        if SmallLinearAlgebra.isFinite(gram), values.allSatisfy(\.isFinite) {
            c = try coefficients(gram: gram, losses: values)
        } else {
            c = [Double](repeating: .nan, count: losses.count)
        }
        lastCoefficients = c.map(Float.init)
        try gradients.accumulate(coefficients: lastCoefficients)
    }
}
