import Synchronization

/// One general matrix multiplication, row-major: `C = alpha·op(A)·op(B) + beta·C`, where `op(A)` is
/// m×k and `op(B)` is k×n, optionally repeated `batchCount` times at fixed element strides.
///
/// Leading dimensions, offsets and strides are in elements. The defaults describe packed matrices.
public struct GEMM: Sendable, Equatable, CustomStringConvertible {
    public var m: Int
    public var n: Int
    public var k: Int
    public var transposeA: Bool
    public var transposeB: Bool
    public var alpha: Float
    public var beta: Float
    public var lda: Int
    public var ldb: Int
    public var ldc: Int
    public var offsetA = 0
    public var offsetB = 0
    public var offsetC = 0
    public var batchCount = 1
    public var strideA: Int
    public var strideB: Int
    public var strideC: Int

    public init(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
                alpha: Float = 1, beta: Float = 0, batchCount: Int = 1) {
        self.m = m
        self.n = n
        self.k = k
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.alpha = alpha
        self.beta = beta
        self.lda = max(1, transposeA ? m : k)
        self.ldb = max(1, transposeB ? k : n)
        self.ldc = max(1, n)
        self.batchCount = batchCount
        self.strideA = m * k
        self.strideB = k * n
        self.strideC = m * n
    }

    /// Rows and columns of A and B as stored (before the transpose is applied).
    var storedA: (rows: Int, cols: Int) { transposeA ? (k, m) : (m, k) }
    var storedB: (rows: Int, cols: Int) { transposeB ? (n, k) : (k, n) }

    /// Multiply-adds, counted as two flops each.
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(batchCount) }

    /// Throws unless every element the multiplication touches lies inside buffers of the given sizes.
    public func validate(aCount: Int, bCount: Int, cCount: Int, device: String) throws {
        func fail(_ message: String) -> TandemError {
            .invalidArgument(op: "gemm", message: "\(self) on \(device): \(message)")
        }
        guard m >= 0, n >= 0, k >= 0, batchCount >= 1 else { throw fail("sizes must be non-negative and batchCount ≥ 1") }
        guard offsetA >= 0, offsetB >= 0, offsetC >= 0 else { throw fail("offsets must be non-negative") }
        guard strideA >= 0, strideB >= 0, strideC >= 0 else { throw fail("strides must be non-negative") }
        guard lda >= max(1, storedA.cols) else { throw fail("lda \(lda) < \(storedA.cols)") }
        guard ldb >= max(1, storedB.cols) else { throw fail("ldb \(ldb) < \(storedB.cols)") }
        guard ldc >= max(1, n) else { throw fail("ldc \(ldc) < \(n)") }
        // Batches of C must not overlap, or results would depend on execution order: each block
        // lies below the previous one (stacked), or beside it within the same rows (side by side).
        let stacked = strideC >= (m - 1) * ldc + n
        let sideBySide = strideC >= n && (batchCount - 1) * strideC + n <= ldc
        if batchCount > 1, m > 0, n > 0, !stacked, !sideBySide {
            throw fail("strideC \(strideC) makes batches of C overlap")
        }
        func extent(_ rows: Int, _ cols: Int, _ ld: Int, _ offset: Int, _ stride: Int) -> Int {
            rows == 0 || cols == 0 ? 0 : offset + (batchCount - 1) * stride + (rows - 1) * ld + cols
        }
        let needA = extent(storedA.rows, storedA.cols, lda, offsetA, strideA)
        let needB = extent(storedB.rows, storedB.cols, ldb, offsetB, strideB)
        let needC = extent(m, n, ldc, offsetC, strideC)
        guard needA <= aCount else { throw fail("A needs \(needA) elements, buffer has \(aCount)") }
        guard needB <= bCount else { throw fail("B needs \(needB) elements, buffer has \(bCount)") }
        guard needC <= cCount else { throw fail("C needs \(needC) elements, buffer has \(cCount)") }
    }

    public var description: String {
        var text = "gemm(m: \(m), n: \(n), k: \(k), \(transposeA ? "Aᵀ" : "A")·\(transposeB ? "Bᵀ" : "B")"
        if batchCount > 1 { text += ", batch \(batchCount)" }
        return text + ")"
    }
}

/// Counts the floating-point operations of every GEMM run on any device, so benchmarks can report
/// achieved GFLOP/s (GEMM dominates the flops of the standard workloads; other ops are not counted).
public enum GEMMCounter {
    private static let total = Atomic<UInt64>(0)
    /// Flops counted so far in this process.
    public static var flops: UInt64 { total.load(ordering: .relaxed) }
    /// Adds one GEMM (devices call this for each multiplication they run).
    public static func add(_ g: GEMM) { total.add(UInt64(g.flops), ordering: .relaxed) }
}
