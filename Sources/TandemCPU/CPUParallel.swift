import Dispatch
import TandemCore

/// Splitting CPU loops over the cores. Dispatch's `concurrentPerform` runs the chunks on its worker
/// threads and returns when all are done; below `minimumWork` elements a loop stays on the calling
/// thread, where the hand-off would cost more than it saves.
enum Parallel {
    /// Cores used for CPU loops (`TANDEM_CPU_THREADS` overrides the processor count).
    static let workers: Int = {
        if let text = System.environment("TANDEM_CPU_THREADS"), let n = Int(text), n >= 1 { return n }
        return max(1, System.processorCount)
    }()

    /// Elements of simple streaming work below which one thread is faster.
    static let minimumWork = 1 << 15

    /// Runs `body` over contiguous chunks of `0..<count` on all workers when `count · cost` (a rough
    /// number of element operations) is large enough, else once over the whole range.
    @inline(__always)
    static func chunks(_ count: Int, cost: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        let parts = count * cost >= minimumWork ? min(workers, count) : 1
        if parts <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let low = count * part / parts, high = count * (part + 1) / parts
            if low < high { body(low..<high) }
        }
    }
}

extension Parallel {
    /// The bounds of part `index` of `count` split into `parts` pieces whose inner boundaries are
    /// multiples of `align`.
    @inline(__always)
    static func bounds(_ index: Int, of count: Int, parts: Int, align: Int) -> Range<Int> {
        func edge(_ i: Int) -> Int { i == parts ? count : min(count, (count * i / parts) / align * align) }
        return edge(index)..<edge(index + 1)
    }

    /// Runs `body(part, range)` once per non-empty part of `0..<count`, in parallel.
    static func split(_ count: Int, parts: Int, align: Int, _ body: @Sendable (Int, Range<Int>) -> Void) {
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let range = bounds(part, of: count, parts: parts, align: align)
            if !range.isEmpty { body(part, range) }
        }
    }
}

/// A pointer that may cross into the worker threads of `Parallel`: every chunk touches a disjoint
/// range, so no two threads write the same element.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}
