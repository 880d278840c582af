import TandemCore

/// A block of host memory as a pool block.
struct HostMemory: @unchecked Sendable { let pointer: UnsafeMutableRawPointer }

/// Host memory of the CPU device: `count` floats from the device's pool, returned when the buffer dies.
public final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let bytes: Int
    private let pool: MemoryPool<HostMemory>

    init(count: Int, pool: MemoryPool<HostMemory>) throws {
        self.count = count
        self.pool = pool
        // At least one element so the pointer is always valid; 64-byte aligned for vector loads.
        let (block, bytes) = try pool.take(bytes: max(1, count) * MemoryLayout<Float>.stride)
        self.bytes = bytes
        pointer = block.pointer.bindMemory(to: Float.self, capacity: bytes / MemoryLayout<Float>.stride)
    }

    deinit { pool.give(HostMemory(pointer: UnsafeMutableRawPointer(pointer)), bytes: bytes) }
}

extension MemoryPool where Block == HostMemory {
    /// The CPU pool: 64-byte aligned blocks, at most `cacheLimit` bytes kept for reuse.
    static func host(cacheLimit: Int) -> MemoryPool<HostMemory> {
        MemoryPool(deviceName: "cpu", cacheLimit: cacheLimit,
                   create: { HostMemory(pointer: UnsafeMutableRawPointer.allocate(byteCount: $0, alignment: 64)) },
                   release: { $0.pointer.deallocate() })
    }
}
