import COpenCL
import TandemCore

/// A handle that may be captured by a release closure (OpenCL objects are thread-safe).
private struct PinnedHandles: @unchecked Sendable {
    let buffer: cl_mem
    let queue: cl_command_queue
}

extension OpenCLDevice {
    /// Page-locked host memory: a `CL_MEM_ALLOC_HOST_PTR` buffer mapped once for reading and writing.
    /// Drivers that pin such buffers (NVIDIA's, AMD's) run reads and writes into it as DMA transfers,
    /// without the bounce through a driver-side pinned copy that ordinary memory costs; on PoCL it is
    /// host memory like any other. Unmapped and released when the staging dies.
    public func makeStaging(_ count: Int) throws -> HostStaging {
        let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
        var status: cl_int = 0
        let made = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR), bytes, nil, &status)
        try check(status, "pinned staging buffer (\(bytes) bytes)", device: info.description)
        guard let made else { throw TandemError.backend(op: "pinned staging buffer", device: info.description, message: "no buffer") }
        let mapped = clEnqueueMapBuffer(queue, made, cl_bool(CL_TRUE), cl_map_flags(CL_MAP_READ | CL_MAP_WRITE), 0, bytes, 0, nil, nil, &status)
        guard status == CL_SUCCESS, let mapped else {
            clReleaseMemObject(made)
            try check(status == CL_SUCCESS ? CL_OUT_OF_HOST_MEMORY : status, "map pinned staging buffer (\(bytes) bytes)", device: info.description)
            throw TandemError.backend(op: "map pinned staging buffer", device: info.description, message: "no pointer")
        }
        let values = UnsafeMutableBufferPointer(start: mapped.bindMemory(to: Float.self, capacity: Swift.max(count, 1)), count: count)
        values.update(repeating: 0)
        let handles = PinnedHandles(buffer: made, queue: queue)
        return HostStaging(values: values) {
            clEnqueueUnmapMemObject(handles.queue, handles.buffer, mapped, 0, nil, nil)
            clFinish(handles.queue)
            clReleaseMemObject(handles.buffer)
        }
    }
}
