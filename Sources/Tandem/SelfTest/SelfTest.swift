/// One row of `tandem selftest`: an operation checked on a device against the float64 reference.
public struct SelfTestResult: Sendable {
    public var op: String
    public var forwardMaxRelativeError: Double
    /// Nil for checks without a gradient (GEMM itself).
    public var backwardMaxRelativeError: Double?
    public var passed: Bool
    /// Why a check failed when it threw instead of computing.
    public var failure: String?
    /// Where a check that computed found its worst error, when it says (a step check names the
    /// tensor, or the two losses).
    public var detail: String?
}

/// The checks a user runs first on a new device or driver.
public enum SelfTest {
    /// GEMM shapes checked: odd sizes, every transpose, offsets, beta, strided batches.
    public static let gemmCases: [(name: String, gemm: GEMM)] = {
        var cases: [(String, GEMM)] = []
        for (m, n, k) in [(1, 1, 1), (17, 33, 5), (257, 129, 65), (64, 1, 300)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                // Half the cases with beta = 0, where C is poisoned with NaN and must be overwritten.
                let beta: Float = (cases.count % 2 == 0) ? 0.5 : 0
                var g = GEMM(m: m, n: n, k: k, transposeA: ta, transposeB: tb, alpha: 0.75, beta: beta)
                g.offsetA = 3
                g.offsetB = 5
                g.offsetC = 7
                g.lda += 2
                g.ldc += 1
                cases.append(("gemm \(m)x\(n)x\(k) \(ta ? "T" : "N")\(tb ? "T" : "N") beta \(beta)", g))
            }
        }
        var batched = GEMM(m: 9, n: 11, k: 13, transposeB: true, alpha: 1, beta: 0.25, batchCount: 3)
        batched.strideA += 4
        batched.strideC += 2
        cases.append(("gemm strided-batched 3x9x11x13", batched))
        cases.append(("gemm k=0 beta 0.5", GEMM(m: 5, n: 6, k: 0, alpha: 1, beta: 0.5)))
        // Large enough for the CPU to split one GEMM over its workers: by rows, and by slices of k.
        cases.append(("gemm tall 300x20x50 TN beta 0.5", GEMM(m: 300, n: 20, k: 50, transposeA: true, alpha: 1, beta: 0.5)))
        cases.append(("gemm long-k 6x9x5000 NT beta 0.5", GEMM(m: 6, n: 9, k: 5000, transposeB: true, alpha: 0.5, beta: 0.5)))
        cases.append(("gemm long-k 7x5x6000 TN", GEMM(m: 7, n: 5, k: 6000, transposeA: true)))
        // Many GEMMs split over the workers, and a shared A with B blocks side by side (a
        // convolution's forward), which the CPU runs as one wide GEMM.
        cases.append(("gemm strided-batched 4x33x35x37", GEMM(m: 33, n: 35, k: 37, alpha: 1, beta: 0.5, batchCount: 4)))
        var wide = GEMM(m: 5, n: 40, k: 7, alpha: 1, beta: 0.5, batchCount: 3)
        (wide.strideA, wide.ldb, wide.strideB, wide.strideC) = (0, 121, 40, 203)
        cases.append(("gemm shared-A wide 3x5x40x7", wide))
        // Blocks of C side by side in the rows of one wide matrix (a composed convolution's input
        // gradient: each image's columns of the column matrix).
        var beside = GEMM(m: 6, n: 5, k: 4, transposeA: true, alpha: 1, beta: 0, batchCount: 3)
        (beside.strideA, beside.ldb, beside.strideB, beside.ldc, beside.strideC) = (0, 5, 23, 17, 5)
        cases.append(("gemm side-by-side C 3x6x5x4 TN", beside))
        // A shared A against transposed B blocks stacked row-wise (MMoE's experts [E, h, in]), one
        // wide GEMM on the CPU; and many tiny products (its per-sample gate mixtures), plain loops.
        var experts = GEMM(m: 37, n: 16, k: 100, transposeB: true, alpha: 1, beta: 0.5, batchCount: 8)
        (experts.strideA, experts.ldb, experts.strideB, experts.ldc, experts.strideC) = (0, 103, 16 * 103, 17, 37 * 17 + 3)
        cases.append(("gemm shared-A stacked-Bᵀ 8x37x16x100", experts))
        var tiny = GEMM(m: 2, n: 16, k: 8, transposeA: true, alpha: 0.5, batchCount: 50)
        (tiny.offsetA, tiny.strideA, tiny.offsetC, tiny.strideC) = (1, 19, 2, 35)
        cases.append(("gemm small-batched 50x2x16x8 TN beta 0", tiny))
        cases.append(("gemm small-batched 7x3x5x4 TT beta 0.5",
                      GEMM(m: 3, n: 5, k: 4, transposeA: true, transposeB: true, alpha: 1, beta: 0.5, batchCount: 7)))
        return cases
    }()

    /// Sizes of the buffers a GEMM reads and writes.
    static func extents(_ g: GEMM) -> (a: Int, b: Int, c: Int) {
        let rowsA = g.transposeA ? g.k : g.m, rowsB = g.transposeB ? g.n : g.k
        return (g.offsetA + (g.batchCount - 1) * g.strideA + rowsA * g.lda,
                g.offsetB + (g.batchCount - 1) * g.strideB + rowsB * g.ldb,
                g.offsetC + (g.batchCount - 1) * g.strideC + g.m * g.ldc)
    }

    /// Runs one GEMM on `device` with random inputs and returns its largest error against the float64
    /// reference, per element in units of |α|·Σ|a||b| + |β||c| (`Reference.maxErrorRelativeToTerms`:
    /// a long sum that nearly cancels is judged at the scale its float32 terms round at). With beta = 0 the whole of C starts as NaN, so an element left
    /// unwritten shows; elements outside the multiplied matrices must stay as they were.
    public static func checkGEMM(_ g: GEMM, on device: any Device, seed: UInt64) throws -> Double {
        var random = SplitMix64(seed: seed)
        let sizes = extents(g)
        let a = random.uniform(sizes.a), b = random.uniform(sizes.b)
        let c = g.beta == 0 ? [Float](repeating: .nan, count: sizes.c) : random.uniform(sizes.c)
        let bufferA = try device.buffer(a), bufferB = try device.buffer(b), bufferC = try device.buffer(c)
        try device.gemm(g, a: bufferA, b: bufferB, c: bufferC)
        let result = try device.download(bufferC)
        var magnitudes = g
        magnitudes.alpha = abs(g.alpha)
        magnitudes.beta = abs(g.beta)
        let terms = Reference.gemm(magnitudes, a: a.map(abs), b: b.map(abs), c: c.map(abs))
        return Reference.maxErrorRelativeToTerms(result, Reference.gemm(g, a: a, b: b, c: c), terms: terms)
    }

    /// Every GEMM case on `device`; a case passes below `tolerance` relative error.
    public static func gemm(on device: any Device, seed: UInt64 = 1, tolerance: Double = 1e-4) -> [SelfTestResult] {
        gemmCases.enumerated().map { index, item in
            do {
                let error = try checkGEMM(item.gemm, on: device, seed: seed &+ UInt64(index))
                return SelfTestResult(op: item.name, forwardMaxRelativeError: error, passed: error <= tolerance)
            } catch {
                return SelfTestResult(op: item.name, forwardMaxRelativeError: .infinity, passed: false, failure: "\(error)")
            }
        }
    }

    /// Every check on `device`: the op checks (`ops`), then one training step of each workload (`steps`).
    public static func run(on device: any Device, seed: UInt64 = 1) -> [SelfTestResult] {
        ops(on: device, seed: seed) + steps(on: device, seed: seed)
    }

    /// GEMM and every op of the catalog on `device`, then the ops built on fused primitives again
    /// with those composed.
    public static func ops(on device: any Device, seed: UInt64 = 1) -> [SelfTestResult] {
        gemm(on: device, seed: seed) + OpCatalog.all.enumerated().map { index, op in
            op.check(on: device, seed: seed &+ UInt64(index) &* 7919)
        } + composed(on: device, seed: seed)
    }

    /// The checks of the ops built on fused primitives (`OpCatalog.usingFusedPrimitives`) on
    /// `ComposedDevice(device)`: every fused primitive replaced by its reference composition of the
    /// basic set, compared with the CPU's fused form and the float64 reference. Rows end in
    /// "(composed)".
    public static func composed(on device: any Device, seed: UInt64 = 1) -> [SelfTestResult] {
        let composed = ComposedDevice(device)
        return OpCatalog.usingFusedPrimitives.enumerated().map { index, op in
            var result = op.check(on: composed, seed: seed &+ UInt64(index) &* 104_729)
            result.op += " (composed)"
            return result
        }
    }
}
