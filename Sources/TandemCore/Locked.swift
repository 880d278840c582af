#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a POSIX mutex: the state that threads share (buffer pools, program and kernel
/// caches, the opened devices, the C API's registry, the loader's prefetched batches).
///
/// The standard library's `Synchronization.Mutex` would do the same, but on Linux it locks with
/// futexes that ThreadSanitizer does not see, so every access under it reads as a race and a
/// sanitizer run (scripts/sanitize.sh) says nothing. `pthread_mutex_lock` is intercepted by
/// ThreadSanitizer, so the races it reports here are real ones.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// `value` behind a new lock.
    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        guard pthread_mutex_init(mutex, nil) == 0 else { fatalError("pthread_mutex_init failed") }
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` on the value while holding the lock (not re-entrant: `body` must not lock it again).
    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
