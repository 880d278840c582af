import CCLBlast
import COpenCL
import TandemCore
import TandemKernels

/// Counters of data moved between host and device.
public struct TransferStatistics: Sendable, Equatable {
    public var uploads = 0
    public var downloads = 0
    public var bytesUploaded = 0
    public var bytesDownloaded = 0
}

/// One OpenCL device: a context, one in-order queue, a buffer pool and a program cache.
///
/// Work is queued asynchronously; the host waits only in `download` and `synchronize`.
public final class OpenCLDevice: Device, KernelLauncher, @unchecked Sendable {
    public let info: DeviceInfo
    let context: cl_context
    let queue: cl_command_queue
    let device: cl_device_id
    let pool: BufferPool
    let programs: ProgramCache
    /// `cl_kernel` objects are not thread-safe: argument setting and enqueueing happen under this lock.
    private let kernels = Locked(KernelTable())

    /// The compiled kernels (by `KernelID.index`), each one's largest work-group, and what was
    /// queued last (named when the device later reports a failure).
    private struct KernelTable: @unchecked Sendable {
        var handles = [cl_kernel?](repeating: nil, count: KernelID.all.count)
        var maxWorkGroup = [Int](repeating: 0, count: KernelID.all.count)
        var localMemoryUsed = [Int](repeating: 0, count: KernelID.all.count)
        var last: KernelID?
        /// Statuses the next launches report instead of enqueueing (fault injection for tests).
        var injected: [cl_int] = []
        /// What each kernel's arguments were last set to (by `KernelID.index`, then argument).
        var arguments = [[ArgumentValue]](repeating: [], count: KernelID.all.count)
    }
    private let transfers = Locked(TransferStatistics())
    /// Whether the queue records profiling timestamps (`Profiler` was on when the device opened).
    let profiling: Bool
    /// Whether every launch is written to standard error (`TANDEM_TRACE_LAUNCHES=1`): which kernels a
    /// step queues, in order, with their global sizes.
    let tracing = System.environment("TANDEM_TRACE_LAUNCHES") == "1"

    /// Commands queued with a profiling event whose times are not yet read back.
    private let pendingEvents = Locked<[PendingEvent]>([])

    /// An event handed out of a lock (OpenCL events may be used from any thread).
    struct EventHandle: @unchecked Sendable {
        let event: cl_event?
    }

    /// One profiled command: its op name, its event, and the host time spent issuing it.
    private struct PendingEvent: @unchecked Sendable {
        let op: String
        let event: cl_event
        let hostSeconds: Double
        /// CLBlast may queue helper kernels before the one the event belongs to: such a command
        /// is charged from the end of the previous command instead of its own start.
        let spansFromPrevious: Bool
    }

    /// Build options for every Tandem program: OpenCL C 1.2, no fast-math (CPU and device must agree).
    public static let buildOptions = "-cl-std=CL1.2"

    /// Choices that are fixed for a device's lifetime; nil picks the default for the device's type.
    public struct Options: Sendable {
        /// Which GEMM runs (default: the tiled kernel on CPU devices, CLBlast elsewhere, unless
        /// `TANDEM_OPENCL_GEMM` says otherwise).
        public var gemm: GEMMImplementation?
        /// Whether data-movement kernels give a work-item a whole row (default: on CPU devices).
        public var rowKernels: Bool?

        public init(gemm: GEMMImplementation? = nil, rowKernels: Bool? = nil) {
            self.gemm = gemm
            self.rowKernels = rowKernels
        }
    }

