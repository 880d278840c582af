import CZlib
import TandemCore

/// zlib-backed decompression for the readers: gzip files (IDX as Debian ships it) and raw deflate
/// streams (`.npz` members), bounded by `ReadLimits` (the streaming itself is `Inflater`'s), plus the
/// CRC-32 that zip and gzip use.
public enum Zlib {
    /// The CRC-32 (IEEE, as in zip and gzip) of `bytes`, in pieces of at most 1 GiB (zlib takes a
    /// 32-bit length; a zip64 member can be longer).
    public static func crc32<C: Collection<UInt8>>(_ bytes: C) -> UInt32 {
        func checksum(_ buffer: UnsafeBufferPointer<UInt8>) -> UInt {
            var value: UInt = 0
            var offset = 0
            repeat {
                let count = min(buffer.count - offset, 1 << 30)
                value = CZlib.crc32(value, buffer.baseAddress.map { $0 + offset }, UInt32(count))
                offset += count
            } while offset < buffer.count
            return value
        }
        let value = bytes.withContiguousStorageIfAvailable(checksum) ?? Array(bytes).withUnsafeBufferPointer(checksum)
        return UInt32(truncatingIfNeeded: value)
    }

    /// Whether `bytes` start with the gzip magic number 1f 8b.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// The decompressed contents of a gzip file (all members, concatenated). Throws, naming `file`,
    /// on a bad header, corrupt data, a CRC mismatch or a truncated stream, and as soon as the output
    /// passes `limits.maximumBytes` or the ratio limit (nil: `ReadLimits.fromEnvironment()`). Readers
    /// that know their size from a header stream into their own storage instead (`IDX.read`).
    public static func gunzip(_ bytes: [UInt8], file: String, op: String = "gzip reader", limits: ReadLimits? = nil) throws -> [UInt8] {
        guard isGzip(bytes) else {
            throw TandemError.invalidArgument(op: op, message: "\(file): not a gzip file (bad magic number)")
        }
        let limits = try limits ?? .fromEnvironment()
        let inflater = try Inflater(bytes[...], format: .gzip, limits: limits, file: file, op: op)
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try inflater.read(into: $0) }
            guard output.count + n <= limits.maximumBytes else {
                throw inflater.fail("decompresses to more than \(limits.bytesDescription)")
            }
            output.append(contentsOf: chunk[0..<n])
            if n < chunk.count { return output }
        }
    }

    /// The decompressed contents of a raw deflate stream (no zlib or gzip wrapper), which must be
    /// exactly `expectedCount` bytes long. A claim beyond the ratio limit (by default what deflate can
    /// produce at all) or `limits.maximumBytes` is refused before anything is allocated for it.
    public static func inflateRaw(_ bytes: ArraySlice<UInt8>, expectedCount: Int, file: String, op: String,
                                  limits: ReadLimits? = nil) throws -> [UInt8] {
        let limits = try limits ?? .fromEnvironment()
        let inflater = try Inflater(bytes, format: .raw, limits: limits, file: file, op: op)
        try inflater.requirePlausible(expectedCount, what: "the header")
        guard expectedCount <= limits.maximumBytes else {
            throw inflater.fail("the header claims \(expectedCount) bytes, more than \(limits.bytesDescription)")
        }
        let output = try [UInt8](unsafeUninitializedCapacity: expectedCount) { buffer, initialized in
            let n = try inflater.read(into: UnsafeMutableRawBufferPointer(buffer))
            guard n == expectedCount else { throw inflater.fail("decompressed \(n) bytes, the header states \(expectedCount)") }
            initialized = n
        }
        try inflater.requireEnd(expected: expectedCount, what: "the header states")
        return output
    }
}
