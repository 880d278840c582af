import CBLAS
import TandemCore

/// The CPU device: GEMM through OpenBLAS, everything else in Swift loops. Work runs synchronously.
public final class CPUDevice: Device, @unchecked Sendable {
    public static let shared = CPUDevice()

    public let info: DeviceInfo
    /// Freed buffers kept for the next step's requests (at most 1 GiB or a quarter of the memory).
    let pool = MemoryPool.host(cacheLimit: min(1 << 30, max(1, System.physicalMemoryBytes / 4)))

    /// Counters of the buffer pool.
    public var poolStatistics: BufferPoolStatistics { pool.statistics }

    /// Use `shared`; a second instance (tests) has a pool of its own, so that its counters see only
    /// its own buffers (memory measurements beside tests running in parallel).
    init() {
        // GEMMs are split over Tandem's own workers; OpenBLAS's threads would spin against them.
        openblas_set_num_threads(1)
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
        return try CPUBuffer(count: count, pool: pool)
    }

    public func upload(_ values: [Float], to buffer: any DeviceBuffer, offset: Int) throws {
        try values.withUnsafeBufferPointer { try upload($0, to: buffer, offset: offset) }
    }

    public func download(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> [Float] {
        try checkRange("download", buffer, offset: offset, count: count)
        return Array(UnsafeBufferPointer(start: host(buffer).pointer + offset, count: count))
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        try checkRange("upload", buffer, offset: offset, count: values.count)
        if let base = values.baseAddress { (host(buffer).pointer + offset).update(from: base, count: values.count) }
    }

    public func download(_ buffer: any DeviceBuffer, offset: Int, into target: UnsafeMutableBufferPointer<Float>) throws {
        try checkRange("download", buffer, offset: offset, count: target.count)
        if let base = target.baseAddress { base.update(from: host(buffer).pointer + offset, count: target.count) }
    }

    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "fill") }
        try checkRange("fill", buffer, offset: offset, count: count)
        (host(buffer).pointer + offset).update(repeating: value, count: count)
    }

    public func synchronize() throws {}
}
