#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Ranks that are threads of one process (several devices training one model): the collectives
/// meet in shared memory. Every rank reduces the same slots in rank order, so all get bit-identical
/// results, as MPI's do.
///
/// A rank that fails calls `abort(code:)`: every rank waiting in, or later entering, a collective
/// then throws instead of waiting for it.
public final class LocalGroup: @unchecked Sendable {
    public let size: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var arrived = 0
    private var generation = 0
    /// Each rank's buffer during a collective.
    fileprivate var slots: [UnsafeRawPointer?]
    fileprivate var failedRank: Int?
    /// How long a collective waits for the other threads.
    public var timeoutSeconds: Double

    /// A group of `size` ranks; `communicators` gives each its handle.
    public init(size: Int, timeoutSeconds: Double = 600) {
        precondition(size >= 1, "a group has at least one rank")
        self.size = size
        self.timeoutSeconds = timeoutSeconds
        slots = Array(repeating: nil, count: size)
        mutex.initialize(to: pthread_mutex_t())
        condition.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// One communicator per rank, in rank order.
    public var communicators: [LocalCommunicator] { (0..<size).map { LocalCommunicator(group: self, rank: $0) } }

    /// Marks `rank` as failed and wakes every waiting rank.
    func fail(rank: Int) {
        pthread_mutex_lock(mutex)
        if failedRank == nil { failedRank = rank }
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Waits until all ranks have arrived (with their slot set), or throws.
    func arrive(rank: Int, slot: UnsafeRawPointer?, operation: String) throws {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if let failed = failedRank { throw Self.failure(operation, rank: rank, failed: failed) }
        if let slot { slots[rank] = slot }
        let mine = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            pthread_cond_broadcast(condition)
            return
        }
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let whole = timeoutSeconds.isFinite ? Swift.min(timeoutSeconds, 1e9) : 1e9
        deadline.tv_sec += Int(whole)
        deadline.tv_nsec += Int((whole - whole.rounded(.down)) * 1e9)
        if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
        while generation == mine {
            if let failed = failedRank { throw Self.failure(operation, rank: rank, failed: failed) }
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT, generation == mine {
                failedRank = failedRank ?? rank
                pthread_cond_broadcast(condition)
                throw CommunicatorError.timeout(operation: operation, rank: rank, size: size, seconds: timeoutSeconds)
            }
        }
    }

    private static func failure(_ operation: String, rank: Int, failed: Int) -> CommunicatorError {
        .transport(operation: operation, rank: rank, message: failed == rank ? "this rank stopped the group" : "rank \(failed) failed or timed out")
    }
}

/// One rank's handle on a `LocalGroup`.
public final class LocalCommunicator: Communicator, @unchecked Sendable {
    let group: LocalGroup
    public let rank: Int
    init(group: LocalGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }
    public var size: Int { group.size }
    public var transport: String { "threads of one process" }
    public var timeoutSeconds: Double {
        get { group.timeoutSeconds }
        set { group.timeoutSeconds = newValue }
    }

    /// Publishes `buffer`, waits for all, runs `read` over every rank's buffer, and waits until
    /// every rank has read before anyone may change its buffer.
    private func exchange<T>(_ buffer: UnsafeBufferPointer<T>, _ operation: String, read: ([UnsafeBufferPointer<T>]) -> Void) throws {
        try group.arrive(rank: rank, slot: UnsafeRawPointer(buffer.baseAddress) ?? UnsafeRawPointer(bitPattern: 1), operation: operation)
        let all = group.slots.map { UnsafeBufferPointer(start: $0?.assumingMemoryBound(to: T.self), count: buffer.count) }
        read(all)
        try group.arrive(rank: rank, slot: nil, operation: operation)
    }

    private func reduce<T: BinaryFloatingPoint>(_ buffer: inout [T], _ operation: ReduceOperation) throws {
        let local = buffer
        var result = [T](repeating: 0, count: local.count)
        try local.withUnsafeBufferPointer { mine in
            try exchange(mine, "all-reduce (\(operation.rawValue), \(local.count) values)") { all in
                for i in 0..<local.count {
                    var value = all[0][i]
                    for r in 1..<all.count { value = operation == .max ? Swift.max(value, all[r][i]) : value + all[r][i] }
                    result[i] = value
                }
            }
        }
        if operation == .mean, size > 1 { let scale = 1 / T(size); for i in result.indices { result[i] *= scale } }
        buffer = result
    }

    public func allReduce(_ buffer: inout [Float], _ operation: ReduceOperation) throws { try reduce(&buffer, operation) }
    public func allReduce(_ buffer: inout [Double], _ operation: ReduceOperation) throws { try reduce(&buffer, operation) }

    public func broadcast(_ buffer: inout [UInt8], root: Int) throws {
        let local = buffer
        var result = local
        try local.withUnsafeBufferPointer { mine in
            try exchange(mine, "broadcast from rank \(root) (\(local.count) bytes)") { all in result = Array(all[root]) }
        }
        buffer = result
    }

    public func allGather(_ values: [Double]) throws -> [[Double]] {
        var result: [[Double]] = []
        try values.withUnsafeBufferPointer { mine in
            try exchange(mine, "all-gather (\(values.count) values)") { all in result = all.map { Array($0) } }
        }
        return result
    }

    public func barrier() throws {
        try group.arrive(rank: rank, slot: nil, operation: "barrier")
    }

    public func abort(code: Int32) { group.fail(rank: rank) }
}

/// Runs `body(rank)` for ranks 0 ..< count, each on its own thread (rank 0 on the calling thread),
/// and returns when all have finished. A rank that throws stops `group` (when given), so that the
/// others leave their collectives; the errors are returned by rank (nil: finished normally).
public func runRanks(_ count: Int, group: LocalGroup? = nil, _ body: @escaping @Sendable (Int) throws -> Void) -> [(any Error)?] {
    let results = RankResults(count)
    let run: @Sendable (Int) -> Void = { rank in
        do { try body(rank) } catch {
            results.set(rank, error)
            group?.fail(rank: rank)
        }
    }
    var threads: [pthread_t] = []
    for rank in 1..<Swift.max(count, 1) {
        let box = Unmanaged.passRetained(RankStart { run(rank) })
        var thread = pthread_t()
        // 8 MiB stacks, as the main thread has: model forwards recurse through the graph.
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 8 << 20)
        let status = pthread_create(&thread, &attributes, { pointer in
            let start = Unmanaged<RankStart>.fromOpaque(pointer!).takeRetainedValue()
            start.body()
            return nil
        }, box.toOpaque())
        pthread_attr_destroy(&attributes)
        if status != 0 {
            box.release()
            results.set(rank, CommunicatorError.unavailable(message: "could not start a thread for rank \(rank): error \(status)"))
            group?.fail(rank: rank)
            continue
        }
        threads.append(thread)
    }
    if count > 0 { run(0) }
    for thread in threads { pthread_join(thread, nil) }
    return results.all
}

private final class RankStart: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

private final class RankResults: @unchecked Sendable {
    private var errors: [(any Error)?]
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init(_ count: Int) {
        errors = Array(repeating: nil, count: count)
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
    }
    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }
    func set(_ rank: Int, _ error: any Error) {
        pthread_mutex_lock(lock)
        errors[rank] = error
        pthread_mutex_unlock(lock)
    }
    var all: [(any Error)?] {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return errors
    }
}
