import CBLAS
import TandemCore

/// GEMM on the CPU: OpenBLAS, one thread per call, with the work split over Tandem's own workers;
/// the shapes the multi-task models produce that a library call handles badly (many tiny products,
/// k = 1 outer products, shared-A batches that form one wide matrix) get their own paths.
extension CPUDevice {
    public func gemm(_ g: GEMM, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", g.batchCount > 1 ? "gemm batched" : "gemm") }
        try g.validate(aCount: a.count, bCount: b.count, cCount: c.count, device: info.selector)
        guard g.m > 0, g.n > 0 else { return }
        GEMMCounter.add(g)
        let pa = host(a).pointer, pb = host(b).pointer, pc = host(c).pointer
        if g.batchCount > 1 && g.k == 1 {
            outerProducts(g, pa, pb, pc)
            return
        }
        if g.batchCount > 1 && g.m * g.n * g.k <= Self.smallProduct {
            smallBatchedGEMM(g, pa, pb, pc)
            return
        }
        // One shared A and B blocks that form one wide matrix: side by side (a convolution's im2col
        // columns, image after image), or, transposed, stacked (MMoE's experts, [E, h, in]). One
        // large GEMM instead of many small ones, then the blocks are spread to their places in C.
        let sideBySide = !g.transposeB && g.strideB == g.n && g.batchCount * g.n <= g.ldb
        let stacked = g.transposeB && g.strideB == g.n * g.ldb
        if g.batchCount > 1, g.strideA == 0, sideBySide || stacked {
            let wide = g.batchCount * g.n
            let scratch = try allocate(g.m * wide)
            let pscratch = host(scratch).pointer
            var whole = g
            (whole.n, whole.batchCount, whole.beta, whole.offsetC, whole.ldc) = (wide, 1, 0, 0, wide)
            Self.parallelSGEMM(whole, pa, pb, pscratch)
            let source = SharedPointer(pscratch), target = SharedPointer(pc + g.offsetC)
            Parallel.chunks(g.batchCount, cost: g.m * g.n) { batches in
                for batch in batches {
                    for row in 0..<g.m {
                        let from = source.base + row * wide + batch * g.n
                        let to = target.base + batch * g.strideC + row * g.ldc
                        if g.beta == 0 {
                            for j in 0..<g.n { to[j] = from[j] }
                        } else {
                            for j in 0..<g.n { to[j] = from[j] + g.beta * to[j] }
                        }
                    }
                }
            }
            withExtendedLifetime(scratch) {}  // The pointer above borrows its memory.
            return
        }
        if g.batchCount == 1 {
            Self.parallelSGEMM(g, pa, pb, pc)
            return
        }
        // Many GEMMs: whole GEMMs per worker.
        let a = SharedPointer(pa), b = SharedPointer(pb), c = SharedPointer(pc)
        Parallel.chunks(g.batchCount, cost: g.m * g.n * g.k) { batches in
            for batch in batches {
                var one = g
                one.offsetA += batch * g.strideA
                one.offsetB += batch * g.strideB
                one.offsetC += batch * g.strideC
                Self.sgemm(one, a.base, b.base, c.base)
            }
        }
    }

    /// Batched GEMMs at most this many multiply-adds each run as plain loops: a library call per
    /// tiny product (MMoE's per-sample 1×16×8 gate mixtures) costs more than the product.
    static let smallProduct = 1 << 12

    /// Each batch of `g` as plain loops, the batches split over the workers: rows of C built as
    /// sums of B's rows (eight lanes wide) when B's rows are contiguous, else as dot products.
    private func smallBatchedGEMM(_ g: GEMM, _ pa: UnsafeMutablePointer<Float>, _ pb: UnsafeMutablePointer<Float>,
                                  _ pc: UnsafeMutablePointer<Float>) {
        let a = SharedPointer(pa), b = SharedPointer(pb), c = SharedPointer(pc)
        // Element strides of op(A)[i, p] and op(B)[p, j].
        let (ai, ap) = g.transposeA ? (1, g.lda) : (g.lda, 1)
        let (bp, bj) = g.transposeB ? (1, g.ldb) : (g.ldb, 1)
        Parallel.chunks(g.batchCount, cost: g.m * g.n * g.k) { batches in
            for batch in batches {
                let a = a.base + g.offsetA + batch * g.strideA, b = b.base + g.offsetB + batch * g.strideB
                let c = c.base + g.offsetC + batch * g.strideC
                for i in 0..<g.m {
                    let row = c + i * g.ldc
                    if bj == 1 {
                        // C[i, :] = beta·C[i, :] + Σ_p alpha·A[i, p]·B[p, :].
                        if g.beta == 0 {
                            row.update(repeating: 0, count: g.n)
                        } else if g.beta != 1 {
                            for j in 0..<g.n { row[j] *= g.beta }
                        }
                        for p in 0..<g.k { Self.axpy(g.alpha * a[i * ai + p * ap], b + p * bp, row, count: g.n) }
                    } else {
                        for j in 0..<g.n {
                            // Dot products of A's row and Bᵀ's row, eight lanes wide when both are contiguous.
                            let sum = ap == 1 && bp == 1 ? Self.dot(a + i * ai, b + j * bj, count: g.k)
                                : (0..<g.k).reduce(Float(0)) { $0 + a[i * ai + $1 * ap] * b[$1 * bp + j * bj] }
                            row[j] = g.alpha * sum + (g.beta == 0 ? 0 : g.beta * row[j])
                        }
                    }
                }
            }
        }
    }

