import CZlib
import TandemCore

/// zlib-backed decompression for the readers: gzip files (IDX as Debian ships it) and raw deflate
/// streams (`.npz` members), plus the CRC-32 that zip and gzip use.
public enum Zlib {
    /// The CRC-32 (IEEE, as in zip and gzip) of `bytes`.
    public static func crc32<C: Collection<UInt8>>(_ bytes: C) -> UInt32 {
        let value = bytes.withContiguousStorageIfAvailable { buffer -> UInt in
            CZlib.crc32(0, buffer.baseAddress, UInt32(buffer.count))
        } ?? Array(bytes).withUnsafeBufferPointer { CZlib.crc32(0, $0.baseAddress, UInt32($0.count)) }
        return UInt32(truncatingIfNeeded: value)
    }

    /// Whether `bytes` start with the gzip magic number 1f 8b.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// The decompressed contents of a gzip file (all members, concatenated). Throws, naming `file`,
    /// on a bad header, corrupt data, a CRC mismatch or a truncated stream.
    public static func gunzip(_ bytes: [UInt8], file: String, op: String = "gzip reader") throws -> [UInt8] {
        guard isGzip(bytes) else {
            throw TandemError.invalidArgument(op: op, message: "\(file): not a gzip file (bad magic number)")
        }
        // windowBits 15 + 16: a gzip wrapper, whose trailer (CRC-32 and length) zlib checks.
        return try inflate(bytes[...], windowBits: 15 + 16, expected: nil, multipleMembers: true, file: file, op: op)
    }

    /// The decompressed contents of a raw deflate stream (no zlib or gzip wrapper), which must be
    /// exactly `expectedCount` bytes long.
    public static func inflateRaw(_ bytes: ArraySlice<UInt8>, expectedCount: Int, file: String, op: String) throws -> [UInt8] {
        try inflate(bytes, windowBits: -15, expected: expectedCount, multipleMembers: false, file: file, op: op)
    }

    private static func inflate(_ input: ArraySlice<UInt8>, windowBits: Int32, expected: Int?, multipleMembers: Bool,
                                file: String, op: String) throws -> [UInt8] {
        func fail(_ message: String) -> TandemError {
            TandemError.invalidArgument(op: op, message: "\(file): \(message)")
        }
        // Deflate expands at most about 1,032 to 1 (258-byte matches coded in 2 bits): a header that
        // claims more cannot be true, and is refused before anything is allocated for it.
        if let expected, expected > input.count * 1_040 + 1_024 {
            throw fail("claims \(expected) bytes from \(input.count) compressed bytes, more than deflate can produce; the archive is corrupt")
        }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: max(1 << 16, min(expected ?? 0, 1 << 24)))
        // Reserved from the compressed size, not the claim, so a lying header costs nothing.
        output.reserveCapacity(min(expected ?? input.count * 4, input.count * 8 + (1 << 16)))
        try input.withUnsafeBufferPointer { inputBuffer in
            guard let base = inputBuffer.baseAddress, inputBuffer.count > 0 else { throw fail("empty compressed stream") }
            var consumed = 0
            // One pass per gzip member; raw deflate has a single pass.
            repeat {
                var stream = z_stream()
                guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                    throw fail("zlib could not be initialised")
                }
                defer { inflateEnd(&stream) }
                stream.next_in = UnsafeMutablePointer(mutating: base + consumed)
                stream.avail_in = UInt32(inputBuffer.count - consumed)
                var status: Int32 = Z_OK
                while status != Z_STREAM_END {
                    let produced = chunk.withUnsafeMutableBufferPointer { out -> Int in
                        stream.next_out = out.baseAddress
                        stream.avail_out = UInt32(out.count)
                        status = CZlib.inflate(&stream, Z_NO_FLUSH)
                        return out.count - Int(stream.avail_out)
                    }
                    switch status {
                    case Z_OK, Z_STREAM_END:
                        break
                    case Z_BUF_ERROR where stream.avail_in == 0:
                        throw fail("truncated compressed data (the stream ends after \(output.count + produced) bytes of output)")
                    case Z_DATA_ERROR:
                        let reason = stream.msg.map { String(cString: $0) } ?? "invalid data"
                        throw fail("corrupt compressed data (\(reason))")
                    case Z_MEM_ERROR:
                        throw fail("out of memory while decompressing")
                    default:
                        throw fail("decompression failed (zlib status \(status))")
                    }
                    output.append(contentsOf: chunk[0..<produced])
                    if let expected, output.count > expected {
                        throw fail("decompressed data is longer than the \(expected) bytes the header states")
                    }
                    if status == Z_OK && produced == 0 && stream.avail_in == 0 {
                        throw fail("truncated compressed data (the stream ends after \(output.count) bytes of output)")
                    }
                }
                consumed = inputBuffer.count - Int(stream.avail_in)
                // gzip allows several members back to back; trailing zero padding is tolerated.
            } while multipleMembers && consumed + 1 < inputBuffer.count && base[consumed] == 0x1f && base[consumed + 1] == 0x8b
            if multipleMembers, consumed < inputBuffer.count,
               !UnsafeBufferPointer(rebasing: inputBuffer[consumed...]).allSatisfy({ $0 == 0 }) {
                throw fail("\(inputBuffer.count - consumed) bytes of garbage after the compressed data")
            }
        }
        if let expected, output.count != expected {
            throw fail("decompressed \(output.count) bytes, the header states \(expected)")
        }
        return output
    }
}
