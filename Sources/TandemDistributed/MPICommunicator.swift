#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import TandemCore

/// The ranks of an `mpirun` job (MPI_COMM_WORLD), through Open MPI loaded at run time.
///
/// Each collective is started non-blocking (MPI_Iallreduce, MPI_Ibcast, ...) and polled with
/// MPI_Test until it completes or `timeoutSeconds` pass, so a rank never waits forever for one that
/// died. Errors come back as codes (MPI_ERRORS_RETURN) and are thrown with MPI's text.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    let mpi: MPILibrary
    public let rank: Int
    public let size: Int
    public let transport: String
    public var timeoutSeconds: Double
    private var finished = false

    /// Initialises MPI (once per process) and joins MPI_COMM_WORLD.
    public init(timeoutSeconds: Double = 600) throws {
        mpi = try MPILibrary.load()
        var flag: Int32 = 0
        _ = mpi.initialized(&flag)
        if flag == 0 {
            let code = mpi.initialize(nil, nil)
            guard code == 0 else { throw CommunicatorError.unavailable(message: "MPI_Init failed: \(mpi.message(code))") }
        }
        _ = mpi.setErrorHandler(mpi.commWorld, mpi.errorsReturn)
        var value: Int32 = 0
        _ = mpi.commRank(mpi.commWorld, &value)
        rank = Int(value)
        _ = mpi.commSize(mpi.commWorld, &value)
        size = Int(value)
        transport = "mpi (\(mpi.version()))"
        self.timeoutSeconds = timeoutSeconds
    }

    /// Waits for `request` to complete, polling; throws after the timeout.
    private func wait(_ operation: String, start: (UnsafeMutablePointer<MPILibrary.Request>) -> Int32) throws {
        var request: MPILibrary.Request = nil
        let code = start(&request)
        guard code == 0 else { throw CommunicatorError.transport(operation: operation, rank: rank, message: mpi.message(code)) }
        try poll(&request, operation)
    }

    /// Whether `request` has completed (one MPI_Test).
    fileprivate func test(_ request: inout MPILibrary.Request, _ operation: String) throws -> Bool {
        var done: Int32 = 0
        let status = mpi.test(&request, &done, nil)
        guard status == 0 else { throw CommunicatorError.transport(operation: operation, rank: rank, message: mpi.message(status)) }
        return done != 0
    }

    /// Polls `request` until it completes; throws after the timeout.
    fileprivate func poll(_ request: inout MPILibrary.Request, _ operation: String) throws {
        let deadline = Self.now() + timeoutSeconds
        var polls = 0
        while true {
            if try test(&request, operation) { return }
            polls += 1
            // Open MPI moves data only inside its calls, so poll without sleeping, yielding the core to
            // any thread that needs it; after a second of waiting (a slow rank, not a transfer), poll
            // every 200 µs.
            if polls % 256 == 0 {
                let now = Self.now()
                if now > deadline { throw CommunicatorError.timeout(operation: operation, rank: rank, size: size, seconds: timeoutSeconds) }
                if now > deadline - timeoutSeconds + 1 {
                    var pause = timespec(tv_sec: 0, tv_nsec: 200_000)
                    nanosleep(&pause, nil)
                    continue
                }
            }
            sched_yield()
        }
    }

    /// At most this many elements per MPI call (MPI counts are 32-bit).
    static let chunk = 1 << 28
    /// All-reduces of at least this many bytes meet at a polled barrier, then run blocking.
    static let blockingBytes = 1 << 16

    public func allReduce(_ buffer: inout [Float], _ operation: ReduceOperation) throws {
        try buffer.withUnsafeMutableBufferPointer { try allReduce($0, operation) }
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws {
        try reduce(UnsafeMutableRawBufferPointer(buffer), stride: MemoryLayout<Float>.stride, type: mpi.float, operation)
        if operation == .mean, size > 1 { let scale = 1 / Float(size); for i in buffer.indices { buffer[i] *= scale } }
    }

    public func allReduce(_ buffer: inout [Double], _ operation: ReduceOperation) throws {
        try buffer.withUnsafeMutableBytes { try reduce($0, stride: MemoryLayout<Double>.stride, type: mpi.double, operation) }
        if operation == .mean, size > 1 { let scale = 1 / Double(size); for i in buffer.indices { buffer[i] *= scale } }
    }

    private func reduce(_ raw: UnsafeMutableRawBufferPointer, stride: Int, type: MPILibrary.Handle, _ operation: ReduceOperation) throws {
        let op = operation == .max ? mpi.max : mpi.sum
        var offset = 0
        repeat {
            let count = Swift.min(Self.chunk, raw.count / stride - offset)
            let base = raw.baseAddress.map { $0 + offset * stride }
            let what = "all-reduce (\(operation.rawValue), \(count) values)"
            if count * stride < Self.blockingBytes {
                try wait(what) { request in mpi.iallreduce(mpi.inPlace, base, Int32(count), type, op, mpi.commWorld, request) }
            } else {
                // Large buffers: wait for every rank under the timeout, then the blocking
                // all-reduce, whose tuned algorithms move data twice as fast as the
                // non-blocking one's here (11 MB between two ranks: 7 ms against 14 ms).
                try wait("\(what): waiting for every rank") { request in mpi.ibarrier(mpi.commWorld, request) }
                let code = mpi.allreduce(mpi.inPlace, base, Int32(count), type, op, mpi.commWorld)
                guard code == 0 else { throw CommunicatorError.transport(operation: what, rank: rank, message: mpi.message(code)) }
            }
            offset += count
        } while offset < raw.count / stride
    }

    /// MPI_Iallreduce on `buffer`, completed by MPI_Test calls from `test()` and `wait()`.
    public func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws -> any PendingAllReduce {
        guard buffer.count <= Self.chunk else {
            return DeferredAllReduce { [self] in try allReduce(buffer, operation) }
        }
        let pending = PendingMPIAllReduce(self, buffer: buffer, operation: operation)
        let code = mpi.iallreduce(mpi.inPlace, buffer.baseAddress, Int32(buffer.count), mpi.float, operation == .max ? mpi.max : mpi.sum,
                                  mpi.commWorld, &pending.request)
        guard code == 0 else { throw CommunicatorError.transport(operation: pending.what, rank: rank, message: mpi.message(code)) }
        return pending
    }

    public func broadcast(_ buffer: inout [UInt8], root: Int) throws {
        try buffer.withUnsafeMutableBytes { raw in
            var offset = 0
            repeat {
                let count = Swift.min(Self.chunk, raw.count - offset)
                let base = raw.baseAddress.map { $0 + offset }
                try wait("broadcast from rank \(root) (\(count) bytes)") { request in
                    mpi.ibcast(base, Int32(count), mpi.byte, Int32(root), mpi.commWorld, request)
                }
                offset += count
            } while offset < raw.count
        }
    }

    public func allGather(_ values: [Double]) throws -> [[Double]] {
        var gathered = [Double](repeating: 0, count: values.count * size)
        try values.withUnsafeBytes { send in
            try gathered.withUnsafeMutableBytes { receive in
                try wait("all-gather (\(values.count) values)") { request in
                    mpi.iallgather(send.baseAddress, Int32(values.count), mpi.double, receive.baseAddress, Int32(values.count), mpi.double,
                                   mpi.commWorld, request)
                }
            }
        }
        return (0..<size).map { Array(gathered[($0 * values.count)..<(($0 + 1) * values.count)]) }
    }

    public func barrier() throws {
        try wait("barrier") { request in mpi.ibarrier(mpi.commWorld, request) }
    }

    public func abort(code: Int32) {
        _ = mpi.abort(mpi.commWorld, code)
    }

    /// Ends MPI for this process (every rank must call it before a normal exit).
    public func finish() {
        guard !finished else { return }
        finished = true
        var flag: Int32 = 0
        _ = mpi.finalized(&flag)
        if flag == 0 { _ = mpi.finalize() }
    }

    /// Seconds on the monotonic clock (the profiler's).
    static func now() -> Double { Double(Profiler.nanoseconds()) * 1e-9 }
}

