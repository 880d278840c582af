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
        try checkRange("fill", buffer, offset: offset, count: count)
        (host(buffer).pointer + offset).update(repeating: value, count: count)
    }

    public func gemm(_ g: GEMM, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        try g.validate(aCount: a.count, bCount: b.count, cCount: c.count, device: info.selector)
        guard g.m > 0, g.n > 0 else { return }
        GEMMCounter.add(g)
        let pa = host(a).pointer, pb = host(b).pointer, pc = host(c).pointer
        let ta = g.transposeA ? CblasTrans : CblasNoTrans
        let tb = g.transposeB ? CblasTrans : CblasNoTrans
        for batch in 0..<g.batchCount {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(g.m), Int32(g.n), Int32(g.k), g.alpha,
                        pa + g.offsetA + batch * g.strideA, Int32(g.lda),
                        pb + g.offsetB + batch * g.strideB, Int32(g.ldb), g.beta,
                        pc + g.offsetC + batch * g.strideC, Int32(g.ldc))
        }
    }

    public func synchronize() throws {}
}
