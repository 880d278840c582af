import CBLAS

/// The CPU device: GEMM through OpenBLAS, everything else in Swift loops. Work runs synchronously.
public final class CPUDevice: Device, @unchecked Sendable {
    public static let shared = CPUDevice()

    public let info: DeviceInfo

    private init() {
        let blas = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
        info = DeviceInfo(
            selector: "cpu", kind: .cpu, type: .cpu, name: System.processorName, platform: "OpenBLAS",
            driver: blas, computeUnits: System.processorCount, globalMemoryBytes: System.physicalMemoryBytes,
            maxWorkGroupSize: 1, localMemoryBytes: 0)
    }

    /// The CPU buffer behind `buffer`; handing another device's buffer to the CPU is a caller bug
    /// that the tensor layer rules out before calling in.
    @inline(__always)
    func host(_ buffer: any DeviceBuffer) -> CPUBuffer {
        guard let cpu = buffer as? CPUBuffer else {
            fatalError("CPUDevice received a buffer of another device: \(type(of: buffer))")
        }
        return cpu
    }

    public func allocate(_ count: Int) throws -> any DeviceBuffer {
        guard count >= 0 else {
            throw TandemError.invalidArgument(op: "allocate", message: "negative element count \(count) on cpu")
        }
        return CPUBuffer(count: count)
    }

    public func upload(_ values: [Float], to buffer: any DeviceBuffer, offset: Int) throws {
        try checkRange("upload", buffer, offset: offset, count: values.count)
        let target = host(buffer).pointer + offset
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { target.update(from: base, count: source.count) }
        }
    }

    public func download(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> [Float] {
        try checkRange("download", buffer, offset: offset, count: count)
        return Array(UnsafeBufferPointer(start: host(buffer).pointer + offset, count: count))
    }

    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "fill") }
        try checkRange("fill", buffer, offset: offset, count: count)
        (host(buffer).pointer + offset).update(repeating: value, count: count)
    }

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
        let ta = g.transposeA ? CblasTrans : CblasNoTrans
        let tb = g.transposeB ? CblasTrans : CblasNoTrans
        if g.batchCount > 1, g.strideA == 0, !g.transposeB, g.strideB == g.n, g.batchCount * g.n <= g.ldb {
            // One shared A and B blocks side by side in one wide matrix (a convolution's im2col
            // columns, image after image): one large GEMM instead of many small ones, then the
            // blocks are spread to their places in C.
            let wide = g.batchCount * g.n
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: g.m * wide)
            defer { scratch.deallocate() }
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(g.m), Int32(wide), Int32(g.k), g.alpha,
                        pa + g.offsetA, Int32(g.lda), pb + g.offsetB, Int32(g.ldb), 0, scratch, Int32(wide))
            let source = SharedPointer(scratch), target = SharedPointer(pc + g.offsetC)
            Parallel.chunks(g.batchCount, cost: g.m * g.n) { batches in
                for batch in batches {
                    for row in 0..<g.m {
                        let from = source.base + row * wide + batch * g.n
                        let to = target.base + batch * g.strideC + row * g.ldc
                        if g.beta == 0 {
                            to.update(from: from, count: g.n)
                        } else {
                            for j in 0..<g.n { to[j] = from[j] + g.beta * to[j] }
                        }
                    }
                }
            }
            return
        }
        for batch in 0..<g.batchCount {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(g.m), Int32(g.n), Int32(g.k), g.alpha,
                        pa + g.offsetA + batch * g.strideA, Int32(g.lda),
                        pb + g.offsetB + batch * g.strideB, Int32(g.ldb), g.beta,
                        pc + g.offsetC + batch * g.strideC, Int32(g.ldc))
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
                    if g.beta == 0 {
                        for j in 0..<g.n { out[j] = ai * rowB[j * bStep] }
                    } else {
                        for j in 0..<g.n { out[j] = ai * rowB[j * bStep] + g.beta * out[j] }
                    }
                }
            }
        }
    }

    public func synchronize() throws {}
}
