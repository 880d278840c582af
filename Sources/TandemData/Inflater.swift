import CZlib
import TandemCore

/// A zlib inflate stream over compressed bytes in memory, drained in pieces into memory the caller
/// owns: the decoders read a header first, check what it claims, then inflate the rest straight into
/// the final array, so nothing grows beside it. Each inflate call produces at most 1 MiB, after which
/// the running ratio of output to consumed input is checked against `ReadLimits.maximumRatio` (a
/// zip bomb stops within a megabyte of output). Errors are `TandemError.invalidArgument(op:…)` naming
/// `file`.
///
/// A class because zlib's state points back at its `z_stream`, which therefore lives at one address
/// (allocated here) for the stream's whole life, and is released in `deinit`.
final class Inflater: ByteSource {
    /// The wrapper around the deflate data.
    enum Format {
        /// Raw deflate (an `.npz` member); the CRC-32 of the output is kept in `crc`.
        case raw
        /// gzip, possibly several members back to back; zlib checks each member's CRC and length.
        case gzip
    }

    private let input: ArraySlice<UInt8>
    private let format: Format
    private let limits: ReadLimits
    private let stream: UnsafeMutablePointer<z_stream>
    /// The file (or `archive:member`) and the reader, for errors.
    let file: String, op: String
    /// Compressed bytes consumed so far.
    private(set) var consumed = 0
    /// Bytes produced so far.
    private(set) var produced = 0
    /// Whether the stream has ended (its last member's end, for gzip).
    private(set) var ended = false
    private var checksum: UInt = 0

    /// The CRC-32 of everything produced so far (raw streams only; 0 for gzip, which zlib checks).
    var crc: UInt32 { UInt32(truncatingIfNeeded: checksum) }

    /// At most this many bytes are produced per inflate call, between ratio checks.
    static let step = 1 << 20

    init(_ input: ArraySlice<UInt8>, format: Format, limits: ReadLimits, file: String, op: String) throws {
        self.input = input
        self.format = format
        self.limits = limits
        self.file = file
        self.op = op
        // Set up before `self.stream` is: an initialiser that throws with every stored property set
        // runs `deinit`, which would release the stream a second time.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let windowBits: Int32 = format == .raw ? -15 : 15 + 16
        guard !input.isEmpty, inflateInit2_(stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw TandemError.invalidArgument(op: op, message: "\(file): \(input.isEmpty ? "empty compressed stream" : "zlib could not be initialised")")
        }
        self.stream = stream
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    func fail(_ message: String) -> TandemError {
        TandemError.invalidArgument(op: op, message: "\(file): \(message)")
    }

    /// Throws unless `claimed` bytes of output are plausible from the whole compressed input: within
    /// the ratio limit (by default what deflate can produce at all). Called before allocating for a
    /// claim, so a lying header costs nothing.
    func requirePlausible(_ claimed: Int, what: String) throws {
        guard claimed <= limits.inflationAllowance(input.count) else {
            throw fail("\(what) claims \(claimed) bytes from \(input.count) compressed bytes, more than \(limits.ratioDescription) allows; the file is corrupt or a zip bomb")
        }
    }

    /// Inflates into `buffer` until it is full or the stream ends; returns the bytes written.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count, !ended {
            let room = min(buffer.count - filled, Self.step)
            let out = buffer.baseAddress! + filled
            let (status, made, used) = input.withUnsafeBufferPointer { compressed -> (Int32, Int, Int) in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: compressed.baseAddress! + consumed)
                stream.pointee.avail_in = UInt32(clamping: compressed.count - consumed)
                stream.pointee.next_out = UnsafeMutablePointer<Bytef>(OpaquePointer(out))
                stream.pointee.avail_out = UInt32(room)
                let availableIn = stream.pointee.avail_in
                let status = CZlib.inflate(stream, Z_NO_FLUSH)
                return (status, room - Int(stream.pointee.avail_out), Int(availableIn - stream.pointee.avail_in))
            }
            consumed += used
            switch status {
            case Z_OK, Z_STREAM_END:
                break
            case Z_BUF_ERROR where consumed == input.count:
                throw fail("truncated compressed data (the stream ends after \(produced + made) bytes of output)")
            case Z_DATA_ERROR:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "invalid data"
                throw fail("corrupt compressed data (\(reason))")
            case Z_MEM_ERROR:
                throw fail("out of memory while decompressing")
            default:
                throw fail("decompression failed (zlib status \(status))")
            }
            if format == .raw, made > 0 {
                checksum = CZlib.crc32(checksum, UnsafePointer<Bytef>(OpaquePointer(out)), UInt32(made))
            }
            produced += made
            filled += made
            if produced > limits.inflationAllowance(consumed) {
                throw fail("expands beyond \(limits.ratioDescription): \(produced) bytes of output from the first \(consumed) compressed bytes; refused as a likely zip bomb")
            }
            if status == Z_STREAM_END {
                try endOfMember()
            } else if made == 0, consumed == input.count {
                throw fail("truncated compressed data (the stream ends after \(produced) bytes of output)")
            }
        }
        return filled
    }

    /// After a member's end: gzip allows several members back to back (and trailing zero padding);
    /// raw deflate ends at its last block.
    private func endOfMember() throws {
        guard format == .gzip else {
            ended = true
            return
        }
        let next = input.index(input.startIndex, offsetBy: consumed)
        if consumed + 1 < input.count, input[next] == 0x1f, input[next + 1] == 0x8b {
            guard inflateReset(stream) == Z_OK else { throw fail("zlib could not be reset for the next gzip member") }
            return
        }
        ended = true
        if !input[next...].allSatisfy({ $0 == 0 }) {
            throw fail("\(input.count - consumed) bytes of garbage after the compressed data")
        }
    }

    /// Throws unless the stream ends here, `expected` bytes in (`what` says who states that size):
    /// one more byte of output is refused at once, without inflating the rest.
    func requireEnd(expected: Int, what: String) throws {
        var extra: UInt8 = 0
        let n = try withUnsafeMutableBytes(of: &extra) { try read(into: $0) }
        guard n == 0 else { throw fail("decompressed data is longer than the \(expected) bytes \(what)") }
    }
}
