import TandemCore

/// Host memory of the CPU device: `count` floats from the device's pool, returned when the buffer dies.
public final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let bytes: Int
    private let pool: MemoryPool

    init(count: Int, pool: MemoryPool) throws {
        self.count = count
        self.pool = pool
        // At least one element so the pointer is always valid; 64-byte aligned for vector loads.
        let (block, bytes) = try pool.take(bytes: max(1, count) * MemoryLayout<Float>.stride)
        self.bytes = bytes
        pointer = block.raw.bindMemory(to: Float.self, capacity: bytes / MemoryLayout<Float>.stride)
    }

    deinit { pool.give(MemoryPool.Block(UnsafeMutableRawPointer(pointer)), bytes: bytes) }
}

extension MemoryPool {
    /// The CPU pool: 64-byte aligned blocks, at most `cacheLimit` bytes kept for reuse.
    static func host(cacheLimit: Int) -> MemoryPool {
        MemoryPool(deviceName: "cpu", cacheLimit: cacheLimit,
                   create: { Block(UnsafeMutableRawPointer.allocate(byteCount: $0, alignment: 64)) },
                   release: { $0.raw.deallocate() })
    }
}
