import COpenCL
import TandemCore

/// A deliberately faulty kernel launch that an OpenCL checker (Oclgrind) must report: the proof that
/// a clean checker run means something (`tandem selftest --checker-probe KIND`, run by
/// `scripts/oclgrind-check.sh probe KIND` and its test). On a real device each probe is harmless:
/// nothing is written outside a buffer, and the buffers are the probe's own.
public enum CheckerProbe: String, CaseIterable, Sendable {
    /// Each of n work-items copies one element, and the last reads one element past the end of an
    /// n-element source buffer (a read, never a write).
    case outOfBounds = "out-of-bounds"
    /// Two work-items of one work-group write different values to the same element, with no barrier.
    case dataRace = "data-race"
    /// A kernel copies a buffer that nothing has written.
    case uninitialized

    /// The kernel source of every probe (one program).
    static let source = """
        __kernel void probe_copy_shifted(__global const float* x, __global float* y, const int n, const int shift) {
            const int i = get_global_id(0);
            if (i < n) y[i] = x[i + shift];
        }
        __kernel void probe_same_element(__global float* y) {
            y[0] = (float)get_global_id(0);
        }
        """
}

extension OpenCLDevice {
    /// Runs `probe` on this device and waits for it. Its buffers come straight from the driver (not
    /// the pool), exactly the probe's size, so a checker sees the fault where it is.
    public func runCheckerProbe(_ probe: CheckerProbe) throws {
        let program = try programs.program(name: "checker_probe", source: CheckerProbe.source, options: Self.buildOptions)
        let n = 16
        var status: cl_int = 0
        func buffer(_ values: [Float]?) throws -> cl_mem {
            let bytes = n * MemoryLayout<Float>.stride
            let made: cl_mem?
            if var values {
                made = values.withUnsafeMutableBytes {
                    clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR), bytes, $0.baseAddress, &status)
                }
            } else {
                made = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status)
            }
            try check(status, "checker probe buffer", device: info.description)
            guard let made else { throw TandemError.backend(op: "checker probe buffer", device: info.description, message: "no buffer") }
            return made
        }
        let name = probe == .dataRace ? "probe_same_element" : "probe_copy_shifted"
        guard let kernel = clCreateKernel(program.handle, name, &status), status == CL_SUCCESS else {
            throw TandemError.backend(op: "checker probe \(probe.rawValue)", device: info.description, message: openCLStatusName(status))
        }
        defer { clReleaseKernel(kernel) }
        let ones = [Float](repeating: 1, count: n)
        var x: cl_mem? = try buffer(probe == .uninitialized ? nil : ones)
        var y: cl_mem? = try buffer(ones)
        defer {
            clReleaseMemObject(x)
            clReleaseMemObject(y)
        }
        var global = probe == .dataRace ? 2 : n, local = global
        if probe == .dataRace {
            status = clSetKernelArg(kernel, 0, MemoryLayout<cl_mem>.size, &y)
        } else {
            var count = Int32(n), shift: Int32 = probe == .outOfBounds ? 1 : 0
            status = clSetKernelArg(kernel, 0, MemoryLayout<cl_mem>.size, &x)
            status |= clSetKernelArg(kernel, 1, MemoryLayout<cl_mem>.size, &y)
            status |= clSetKernelArg(kernel, 2, 4, &count)
            status |= clSetKernelArg(kernel, 3, 4, &shift)
        }
        try check(status, "checker probe \(probe.rawValue) arguments", device: info.description)
        try check(clEnqueueNDRangeKernel(queue, kernel, 1, nil, &global, &local, 0, nil, nil), "checker probe \(probe.rawValue)",
                  device: info.description)
        try check(clFinish(queue), "checker probe \(probe.rawValue)", device: info.description)
    }
}
