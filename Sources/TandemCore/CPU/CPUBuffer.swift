/// Host memory of the CPU device: `count` floats, freed when the buffer dies.
public final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    init(count: Int) {
        self.count = count
        // At least one element so the pointer is always valid; 64-byte aligned for vector loads.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