/// One MPI_Iallreduce in flight.
private final class PendingMPIAllReduce: PendingAllReduce {
    let communicator: MPICommunicator
    let buffer: UnsafeMutableBufferPointer<Float>
    let operation: ReduceOperation
    var request: MPILibrary.Request = nil
    private var done = false
    var what: String { "all-reduce (\(operation.rawValue), \(buffer.count) values, non-blocking)" }

    init(_ communicator: MPICommunicator, buffer: UnsafeMutableBufferPointer<Float>, operation: ReduceOperation) {
        self.communicator = communicator
        self.buffer = buffer
        self.operation = operation
    }

    func test() throws -> Bool {
        if !done, try communicator.test(&request, what) { finish() }
        return done
    }

    func wait() throws {
        guard !done else { return }
        try communicator.poll(&request, what)
        finish()
    }

    private func finish() {
        done = true
        if operation == .mean, communicator.size > 1 {
            let scale = 1 / Float(communicator.size)
            for i in buffer.indices { buffer[i] *= scale }
        }
    }
}

/// The communicator a process should use.
public enum Communicators {
    /// An MPI communicator when the process was started by `mpirun` (or srun) with more than one
    /// rank, else `SingleProcess`. The timeout comes from `TANDEM_COLLECTIVE_TIMEOUT` (seconds) when set.
    public static func fromEnvironment() throws -> any Communicator {
        guard let size = MPIEnvironment.launchedSize, size > 1 else { return SingleProcess() }
        return try MPICommunicator(timeoutSeconds: try timeoutFromEnvironment() ?? 600)
    }

    /// `TANDEM_COLLECTIVE_TIMEOUT` in seconds; nil when not set.
    public static func timeoutFromEnvironment() throws -> Double? {
        guard let text = getenv("TANDEM_COLLECTIVE_TIMEOUT").map({ String(cString: $0) }) else { return nil }
        guard let seconds = Double(text), seconds > 0 else {
            throw CommunicatorError.unavailable(message: "TANDEM_COLLECTIVE_TIMEOUT must be a positive number of seconds, not '\(text)'")
        }
        return seconds
    }
}
