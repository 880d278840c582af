import COpenCL
import Synchronization
import TandemCore

/// Counters of a device's buffer pool.
public struct BufferPoolStatistics: Sendable, Equatable {
    /// Buffers created with `clCreateBuffer`.
    public var allocations = 0
    /// Requests served from a previously freed buffer.
    public var reuses = 0
    /// Bytes held by live buffers.
    public var bytesInUse = 0
    /// The most bytes ever held by live buffers at once.
    public var peakBytesInUse = 0
    /// Bytes held by freed buffers waiting for reuse.
    public var bytesCached = 0
}

/// Reuses freed device buffers: a request takes a cached buffer of the same rounded size if there is
/// one, else allocates. Buffers go back to the pool when their `OpenCLBuffer` dies (ARC makes that
/// deterministic), and the pool releases them all when the device goes away.
final class BufferPool: @unchecked Sendable {
    /// `cl_mem` handles may move between threads (OpenCL memory objects are thread-safe).
    private struct Mem: @unchecked Sendable { let handle: cl_mem }

    private struct State {
        var free: [Int: [Mem]] = [:]
        var statistics = BufferPoolStatistics()
    }

    private let context: cl_context
    private let deviceName: String
    private let state = Mutex(State())

    init(context: cl_context, deviceName: String) {
        self.context = context
        self.deviceName = deviceName
    }

    deinit {
        state.withLock { state in
            for mems in state.free.values { for mem in mems { clReleaseMemObject(mem.handle) } }
        }
    }

    /// Pool sizes are multiples of 256 bytes so that nearby sizes share buffers.
    static func roundedBytes(_ bytes: Int) -> Int { max(256, (bytes + 255) & ~255) }

    var statistics: BufferPoolStatistics { state.withLock { $0.statistics } }

    func take(bytes requested: Int) throws -> (mem: cl_mem, bytes: Int) {
        let bytes = Self.roundedBytes(requested)
        let reused: Mem? = state.withLock { state in
            guard let mem = state.free[bytes]?.popLast() else { return nil }
            state.statistics.reuses += 1
            state.statistics.bytesCached -= bytes
            state.statistics.bytesInUse += bytes
            state.statistics.peakBytesInUse = max(state.statistics.peakBytesInUse, state.statistics.bytesInUse)
            return mem
        }
        if let reused { return (reused.handle, bytes) }
        var mem = create(bytes)
        if mem == nil {
            trim()  // Give cached memory back to the driver and try once more.
            mem = create(bytes)
        }
        guard let mem else { throw TandemError.outOfMemory(device: deviceName, bytes: bytes) }
        state.withLock { state in
            state.statistics.allocations += 1
            state.statistics.bytesInUse += bytes
            state.statistics.peakBytesInUse = max(state.statistics.peakBytesInUse, state.statistics.bytesInUse)
        }
        return (mem, bytes)
    }

    func give(_ mem: cl_mem, bytes: Int) {
        let mem = Mem(handle: mem)
        state.withLock { state in
            state.free[bytes, default: []].append(mem)
            state.statistics.bytesInUse -= bytes
            state.statistics.bytesCached += bytes
        }
    }

    /// Releases every cached (free) buffer.
    func trim() {
        let released: [Mem] = state.withLock { state in
            let all = state.free.values.flatMap { $0 }
            state.free.removeAll()
            state.statistics.bytesCached = 0
            return all
        }
        for mem in released { clReleaseMemObject(mem.handle) }
    }

    private func create(_ bytes: Int) -> cl_mem? {
        var status: cl_int = 0
        let mem = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status)
        return status == CL_SUCCESS ? mem : nil
    }
}

/// A run of floats in OpenCL device memory, returned to its pool when it dies.
public final class OpenCLBuffer: DeviceBuffer, @unchecked Sendable {
    public let count: Int
    let mem: cl_mem
    private let bytes: Int
    /// The raw memory object, for interoperating with other OpenCL libraries; valid while `self` lives.
    public var memory: cl_mem { mem }
    private let pool: BufferPool

    init(count: Int, pool: BufferPool) throws {
        self.count = count
        self.pool = pool
        (mem, bytes) = try pool.take(bytes: count * MemoryLayout<Float>.stride)
    }

    deinit { pool.give(mem, bytes: bytes) }
}
