import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-op time accounting across devices, off unless enabled (`tandem bench --profile`).
///
/// Devices report each primitive they run under a name ("binary.add", "im2col", "gemm", an OpenCL
/// kernel name): the CPU with the wall time around the call (it runs synchronously), OpenCL with the
/// start and end timestamps of the command's profiling event, read back when the host next waits on
/// the queue. When profiling is off, the cost is one relaxed atomic load per primitive.
public enum Profiler {
    /// One op's accumulated record on one device.
    public struct Entry: Sendable, Equatable {
        public var device: String
        public var op: String
        public var calls: Int
        /// Time the op ran (CPU wall time; OpenCL device time from events).
        public var seconds: Double
        /// Host time spent issuing the op (OpenCL enqueue cost; equals `seconds` on the CPU).
        public var hostSeconds: Double
    }

    private struct Key: Hashable {
        var device: String
        var op: String
    }

    private static let enabled = Atomic<Bool>(false)
    private static let entries = Locked<[Key: Entry]>([:])

    /// Whether devices record op times now.
    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Turns recording on or off. OpenCL devices opened while it is on create their queue with
    /// profiling enabled; devices opened before only report host-side enqueue times.
    public static func setEnabled(_ on: Bool) { enabled.store(on, ordering: .relaxed) }

    /// Forgets everything recorded so far.
    public static func reset() { entries.withLock { $0.removeAll() } }

    /// Everything recorded since the last reset, longest total first.
    public static func snapshot() -> [Entry] {
        entries.withLock { Array($0.values) }.sorted { ($0.seconds, $1.op) > ($1.seconds, $0.op) }
    }

    /// Adds `seconds` of op time (and `hostSeconds` of issuing time) to `op` on `device`.
    public static func record(device: String, op: String, seconds: Double, hostSeconds: Double, calls: Int = 1) {
        entries.withLock { table in
            let key = Key(device: device, op: op)
            var entry = table[key] ?? Entry(device: device, op: op, calls: 0, seconds: 0, hostSeconds: 0)
            entry.calls += calls
            entry.seconds += seconds
            entry.hostSeconds += hostSeconds
            table[key] = entry
        }
    }

    /// Monotonic time in nanoseconds.
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }

    /// CPU time of the calling thread in nanoseconds: host work, without the time the thread waited
    /// for a core (on an OpenCL CPU device the kernels run on the same cores as the host).
    public static func threadNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }

    /// The start of a timed region: a timestamp when profiling is on, else 0.
    @inline(__always)
    public static func begin() -> UInt64 { isEnabled ? nanoseconds() : 0 }

    /// Ends a region started with `begin()`, recording its wall time for `op` (evaluated only when
    /// profiling is on).
    @inline(__always)
    public static func end(_ start: UInt64, device: String, _ op: @autoclosure () -> String) {
        guard start != 0 else { return }
        let seconds = Double(nanoseconds() &- start) * 1e-9
        record(device: device, op: op(), seconds: seconds, hostSeconds: seconds)
    }
}
