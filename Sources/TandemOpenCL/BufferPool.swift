import COpenCL
import TandemCore

/// A context handle captured by the pool's allocator (OpenCL contexts are thread-safe).
private struct OpenCLContextHandle: @unchecked Sendable { let handle: cl_context }

/// The pool of an OpenCL context's buffers; a block is a `cl_mem` handle (OpenCL memory objects are
/// thread-safe, so handles may move between threads).
typealias BufferPool = MemoryPool

extension MemoryPool {
    /// The policy `TANDEM_OPENCL_POOL` asks for: `off` gives every buffer exactly its size and never
    /// reuses one (`Policy.exact`, for checking kernels with Oclgrind), anything else pools.
    static var openCLPolicy: Policy { System.environment("TANDEM_OPENCL_POOL") == "off" ? .exact : .pooled }

    convenience init(context: cl_context, deviceName: String, policy: Policy = MemoryPool.openCLPolicy) {
        let owner = OpenCLContextHandle(handle: context)
        self.init(deviceName: deviceName, policy: policy, create: { bytes in
            var status: cl_int = 0
            let mem = clCreateBuffer(owner.handle, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status)
            return status == CL_SUCCESS ? mem.map { Block(UnsafeMutableRawPointer($0)) } : nil
        }, release: { clReleaseMemObject(OpaquePointer($0.raw)) })
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
        let (block, bytes) = try pool.take(bytes: count * MemoryLayout<Float>.stride)
        (mem, self.bytes) = (OpaquePointer(block.raw), bytes)
    }

    deinit { pool.give(MemoryPool.Block(UnsafeMutableRawPointer(mem)), bytes: bytes) }
}