    /// Makes a context and queue for `handle`; `cacheDirectory` nil disables the on-disk program cache.
    public init(_ handle: OpenCLDeviceHandle, cacheDirectory: String? = OpenCLDevice.defaultCacheDirectory,
                options: Options = Options()) throws {
        info = handle.info
        device = handle.device
        var status: cl_int = 0
        var deviceID: cl_device_id? = handle.device
        var properties: [cl_context_properties] = [
            cl_context_properties(CL_CONTEXT_PLATFORM), cl_context_properties(Int(bitPattern: UnsafeRawPointer(handle.platform))), 0,
        ]
        let context = clCreateContext(&properties, 1, &deviceID, nil, nil, &status)
        try check(status, "create context", device: handle.info.description)
        guard let context else { throw TandemError.backend(op: "create context", device: handle.info.description, message: "no context") }
        let profiling = Profiler.isEnabled
        let queue = clCreateCommandQueue(context, handle.device,
                                         profiling ? cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) : 0, &status)
        guard status == CL_SUCCESS, let queue else {
            clReleaseContext(context)
            throw TandemError.backend(op: "create queue", device: handle.info.description, message: openCLStatusName(status))
        }
        self.context = context
        self.queue = queue
        self.profiling = profiling
        gemmImplementation = options.gemm
            ?? System.environment("TANDEM_OPENCL_GEMM").flatMap(GEMMImplementation.init(rawValue:))
            ?? (handle.info.type == .cpu ? .tiled : .clblast)
        rowKernels = options.rowKernels ?? (handle.info.type == .cpu)
        pool = BufferPool(context: context, deviceName: handle.info.description)
        programs = ProgramCache(context: context, device: handle.device, info: handle.info, directory: cacheDirectory)
    }

    deinit {
        clFinish(queue)
        pendingEvents.withLock { for pending in $0 { clReleaseEvent(pending.event) } }
        kernels.withLock { for case let kernel? in $0.handles { clReleaseKernel(kernel) } }
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    /// The raw command queue, for interoperating with other OpenCL libraries (work queued on it
    /// runs in order with Tandem's own).
    public var commandQueue: cl_command_queue { queue }

    /// `$TANDEM_CACHE_DIR`, else `$XDG_CACHE_HOME/tandem`, else `~/.cache/tandem`.
    public static var defaultCacheDirectory: String? { ProgramCache.defaultDirectory }

    public var poolStatistics: BufferPoolStatistics { pool.statistics }

    /// The GEMM implementations of an OpenCL device.
    public enum GEMMImplementation: String, Sendable {
        /// CLBlast's tuned kernels (GPUs).
        case clblast
        /// Tandem's register-tiled kernel, written like a CPU BLAS micro-kernel.
        case tiled
    }

    /// Which GEMM this device runs: the tiled kernel on OpenCL devices that are CPUs (PoCL), where
    /// CLBlast's GPU-tuned kernels reach a fraction of it, else CLBlast. `TANDEM_OPENCL_GEMM=clblast`
    /// or `=tiled` overrides the choice, and `Options.gemm` overrides both.
    public let gemmImplementation: GEMMImplementation
    /// Whether data-movement kernels (strided copies, im2col, col2im) give each work-item a whole
    /// row: the default on CPU devices, where a work-item is one iteration of a loop; GPUs get one
    /// element per work-item, for coalesced access. `Options.rowKernels` chooses it (tests open a
    /// device of each kind on the same OpenCL device).
    public let rowKernels: Bool
    public var programCacheStatistics: ProgramCacheStatistics { programs.statistics }
    public var transferStatistics: TransferStatistics { transfers.withLock { $0 } }
    /// Where program binaries are cached, or nil when disk caching is off.
    public var programCacheDirectory: String? { programs.directory }
    /// Releases the pool's cached buffers back to the driver.
    public func trimPool() { pool.trim() }

    @inline(__always)
    func cl(_ buffer: any DeviceBuffer) -> OpenCLBuffer {
        guard let buffer = buffer as? OpenCLBuffer else {
            fatalError("OpenCL device \(info.selector) received a buffer of another device: \(type(of: buffer))")
        }
        return buffer
    }

    // MARK: Memory

    public func allocate(_ count: Int) throws -> any DeviceBuffer {
        guard count >= 0 else {
            throw TandemError.invalidArgument(op: "allocate", message: "negative element count \(count) on \(info.selector)")
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        if overflow || (info.maxAllocationBytes > 0 && bytes > info.maxAllocationBytes) {
            throw TandemError.allocationTooLarge(device: info.description, bytes: overflow ? .max : bytes, limit: info.maxAllocationBytes)
        }
        return try OpenCLBuffer(count: count, pool: pool)
    }

    public func upload(_ values: [Float], to buffer: any DeviceBuffer, offset: Int) throws {
        try values.withUnsafeBufferPointer { try upload($0, to: buffer, offset: offset) }
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        try checkRange("upload", buffer, offset: offset, count: values.count)
        guard !values.isEmpty else { return }
        func write() -> cl_int {
            clEnqueueWriteBuffer(queue, cl(buffer).mem, cl_bool(CL_TRUE), offset * 4, values.count * 4, values.baseAddress, 0, nil, nil)
        }
        var status = write()
        if status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_RESOURCES {
            // A lazily allocating driver makes the buffer's memory here: give the cache back, retry.
            pool.trim()
            status = write()
            if status == CL_MEM_OBJECT_ALLOCATION_FAILURE {
                throw TandemError.outOfMemory(device: info.description, bytes: buffer.count * 4)
            }
        }
        try checkQueue(status, "upload \(values.count) floats")
        transfers.withLock {
            $0.uploads += 1
            $0.bytesUploaded += values.count * 4
        }
    }

    public func download(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> [Float] {
        try checkRange("download", buffer, offset: offset, count: count)
        guard count > 0 else { return [] }
        var values = [Float](repeating: 0, count: count)
        try values.withUnsafeMutableBufferPointer { try download(buffer, offset: offset, into: $0) }
        return values
    }

    public func download(_ buffer: any DeviceBuffer, offset: Int, into target: UnsafeMutableBufferPointer<Float>) throws {
        try checkRange("download", buffer, offset: offset, count: target.count)
        guard !target.isEmpty else { return }
        let status = clEnqueueReadBuffer(queue, cl(buffer).mem, cl_bool(CL_TRUE), offset * 4, target.count * 4, target.baseAddress, 0, nil, nil)
        try checkQueue(status, "download \(target.count) floats")
        collectProfile()
        transfers.withLock {
            $0.downloads += 1
            $0.bytesDownloaded += target.count * 4
        }
    }

    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        try checkRange("fill", buffer, offset: offset, count: count)
        guard count > 0 else { return }
        try fill_f32(global: [count], y: buffer, offset: offset, count: count, value: value)
    }

    public func synchronize() throws {
        try checkQueue(clFinish(queue), "synchronize")
        collectProfile()
    }

    /// Throws for a failed wait on the queue: a fault of queued work names the last kernel queued.
    private func checkQueue(_ status: cl_int, _ op: String) throws {
        guard status != CL_SUCCESS else { return }
        if status == CL_OUT_OF_RESOURCES || status == CL_INVALID_COMMAND_QUEUE || status == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST,
           let last = lastKernel {
            throw TandemError.kernelFault(kernel: "\(last)", device: info.description, status: "\(openCLStatusName(status)) at \(op)")
        }
        try check(status, op, device: info.description)
    }

    // MARK: Profiling

    /// Whether this launch should carry a profiling event.
    var profilingLaunch: Bool { profiling && Profiler.isEnabled }

    /// Keeps `event` of a command just queued, to read its times once the queue has run it.
    func addProfiledEvent(_ op: String, _ event: cl_event?, hostSeconds: Double, spansFromPrevious: Bool = false) {
        guard let event else { return }
        pendingEvents.withLock { $0.append(PendingEvent(op: op, event: event, hostSeconds: hostSeconds, spansFromPrevious: spansFromPrevious)) }
    }

    /// Reads the start and end of every finished profiled command into `Profiler` (call after the
    /// host has waited for the queue). Commands run in order, so a command that CLBlast split into
    /// several kernels is charged from the end of the command before it.
    func collectProfile() {
        let events = pendingEvents.withLock { pending -> [PendingEvent] in
            defer { pending.removeAll() }
            return pending
        }
        guard !events.isEmpty else { return }
        var previousEnd: cl_ulong = 0
        for pending in events {
            var start: cl_ulong = 0, end: cl_ulong = 0
            let s1 = clGetEventProfilingInfo(pending.event, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil)
            let s2 = clGetEventProfilingInfo(pending.event, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil)
            clReleaseEvent(pending.event)
            guard s1 == CL_SUCCESS, s2 == CL_SUCCESS, end >= start else { continue }
            var begin = start
            if pending.spansFromPrevious, previousEnd > 0, previousEnd < start { begin = previousEnd }
            previousEnd = end
            Profiler.record(device: info.selector, op: pending.op, seconds: Double(end - begin) * 1e-9, hostSeconds: pending.hostSeconds)
        }
    }

    // MARK: Programs and kernels

    /// The embedded program `Kernels/<name>.cl` (with the generated ABI header in front), built
    /// (or loaded from the cache) on first use.
    func program(named name: String) throws -> Program {
        guard let source = EmbeddedKernels.program(named: name) else {
            throw TandemError.invalidArgument(
                op: "program", message: "no kernel file '\(name).cl'; embedded: \(EmbeddedKernels.sources.keys.sorted().joined(separator: ", "))")
        }
        return try programs.program(name: name, source: source, options: Self.buildOptions)
    }

    /// Builds arbitrary OpenCL C source on this device (through the program cache) and returns the
    /// names of its kernels; a compile error throws `TandemError.buildFailed` with the build log.
    @discardableResult
    public func buildProgram(name: String, source: String, options: String = OpenCLDevice.buildOptions) throws -> [String] {
        let program = try programs.program(name: name, source: source, options: options)
        var size = 0
        clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_KERNEL_NAMES), 0, nil, &size)
        var bytes = [CChar](repeating: 0, count: max(size, 1))
        clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_KERNEL_NAMES), size, &bytes, nil)
        return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(separator: ";").map(String.init)
    }

    /// The compiled kernel `kernel`, made on first use (its program built or loaded then); a
    /// `cl_kernel` keeps its program alive, so later launches look up neither source nor program.
    private func kernelHandle(_ kernel: KernelID, in table: inout KernelTable) throws -> cl_kernel {
        if let cached = table.handles[kernel.index] { return cached }
        let built = try program(named: kernel.program)
        var status: cl_int = 0
        guard let made = clCreateKernel(built.handle, kernel.name, &status), status == CL_SUCCESS else {
            throw TandemError.backend(op: "kernel \(kernel)", device: info.description, message: openCLStatusName(status))
        }
        var size = 0
        var local: cl_ulong = 0
        clGetKernelWorkGroupInfo(made, device, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE), MemoryLayout<Int>.size, &size, nil)
        clGetKernelWorkGroupInfo(made, device, cl_kernel_work_group_info(CL_KERNEL_LOCAL_MEM_SIZE), 8, &local, nil)
        table.handles[kernel.index] = made
        table.maxWorkGroup[kernel.index] = size > 0 ? min(size, Swift.max(1, info.maxWorkGroupSize)) : Swift.max(1, info.maxWorkGroupSize)
        table.localMemoryUsed[kernel.index] = Int(local)
        return made
    }

    /// Throws unless a work-group of `local` items with `localBytes` of local memory fits the
    /// device and the kernel, naming the kernel and the limit.
    private func checkLimits(_ kernel: KernelID, local: [Int]?, localBytes: Int, table: KernelTable) throws {
        if let local {
            let items = local.reduce(1, *)
            let limit = table.maxWorkGroup[kernel.index]
            guard items <= limit else {
                throw TandemError.launchLimit(kernel: "\(kernel)", device: info.description,
                                              message: "a work-group of \(items) items exceeds the \(limit) this kernel allows on this device")
            }
        }
        let available = info.localMemoryBytes - table.localMemoryUsed[kernel.index]
        guard localBytes <= Swift.max(available, 0) || localBytes == 0 else {
            throw TandemError.launchLimit(kernel: "\(kernel)", device: info.description,
                                          message: "\(localBytes) bytes of local memory exceed the \(available) the device leaves this kernel")
        }
    }

    /// Makes the next `statuses.count` launches report these statuses instead of running (tests:
    /// what a lazily allocating driver says when memory runs out at a launch).
    package func injectLaunchFailures(_ statuses: [Int32]) {
        kernels.withLock { $0.injected += statuses.map { cl_int($0) } }
    }

    /// The kernel queued last, if any.
    var lastKernel: KernelID? { kernels.withLock { $0.last } }

    /// Queues `kernel` over `global` work items (rounded up to whole work-groups; kernels
    /// bounds-check their index). Called through the generated typed methods
    /// (`try im2col_f32(global:..., x: ..., ...)`), which build `arguments` in the kernel's order.
    ///
    /// The host side is kept short, since a GPU step can be bound by it: an argument is set only
    /// when it differs from what the kernel already holds (PoCL copies every value it is given into
    /// a fresh allocation), no text is formatted unless an error is thrown, and a one-dimensional
    /// launch on a GPU gets an explicit work-group of up to 256 (left to the driver, a prime size
    /// would run one work-item per group).
    ///
    /// A launch the driver refuses for lack of memory (NVIDIA allocates buffers when a kernel first
    /// uses them) is retried once after the pool has given its cached buffers back; if it fails
    /// again the error says out of memory and names the kernel.
    package func launch(_ kernel: KernelID, global: [Int], local: [Int]?, _ arguments: [KernelArgument]) throws {
        guard global.allSatisfy({ $0 > 0 }) else { return }
        let profile = profilingLaunch ? Profiler.threadNanoseconds() : 0
        var retried = false
        while true {
            let (status, queued) = try kernels.withLock { table -> (cl_int, EventHandle) in
                let handle = try kernelHandle(kernel, in: &table)
                var localBytes = 0
                for (index, argument) in arguments.enumerated() {
                    var value = ArgumentValue()
                    switch argument {
                    case let .buffer(buffer): value.store(cl(buffer).mem)
                    case let .int(number):
                        guard let narrow = Int32(exactly: number) else {
                            throw TandemError.invalidArgument(
                                op: "kernel \(kernel)", message: "argument \(kernel.parameterName(index)) = \(number) exceeds 32 bits on \(info.selector)")
                        }
                        value.store(narrow)
                    case let .float(number): value.store(number)
                    case let .ulong(number): value.store(number)
                    case let .int8(vector): value.store(vector)
                    case let .local(bytes):
                        localBytes += bytes
                        value.local = Swift.max(bytes, 4)
                    case let .parameters(block): block.withBytes { value.store(bytes: $0) }
                    }
                    if table.arguments[kernel.index].count <= index {
                        table.arguments[kernel.index].append(contentsOf: repeatElement(ArgumentValue(), count: index + 1 - table.arguments[kernel.index].count))
                    }
                    if table.arguments[kernel.index][index] == value, value.isSet { continue }
                    let status = value.withArgument { size, pointer in clSetKernelArg(handle, cl_uint(index), size, pointer) }
                    guard status == CL_SUCCESS else {
                        table.arguments[kernel.index][index] = ArgumentValue()
                        try check(status, "kernel \(kernel) argument \(kernel.parameterName(index))", device: info.description)
                        continue
                    }
                    table.arguments[kernel.index][index] = value
                }
                var localSize = local
                if localSize == nil, global.count == 1, !rowKernels {
                    localSize = [Swift.min(256, table.maxWorkGroup[kernel.index])]
                }
                try checkLimits(kernel, local: localSize, localBytes: localBytes, table: table)
                if !table.injected.isEmpty { return (table.injected.removeFirst(), EventHandle(event: nil)) }
                var event: cl_event? = nil
                let dimensions = global.count
                let status = withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * dimensions) { sizes in
                    for d in 0..<dimensions {
                        let l = localSize?[d] ?? 1
                        sizes[d] = (global[d] + l - 1) / l * l
                        sizes[dimensions + d] = l
                    }
                    return withUnsafeMutablePointer(to: &event) { eventPointer in
                        clEnqueueNDRangeKernel(queue, handle, cl_uint(dimensions), nil, sizes.baseAddress,
                                               localSize == nil ? nil : sizes.baseAddress! + dimensions, 0, nil,
                                               profile != 0 ? eventPointer : nil)
                    }
                }
                if status == CL_SUCCESS { table.last = kernel }
                return (status, EventHandle(event: event))
            }
            if status == CL_SUCCESS {
                if tracing {
                    System.printError("launch \(kernel.name) \(global)" + (profile != 0 ? " host \(Double(Profiler.threadNanoseconds() &- profile) / 1000) µs" : ""))
                }
                if profile != 0 {
                    addProfiledEvent(kernel.name, queued.event, hostSeconds: Double(Profiler.threadNanoseconds() &- profile) * 1e-9)
                }
                return
            }
            let memory = status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_RESOURCES
            if memory && !retried {
                retried = true
                pool.trim()
                continue
            }
            if status == CL_MEM_OBJECT_ALLOCATION_FAILURE {
                let bytes = arguments.reduce(0) { total, argument in
                    if case let .buffer(buffer) = argument { return total + buffer.count * 4 }
                    return total
                }
                throw TandemError.outOfMemoryRunning(op: "\(kernel)", device: info.description, bytes: bytes)
            }
            if status == CL_OUT_OF_RESOURCES {
                throw TandemError.kernelFault(kernel: "\(lastKernel ?? kernel)", device: info.description,
                                              status: "\(openCLStatusName(status)) when queuing \(kernel)")
            }
            try check(status, "kernel \(kernel)", device: info.description)
        }
    }
}

/// The value a kernel argument was last set to, kept so an unchanged argument is not set again:
/// up to 64 bytes of the value, or the size of a local-memory argument.
struct ArgumentValue: Equatable {
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var count = -1
    /// Bytes of local memory, for a `__local` argument (set with a null value).
    var local = 0

    var isSet: Bool { count >= 0 || local > 0 }

    mutating func store<T>(_ value: T) {
        withUnsafeBytes(of: value) { store(bytes: $0) }
    }

    mutating func store(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= MemoryLayout.size(ofValue: words), "kernel argument of \(bytes.count) bytes")
        count = bytes.count
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: bytes) }
    }

    /// Calls `body` with the size and address clSetKernelArg takes.
    func withArgument(_ body: (Int, UnsafeRawPointer?) -> cl_int) -> cl_int {
        if local > 0 { return body(local, nil) }
        return withUnsafeBytes(of: words) { body(count, $0.baseAddress) }
    }

    static func == (a: ArgumentValue, b: ArgumentValue) -> Bool {
        a.count == b.count && a.local == b.local
            && a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
            && a.words.4 == b.words.4 && a.words.5 == b.words.5 && a.words.6 == b.words.6 && a.words.7 == b.words.7
    }
}
