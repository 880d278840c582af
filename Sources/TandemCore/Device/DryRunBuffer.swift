/// A buffer of a `DryRunDevice`: a size and nothing else. Its block comes from the dry run's pool
/// (a placeholder, never dereferenced) and goes back when the buffer dies, so the pool's counters
/// follow the run's memory exactly as a real device's do.
final class DryRunBuffer: DeviceBuffer {
    let count: Int
    private let bytes: Int
    private let block: MemoryPool.Block
    private let pool: MemoryPool

    init(count: Int, pool: MemoryPool) throws {
        self.count = count
        self.pool = pool
        (block, bytes) = try pool.take(bytes: max(1, count) * MemoryLayout<Float>.stride)
    }

    deinit { pool.give(block, bytes: bytes) }
}
