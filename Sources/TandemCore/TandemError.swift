/// Every failure Tandem reports: each case names the operation, and where it applies the shapes and
/// the device, so a message read in a log says what went wrong and where.
public enum TandemError: Error, Equatable, CustomStringConvertible {
    /// A caller passed something the operation cannot accept (a shape, an axis, a size, a name).
    case invalidArgument(op: String, message: String)
    /// A device selector names no device; `available` lists the selectors that exist.
    case deviceNotFound(selector: String, available: [String])
    /// The device reported an error code while running `op`.
    case backend(op: String, device: String, message: String)
    /// An OpenCL program did not compile; `log` is the compiler's build log.
    case buildFailed(program: String, device: String, log: String)
    /// The device could not allocate `bytes`.
    case outOfMemory(device: String, bytes: Int)
    /// The device ran out of memory while running `op` (devices that allocate lazily, such as
    /// NVIDIA's, find out at a launch, not when the buffer was made); `bytes` is what the op's
    /// buffers hold in all.
    case outOfMemoryRunning(op: String, device: String, bytes: Int)
    /// One buffer of `bytes` is larger than the largest the device allows (`limit`), however much
    /// memory is free.
    case allocationTooLarge(device: String, bytes: Int, limit: Int)
    /// A launch asks for more than the device or kernel allows (work-group size, local memory).
    case launchLimit(kernel: String, device: String, message: String)
    /// `op` could not get memory for a tensor of `shape` that it makes (its output, or a gradient;
    /// `context` says which backward, if any): `cause` is the device's refusal, `outOfMemory` or
    /// `allocationTooLarge`. The tensor layer adds the op and shape where every op allocates
    /// (`Tensor.empty`), so a failure deep in a model names what asked for the memory.
    indirect case tensorAllocation(op: String, shape: [Int], context: String?, cause: TandemError)
    /// A training step of `what` (model, input shape, batch) is estimated to need `needed` bytes of
    /// `device` where it has `available`: its memory, or with `singleBuffer` the largest single buffer
    /// it allows. Refused before any of it is allocated; `detail` breaks the estimate down.
    case trainingStepTooLarge(what: String, device: String, needed: Int, available: Int, singleBuffer: Bool, detail: String)
    /// The device failed while running queued work: most likely `kernel`, the last one queued, read
    /// or wrote outside its buffers, or the device ran out of resources.
    case kernelFault(kernel: String, device: String, status: String)

    public var description: String {
        switch self {
        case let .invalidArgument(op, message):
            return "\(op): \(message)"
        case let .deviceNotFound(selector, available):
            return "no device '\(selector)'; available: \(available.joined(separator: ", "))"
        case let .backend(op, device, message):
            return "\(op) on \(device): \(message)"
        case let .buildFailed(program, device, log):
            return "OpenCL program '\(program)' failed to build on \(device):\n\(log)"
        case let .outOfMemory(device, bytes):
            return "out of memory on \(device): could not allocate \(bytes) bytes"
        case let .outOfMemoryRunning(op, device, bytes):
            return "out of memory on \(device) while running \(op) (its buffers hold \(bytes) bytes; the device allocates "
                + "memory when a kernel first uses it, so this shows at a launch): use a smaller batch or model"
        case let .allocationTooLarge(device, bytes, limit):
            return "a buffer of \(bytes) bytes is larger than the largest single buffer \(device) allows (\(limit) bytes, "
                + "CL_DEVICE_MAX_MEM_ALLOC_SIZE), however much memory is free: use a smaller batch or tensor"
        case let .tensorAllocation(op, shape, context, cause):
            // The shape was allocated from, so its count fits an Int; its bytes may not.
            let bytes = Shapes.count(shape).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
            let size = bytes.overflow ? "over 8 EiB" : ByteCount.describe(bytes.partialValue)
            let tensor = "\(op) output \(shape) (\(size))"
            let within = context.map { ", \($0)" } ?? ""
            switch cause {
            case let .outOfMemory(device, _):
                return "\(tensor) on \(device)\(within): out of memory; use a smaller batch or model"
            case let .allocationTooLarge(device, _, limit):
                return "\(tensor) on \(device)\(within): larger than the largest single buffer the device allows "
                    + "(\(ByteCount.describe(limit)), CL_DEVICE_MAX_MEM_ALLOC_SIZE), however much memory is free; use a smaller batch or tensor"
            default:
                return "\(tensor)\(within): \(cause)"
            }
        case let .trainingStepTooLarge(what, device, needed, available, singleBuffer, detail):
            if singleBuffer {
                return "\(what) needs a single buffer of \(ByteCount.describe(needed)) (\(detail)); \(device) allows at most "
                    + "\(ByteCount.describe(available)) in one buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE): use a smaller batch, input or model"
            }
            return "\(what) needs about \(ByteCount.describe(needed)) for a training step (\(detail)); \(device) has "
                + "\(ByteCount.describe(available)): use a smaller batch, input or model"
        case let .launchLimit(kernel, device, message):
            return "kernel \(kernel) on \(device): \(message)"
        case let .kernelFault(kernel, device, status):
            return "\(device) failed while running queued work (\(status)): most likely kernel \(kernel), the last one "
                + "queued, read or wrote outside its buffers, or the device ran out of resources; the device cannot be used "
                + "further in this process"
        }
    }
}
