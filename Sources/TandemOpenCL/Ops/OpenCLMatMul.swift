import CCLBlast
import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// CLBlast keeps the programs it compiles in a C++ static object that is destroyed after `main`
/// returns, in an order the OpenCL implementation does not control: releasing them then may call into
/// an implementation that has already torn itself down (under Oclgrind a run can abort at exit with
/// "corrupted double-linked list"). Clearing CLBlast's cache from an `atexit` handler, registered
/// on the first CLBlast call (so it runs before the statics that existed then are destroyed),
/// releases them while everything is alive.
private let clblastCacheClearedAtExit: Void = {
    _ = atexit { _ = CLBlastClearCache() }
}()

/// GEMM on OpenCL: CLBlast on GPUs, Tandem's tiled kernel (`Kernels/matmul.cl`) on CPU devices.
extension OpenCLDevice {
    public func gemm(_ g: GEMM, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        try g.validate(aCount: a.count, bCount: b.count, cCount: c.count, device: info.selector)
        guard g.m > 0, g.n > 0 else { return }
        GEMMCounter.add(g)
        if g.k == 0 {
            // CLBlast rejects k = 0; BLAS semantics say C = beta·C.
            try scale_matrix_f32(global: [g.n, g.m, g.batchCount], c: c, offset: g.offsetC, ldc: g.ldc, stride: g.strideC, m: g.m,
                                 n: g.n, beta: g.beta)
            return
        }
        switch gemmImplementation {
        case .tiled:
            // Tandem's CPU-style kernel in `Kernels/matmul.cl`: one tile of C per work-item.
            let rows = Int(KernelConstants.kernels.gemmTileRows), columns = Int(KernelConstants.kernels.gemmTileColumns)
            try gemm_tile_f32(global: [(g.n + columns - 1) / columns, (g.m + rows - 1) / rows, g.batchCount], local: [1, 1, 1],
                              A: a, B: b, C: c, g: try GEMMParameters(g, device: info.selector))
        case .clblast:
            try sgemm(g, a: a, b: b, c: c)
        }
    }

    /// Has CLBlast build its GEMM programs now rather than in the middle of the first training
    /// step: CLBlast compiles a routine's program on its first call in each process (one for
    /// `Sgemm`, one for `SgemmStridedBatched`; 1–3 s each on a GPU driver), so one tiny call of
    /// each does it. Does nothing when this device runs the tiled kernel. Returns the seconds spent.
    @discardableResult
    public func warmUpGEMM() throws -> Double {
        guard gemmImplementation == .clblast else { return 0 }
        let start = Profiler.nanoseconds()
        let a = try allocate(4), b = try allocate(4), c = try allocate(8)
        try fill(a, value: 0, offset: 0, count: 4)
        try fill(b, value: 0, offset: 0, count: 4)
        try fill(c, value: 0, offset: 0, count: 8)
        try sgemm(GEMM(m: 2, n: 2, k: 2), a: a, b: b, c: c)
        try sgemm(GEMM(m: 2, n: 2, k: 1, batchCount: 2), a: a, b: b, c: c)
        try synchronize()
        return Double(Profiler.nanoseconds() &- start) * 1e-9
    }

    /// One CLBlast (strided-batched) GEMM, no shortcuts.
    private func sgemm(_ g: GEMM, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        _ = clblastCacheClearedAtExit
        var queue: cl_command_queue? = self.queue
        let profile = profilingLaunch ? Profiler.nanoseconds() : 0
        var event: cl_event? = nil
        let ta = g.transposeA ? CLBlastTransposeYes : CLBlastTransposeNo
        let tb = g.transposeB ? CLBlastTransposeYes : CLBlastTransposeNo
        let status = withUnsafeMutablePointer(to: &event) { eventPointer -> CLBlastStatusCode in
            let eventOut = profile != 0 ? eventPointer : nil
            if g.batchCount == 1 {
                return CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g.m, g.n, g.k, g.alpha,
                                    cl(a).mem, g.offsetA, g.lda, cl(b).mem, g.offsetB, g.ldb, g.beta,
                                    cl(c).mem, g.offsetC, g.ldc, &queue, eventOut)
            }
            return CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g.m, g.n, g.k, g.alpha,
                                              cl(a).mem, g.offsetA, g.lda, g.strideA, cl(b).mem, g.offsetB, g.ldb, g.strideB,
                                              g.beta, cl(c).mem, g.offsetC, g.ldc, g.strideC, g.batchCount, &queue, eventOut)
        }
        guard status == CLBlastSuccess else {
            throw TandemError.backend(op: "\(g) (CLBlast)", device: info.description, message: "CLBlast status \(status.rawValue)")
        }
        if profile != 0 {
            addProfiledEvent(g.batchCount == 1 ? "gemm (CLBlast)" : "gemm batched (CLBlast)", event,
                             hostSeconds: Double(Profiler.nanoseconds() &- profile) * 1e-9, spansFromPrevious: true)
        }
    }
}
