/// Host memory that transfers to and from one device go through: gradients on their way to and
/// from an all-reduce. A device may give memory the transfers reach fastest (an OpenCL device:
/// page-locked memory it maps, which DMA engines read and write without an intermediate copy).
/// Kept across steps by its owner; `release` runs when it dies.
public final class HostStaging: @unchecked Sendable {
    /// The floats, valid while `self` lives.
    public let values: UnsafeMutableBufferPointer<Float>
    private let release: () -> Void

    public init(values: UnsafeMutableBufferPointer<Float>, release: @escaping () -> Void) {
        self.values = values
        self.release = release
    }

    deinit { release() }

    /// `count` zeroed floats of ordinary, 64-byte aligned host memory (the CPU, and devices without a
    /// faster kind).
    public static func allocated(_ count: Int) -> HostStaging {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        let values = UnsafeMutableBufferPointer(start: raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1)), count: count)
        values.initialize(repeating: 0)
        return HostStaging(values: values) { raw.deallocate() }
    }
}
