import Synchronization
import Testing
@testable import Tandem

@Suite("Memory pool")
struct MemoryPoolTests {
    /// A pool over counters instead of memory, recording what it creates and releases.
    final class Ledger: Sendable {
        let created = Atomic<Int>(0), released = Atomic<Int>(0)
        func pool(cacheLimit: Int = .max, failAbove: Int = .max, policy: MemoryPool.Policy = .pooled) -> MemoryPool {
            MemoryPool(deviceName: "ledger", cacheLimit: cacheLimit, policy: policy,
                       create: { bytes in
                           guard bytes <= failAbove else { return nil }
                           // Distinct fake addresses (never dereferenced).
                           return UnsafeMutableRawPointer(bitPattern: 4096 * self.created.add(1, ordering: .relaxed).newValue)
                               .map(MemoryPool.Block.init)
                       },
                       release: { _ in self.released.add(1, ordering: .relaxed) })
        }
    }

    @Test("a freed block of the same rounded size is reused, not allocated again")
    func reuse() throws {
        let ledger = Ledger()
        let pool = ledger.pool()
        let (first, bytes) = try pool.take(bytes: 1000)
        #expect(bytes == 1024 && pool.statistics.bytesInUse == 1024)
        pool.give(first, bytes: bytes)
        #expect(pool.statistics.bytesCached == 1024 && pool.statistics.bytesInUse == 0)
        let (again, _) = try pool.take(bytes: 1020)  // Rounds to the same 1,024 bytes.
        #expect(again == first)
        #expect(pool.statistics.allocations == 1 && pool.statistics.reuses == 1)
        let (other, _) = try pool.take(bytes: 5000)
        #expect(other != first && pool.statistics.allocations == 2)
        #expect(pool.statistics.peakBytesInUse == 1024 + 5120)
    }

    @Test("the exact policy gives every request a new block of its own size, and keeps freed blocks until trimmed")
    func exactPolicy() throws {
        let ledger = Ledger()
        let pool = ledger.pool(policy: .exact)
        let (first, bytes) = try pool.take(bytes: 1000)
        #expect(bytes == 1000)
        pool.give(first, bytes: bytes)
        let (second, again) = try pool.take(bytes: 1000)
        #expect(second != first && again == 1000)
        #expect(pool.statistics.allocations == 2 && pool.statistics.reuses == 0)
        #expect(try pool.take(bytes: 0).bytes == 4)  // An empty buffer still gets a block.
        #expect(ledger.released.load(ordering: .relaxed) == 0)  // Freed, but not given back to the driver.
        pool.give(second, bytes: again)
        pool.trim()
        #expect(ledger.released.load(ordering: .relaxed) == 2)
    }

    @Test("with TANDEM_OPENCL_POOL=off (exact buffers, none reused) a training step still matches the CPU",
          arguments: openCLSelectors)
    func openCLPoolOff(selector: String) throws {
        let run = try runTandem(["selftest", "--device", selector, "--checks", "steps", "--workloads", "mmoe-synth"],
                                environment: ["TANDEM_OPENCL_POOL": "off"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    }

    @Test("beyond the cache limit freed blocks are released; trim releases the rest")
    func cacheLimit() throws {
        let ledger = Ledger()
        let pool = ledger.pool(cacheLimit: 2048)
        let blocks = try (0..<3).map { _ in try pool.take(bytes: 1024) }
        for (block, bytes) in blocks { pool.give(block, bytes: bytes) }
        #expect(pool.statistics.bytesCached == 2048)
        #expect(ledger.released.load(ordering: .relaxed) == 1)
        pool.trim()
        #expect(pool.statistics.bytesCached == 0)
        #expect(ledger.released.load(ordering: .relaxed) == 3)
    }

    @Test("when the allocator fails, the pool frees its cache, retries, then throws out-of-memory")
    func outOfMemory() throws {
        let ledger = Ledger()
        let pool = ledger.pool(failAbove: 4096)
        let (block, bytes) = try pool.take(bytes: 4096)
        pool.give(block, bytes: bytes)
        #expect(throws: TandemError.self) { _ = try pool.take(bytes: 8192) }
        #expect(ledger.released.load(ordering: .relaxed) == 1)  // The cached block was given back first.
    }

    @Test("CPU buffers come from the CPU device's pool")
    func cpuBuffersArePooled() throws {
        let cpu = CPUDevice.shared
        let before = cpu.poolStatistics
        let buffer = try cpu.allocate(7_777)
        #expect(cpu.poolStatistics.allocations + cpu.poolStatistics.reuses > before.allocations + before.reuses)
        _ = buffer
    }
}
