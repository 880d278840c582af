/// A `ByteSource` over bytes already in memory (a stored `.npz` member, a whole `.npy` or IDX file):
/// the streaming decoders copy from it into the final array's storage, with no intermediate copy.
struct MemorySource: ByteSource {
    /// The bytes, a slice of the file's buffer (a slice keeps the buffer alive without copying it).
    let bytes: ArraySlice<UInt8>
    /// How many have been read.
    private(set) var offset = 0

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - offset)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { raw in
            buffer.baseAddress!.copyMemory(from: raw.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }
}
