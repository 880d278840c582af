
/// Counters of a device's memory pool.
public struct BufferPoolStatistics: Sendable, Equatable {
    /// Blocks obtained from the allocator underneath (`clCreateBuffer`, `malloc`).
    public var allocations = 0
    /// Requests served from a previously freed block.
    public var reuses = 0
    /// Bytes held by live buffers.
    public var bytesInUse = 0
    /// The most bytes ever held by live buffers at once.
    public var peakBytesInUse = 0
    /// Bytes held by freed blocks waiting for reuse.
    public var bytesCached = 0

    public init() {}
}

/// Reuses freed memory blocks of one device: a request takes a cached block of the same rounded size
/// if there is one, else allocates. A training step asks for the same sizes step after step, so after
/// the first step nothing is allocated (on the CPU that also saves the page faults of fresh memory).
/// Blocks come back when their buffer dies (ARC makes that deterministic); beyond `cacheLimit` cached
/// bytes they are released instead, and everything cached is released when the pool goes away.
///
/// A block is an address or a handle (a host pointer, a `cl_mem`), so the pool is one concrete type:
/// a generic pool used from the device modules ran unspecialised, looking up type metadata on every
/// take and give (about 7,000 instructions per buffer).
public final class MemoryPool: Sendable {
    /// A block of memory: its address, or the handle of a device memory object.
    public struct Block: @unchecked Sendable, Equatable {
        public let raw: UnsafeMutableRawPointer
        public init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }
    }

    /// How a pool hands out memory.
    public enum Policy: Sendable, Equatable {
        /// Sizes rounded up to multiples of 256 bytes, freed blocks reused (the default).
        case pooled
        /// For memory checkers (Oclgrind): every request gets a new block of exactly its size (4
        /// bytes for an empty one), and a freed block is neither reused nor released until the pool
        /// is trimmed or goes away. A checker then sees each buffer as an allocation of its own, so
        /// an access past a buffer's end or a read of memory nothing wrote is reported instead of
        /// landing in rounding slack or a previous tensor's values. (Oclgrind 21.10 also keeps the
        /// written-or-not state of a released buffer for the next buffer it places there.) Memory
        /// grows with every buffer made.
        case exact
    }

    private struct State {
        var free: [Int: [Block]] = [:]
        /// Freed blocks held back from reuse (`Policy.exact`).
        var retired: [Block] = []
        var statistics = BufferPoolStatistics()
    }

    private let deviceName: String
    private let cacheLimit: Int
    /// How this pool hands out memory.
    public let policy: Policy
    private let create: @Sendable (Int) -> Block?
    private let release: @Sendable (Block) -> Void
    private let state = Locked(State())

    /// `create` returns a block of the given byte count or nil when out of memory; `release` frees one.
    public init(deviceName: String, cacheLimit: Int = .max, policy: Policy = .pooled, create: @escaping @Sendable (Int) -> Block?,
                release: @escaping @Sendable (Block) -> Void) {
        self.deviceName = deviceName
        self.cacheLimit = cacheLimit
        self.policy = policy
        self.create = create
        self.release = release
    }

    deinit { trim() }

    /// Pool sizes are multiples of 256 bytes so that nearby sizes share blocks.
    public static func roundedBytes(_ bytes: Int) -> Int { max(256, (bytes + 255) & ~255) }

    public var statistics: BufferPoolStatistics { state.withLock { $0.statistics } }

    /// A block of at least `requested` bytes and its rounded size, to hand back to `give`.
    public func take(bytes requested: Int) throws -> (block: Block, bytes: Int) {
        let bytes = policy == .exact ? max(requested, 4) : Self.roundedBytes(requested)
        let reused: Block? = state.withLock { state in
            guard policy == .pooled, let block = state.free[bytes]?.popLast() else { return nil }
            state.statistics.reuses += 1
            state.statistics.bytesCached -= bytes
            state.statistics.bytesInUse += bytes
            state.statistics.peakBytesInUse = max(state.statistics.peakBytesInUse, state.statistics.bytesInUse)
            return block
        }
        if let reused { return (reused, bytes) }
        var block = create(bytes)
        if block == nil {
            trim()  // Give cached memory back and try once more.
            block = create(bytes)
        }
        guard let block else { throw TandemError.outOfMemory(device: deviceName, bytes: bytes) }
        state.withLock { state in
            state.statistics.allocations += 1
            state.statistics.bytesInUse += bytes
            state.statistics.peakBytesInUse = max(state.statistics.peakBytesInUse, state.statistics.bytesInUse)
        }
        return (block, bytes)
    }

    /// Returns a block taken with `take`, with the byte count `take` gave.
    public func give(_ block: Block, bytes: Int) {
        let cached = state.withLock { state in
            state.statistics.bytesInUse -= bytes
            if policy == .exact {
                state.retired.append(block)
                return true
            }
            guard state.statistics.bytesCached + bytes <= cacheLimit else { return false }
            state.free[bytes, default: []].append(block)
            state.statistics.bytesCached += bytes
            return true
        }
        if !cached { release(block) }
    }

    /// Releases every cached (free) block.
    public func trim() {
        let released: [Block] = state.withLock { state in
            let all = state.free.values.flatMap { $0 } + state.retired
            state.free.removeAll()
            state.retired.removeAll()
            state.statistics.bytesCached = 0
            return all
        }
        for block in released { release(block) }
    }
}
