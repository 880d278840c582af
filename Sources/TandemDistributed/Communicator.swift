import TandemCore

/// How `Communicator.allReduce` combines the ranks' buffers element by element.
public enum ReduceOperation: String, Sendable, CaseIterable {
    /// The sum over ranks.
    case sum
    /// The sum over ranks divided by the number of ranks.
    case mean
    /// The largest value over ranks.
    case max
}

/// A group of ranks that exchange host buffers: the collectives data-parallel training needs.
///
/// Every rank must call the same collectives in the same order with buffers of the same length;
/// a collective that does not complete within `timeoutSeconds` throws `CommunicatorError.timeout`
/// instead of waiting forever (a rank that died or went astray). Buffers are host memory: device
/// tensors are staged through them by the caller (one download and one upload of the gradients per
/// step).
public protocol Communicator: AnyObject, Sendable {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// What carries the messages ("mpi (Open MPI 4.1.4)", "single process").
    var transport: String { get }
    /// How long a collective may wait for the other ranks before it throws.
    var timeoutSeconds: Double { get set }

    /// Replaces `buffer` on every rank with the element-wise combination of all ranks' buffers.
    func allReduce(_ buffer: inout [Float], _ operation: ReduceOperation) throws
    /// The same over doubles (sums that must not lose precision: counts, loss totals).
    func allReduce(_ buffer: inout [Double], _ operation: ReduceOperation) throws
    /// Replaces `buffer` on every rank with rank `root`'s (all ranks pass the same length).
    func broadcast(_ buffer: inout [UInt8], root: Int) throws
    /// Every rank's `values` (all the same length), in rank order.
    func allGather(_ values: [Double]) throws -> [[Double]]
    /// Returns when every rank has called it.
    func barrier() throws
    /// Ends the whole job after an unrecoverable error on this rank, so that no rank waits for it.
    func abort(code: Int32)
    /// Starts an all-reduce of `buffer` in place and returns at once; the result is there once
    /// the returned handle's `wait()` returns. `buffer` must stay allocated and untouched until then.
    /// Every rank starts the same collectives in the same order (other collectives may run while
    /// one is pending, as MPI allows) and waits for its pending all-reduces in the order it started
    /// them. Lets gradient buckets travel while the backward computes the rest.
    func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws -> any PendingAllReduce
    /// `allReduce` on memory the caller owns (a staging buffer reused every step), blocking.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws
}

/// An all-reduce under way (`Communicator.startAllReduce`).
public protocol PendingAllReduce: AnyObject {
    /// Moves the transfer along (MPI progresses only inside its calls) and says whether it is done.
    func test() throws -> Bool
    /// Returns once the result is in the buffer; throws after the communicator's timeout.
    func wait() throws
}

/// The fallback for communicators without non-blocking collectives: the all-reduce runs, blocking,
/// at `wait()`.
final class DeferredAllReduce: PendingAllReduce {
    private let run: () throws -> Void
    private var done = false
    init(_ run: @escaping () throws -> Void) { self.run = run }
    func test() throws -> Bool { done }
    func wait() throws {
        guard !done else { return }
        try run()
        done = true
    }
}

extension Communicator {
    /// Runs the all-reduce at `wait()` through `allReduce` (in-process ranks: the exchange is a
    /// memory copy, and running it late lets each thread compute until it needs the result).
    public func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws -> any PendingAllReduce {
        DeferredAllReduce { [self] in try allReduce(buffer, operation) }
    }

    /// Copies `buffer` into an array for `allReduce(_:_:)` and back.
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws {
        var values = Array(buffer)
        try allReduce(&values, operation)
        _ = buffer.update(fromContentsOf: values)
    }
}

extension Communicator {
    /// Whether this rank is the one that prints, writes reports and saves checkpoints.
    public var isRoot: Bool { rank == 0 }

    /// Replaces `values` on every rank with rank `root`'s; the lengths may differ between ranks
    /// (the length is broadcast first).
    public func broadcast(_ values: [Float], root: Int) throws -> [Float] {
        var bytes = try broadcastLength(values.count, root: root)
        if rank == root { bytes = values.withUnsafeBytes { Array($0) } }
        try broadcast(&bytes, root: root)
        return bytes.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
    }

    /// Replaces `text` on every rank with rank `root`'s.
    public func broadcast(_ text: String, root: Int) throws -> String {
        let utf8 = Array(text.utf8)
        var bytes = try broadcastLength(utf8.count, root: root, elementSize: 1)
        if rank == root { bytes = utf8 }
        try broadcast(&bytes, root: root)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A zeroed byte buffer of root's `count` elements of `elementSize` bytes.
    private func broadcastLength(_ count: Int, root: Int, elementSize: Int = MemoryLayout<Float>.size) throws -> [UInt8] {
        var length = [Double(count)]
        if rank != root { length[0] = 0 }
        try allReduce(&length, .sum)
        return [UInt8](repeating: 0, count: Int(length[0]) * elementSize)
    }
}

/// Why a collective failed.
public enum CommunicatorError: Error, Equatable, CustomStringConvertible {
    /// The other ranks did not join `operation` within the timeout (a rank died, hangs, or took
    /// another path).
    case timeout(operation: String, rank: Int, size: Int, seconds: Double)
    /// The transport reported an error.
    case transport(operation: String, rank: Int, message: String)
    /// The transport could not be started (the MPI library is missing or does not initialise).
    case unavailable(message: String)
    /// Ranks disagree about something that must be the same everywhere.
    case mismatch(operation: String, message: String)

    public var description: String {
        switch self {
        case let .timeout(operation, rank, size, seconds):
            return "\(operation) on rank \(rank) of \(size): the other ranks did not join within \(seconds) s (a rank has failed or hangs); stopping. Set TANDEM_COLLECTIVE_TIMEOUT (seconds) to wait longer"
        case let .transport(operation, rank, message):
            return "\(operation) on rank \(rank) failed: \(message)"
        case let .unavailable(message):
            return message
        case let .mismatch(operation, message):
            return "\(operation): the ranks disagree: \(message)"
        }
    }
}
