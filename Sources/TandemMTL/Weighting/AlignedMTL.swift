import TandemCore
import TandemNN

/// Aligned-MTL (Senushkin et al. 2023, "Independent Component Alignment for Multi-Task Learning",
/// CVPR): the task gradients are replaced by aligned ones whose linear system has condition number
/// one, then summed. With G = JJᵀ = VΛVᵀ (J the [T, P] gradient matrix; only the eigenvalues above
/// a rank tolerance kept) the alignment is Ĵ = BJ with B = σ_min·VΛ^{−1/2}Vᵀ and σ_min = √λ_min
/// (the paper's Eq. for the aligned gradients): ĴĴᵀ = σ²_min·I on the gradients' span, so every
/// aligned gradient is orthogonal to the others and has the smallest singular value as its norm.
/// The update is Σᵢ ωᵢĝᵢ = Jᵀ·Bω with equal task weights ω = 1 (`EW`'s scale).
///
/// G's eigen-decomposition is a T×T Jacobi iteration on the host; the rank tolerance is
/// λ_max·T·2⁻²³ (float32's epsilon, as the gradients are float32).
public final class AlignedMTL: LossWeighting, GramCombination {
    /// The name used on the command line and in reports.
    public let name = "aligned-mtl"
    /// The Gram matrix of the last step's task gradients on the shared parameters.
    public internal(set) var lastGram: [[Double]]?
    /// Bω of the last step.
    public internal(set) var lastCoefficients: [Float] = []

    public init() {}

    /// Accumulates Jᵀ·Bω (see the type's documentation) into the shared parameters' `.grad`.
    public func backward(losses: [Tensor], model: any MultiTaskModel) throws { try combine(losses: losses, model: model) }

    func coefficients(gram: [[Double]], losses: [Float]) throws -> [Double] {
        let b = AlignedMTL.alignment(gram: gram)
        return b.map { $0.reduce(0, +) }
    }

    /// B = σ_min·VΛ^{−1/2}Vᵀ over the eigenvalues above the rank tolerance (all zeros when G is 0).
    public static func alignment(gram: [[Double]]) -> [[Double]] {
        let t = gram.count
        let (values, vectors) = SmallLinearAlgebra.symmetricEigen(gram)
        let largest = values.last ?? 0
        let tolerance = largest * Double(t) * 0x1p-23
        let kept = (0..<t).filter { values[$0] > tolerance && values[$0] > 0 }
        var b = [[Double]](repeating: [Double](repeating: 0, count: t), count: t)
        guard let smallest = kept.first else { return b }
        let sigma = values[smallest].squareRoot()
        for k in kept {
            let factor = sigma / values[k].squareRoot()
            for i in 0..<t { for j in 0..<t { b[i][j] += factor * vectors[k][i] * vectors[k][j] } }
        }
        return b
    }

    /// Bω of the last step.
    public func currentWeights() throws -> [Float] { lastCoefficients }
}
