import TandemCore

#if canImport(Glibc)
import Glibc
#endif

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
    /// The CPU pool: 64-byte aligned blocks, at most `cacheLimit` bytes kept for reuse. A block the
    /// C library cannot give, or one larger than the machine's physical memory (which Linux's
    /// overcommit would promise and the OOM killer take back), is nil, so the pool reports it as
    /// out of memory with its size instead of the process aborting.
    static func host(cacheLimit: Int) -> MemoryPool {
        let physical = System.physicalMemoryBytes
        return MemoryPool(deviceName: "cpu", cacheLimit: cacheLimit,
                          create: { bytes in
                              guard physical <= 0 || bytes <= physical else { return nil }
                              var raw: UnsafeMutableRawPointer?
                              guard posix_memalign(&raw, 64, bytes) == 0, let raw else { return nil }
                              return Block(raw)
                          },
                          release: { free($0.raw) })
    }
}