    /// Σ x[p]·y[p] over `count` floats, eight lanes at a time.
    @inline(__always)
    static func dot(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(), p = 0
        while p &+ 8 <= count {
            lanes += UnsafeRawPointer(x + p).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(y + p).loadUnaligned(as: SIMD8<Float>.self)
            p &+= 8
        }
        var sum = lanes.sum()
        while p < count { sum += x[p] * y[p]; p &+= 1 }
        return sum
    }

    /// `y[0..<count] += alpha · x[0..<count]`, eight lanes at a time.
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let lanes = SIMD8<Float>(repeating: alpha)
        var j = 0
        while j &+ 8 <= count {
            let sum = UnsafeRawPointer(y + j).loadUnaligned(as: SIMD8<Float>.self)
                + lanes * UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + j).storeBytes(of: sum, as: SIMD8<Float>.self)
            j &+= 8
        }
        while j < count { y[j] += alpha * x[j]; j &+= 1 }
    }

    /// One single-threaded OpenBLAS call for `g`'s first batch.
    @inline(__always)
    static func sgemm(_ g: GEMM, _ pa: UnsafeMutablePointer<Float>, _ pb: UnsafeMutablePointer<Float>,
                      _ pc: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, g.transposeA ? CblasTrans : CblasNoTrans, g.transposeB ? CblasTrans : CblasNoTrans,
                    Int32(g.m), Int32(g.n), Int32(g.k), g.alpha, pa + g.offsetA, Int32(g.lda),
                    pb + g.offsetB, Int32(g.ldb), g.beta, pc + g.offsetC, Int32(g.ldc))
    }

    /// One GEMM split over the workers (OpenBLAS runs single-threaded, so its threads never spin
    /// against ours): by columns of C when it is wide, else by rows, else by slices of k whose
    /// partial products are added in a fixed order (deterministic for a given worker count).
    static func parallelSGEMM(_ g: GEMM, _ pa: UnsafeMutablePointer<Float>, _ pb: UnsafeMutablePointer<Float>,
                              _ pc: UnsafeMutablePointer<Float>) {
        let parts = Parallel.workers
        let work = g.m * g.n * max(g.k, 1)
        guard parts > 1, work >= 1 << 18 else { return sgemm(g, pa, pb, pc) }
        let a = SharedPointer(pa), b = SharedPointer(pb), c = SharedPointer(pc)
        if g.n >= 64 * parts || (g.n >= 16 * parts && g.n >= g.m) {
            Parallel.split(g.n, parts: parts, align: 16) { _, range in
                var part = g
                part.n = range.count
                part.offsetB += g.transposeB ? range.lowerBound * g.ldb : range.lowerBound
                part.offsetC += range.lowerBound
                sgemm(part, a.base, b.base, c.base)
            }
        } else if g.m >= 16 * parts {
            Parallel.split(g.m, parts: parts, align: 16) { _, range in
                var part = g
                part.m = range.count
                part.offsetA += g.transposeA ? range.lowerBound : range.lowerBound * g.lda
                part.offsetC += range.lowerBound * g.ldc
                sgemm(part, a.base, b.base, c.base)
            }
        } else if g.k >= 256 * parts {
            // Worker 0 accumulates into C (with beta); the others into scratch, added afterwards.
            let partials = UnsafeMutablePointer<Float>.allocate(capacity: (parts - 1) * g.m * g.n)
            defer { partials.deallocate() }
            let scratch = SharedPointer(partials)
            Parallel.split(g.k, parts: parts, align: 16) { index, range in
                var part = g
                part.k = range.count
                part.offsetA += g.transposeA ? range.lowerBound * g.lda : range.lowerBound
                part.offsetB += g.transposeB ? range.lowerBound : range.lowerBound * g.ldb
                if index > 0 {
                    (part.beta, part.offsetC, part.ldc) = (0, 0, g.n)
                    sgemm(part, a.base, b.base, scratch.base + (index - 1) * g.m * g.n)
                } else {
                    sgemm(part, a.base, b.base, c.base)
                }
            }
            for index in 1..<parts where !Parallel.bounds(index, of: g.k, parts: parts, align: 16).isEmpty {
                let partial = partials + (index - 1) * g.m * g.n
                for i in 0..<g.m { addRun(from: partial + i * g.n, to: pc + g.offsetC + i * g.ldc, count: g.n) }
            }
        } else {
            sgemm(g, pa, pb, pc)
        }
    }

    /// Batched GEMMs with k = 1 (a convolution's bias added to every image): C = alpha·a·bᵀ + beta·C
    /// per batch, in plain loops rather than many tiny library calls.
    private func outerProducts(_ g: GEMM, _ pa: UnsafeMutablePointer<Float>, _ pb: UnsafeMutablePointer<Float>,
                               _ pc: UnsafeMutablePointer<Float>) {
        let a = SharedPointer(pa), b = SharedPointer(pb), c = SharedPointer(pc)
        // Element i of op(A)'s only column and element j of op(B)'s only row.
        let aStep = g.transposeA ? 1 : g.lda, bStep = g.transposeB ? g.ldb : 1
        Parallel.chunks(g.batchCount, cost: g.m * g.n) { batches in
            for batch in batches {
                let colA = a.base + g.offsetA + batch * g.strideA, rowB = b.base + g.offsetB + batch * g.strideB
                for i in 0..<g.m {
                    let ai = g.alpha * colA[i * aStep]
                    let out = c.base + g.offsetC + batch * g.strideC + i * g.ldc
                    if g.beta == 0 && bStep == 1 {
                        for j in 0..<g.n { out[j] = ai * rowB[j] }  // unit stride: vectorised
                    } else if g.beta == 0 {
                        for j in 0..<g.n { out[j] = ai * rowB[j * bStep] }
                    } else {
                        for j in 0..<g.n { out[j] = ai * rowB[j * bStep] + g.beta * out[j] }
                    }
                }
            }
        }
    }
}
