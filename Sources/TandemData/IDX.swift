import TandemCore

/// The IDX format of MNIST and Fashion-MNIST: a magic number `00 00 <type> <rank>`, `rank`
/// big-endian 32-bit dimensions, then the elements, big-endian, row-major. Files may be
/// gzip-compressed (as Debian's `dataset-fashion-mnist` ships them): the reader detects that.
public enum IDX {
    /// The element types the format defines, by their type byte.
    public enum ElementType: UInt8, Sendable {
        case uint8 = 0x08, int8 = 0x09, int16 = 0x0B, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .uint8, .int8: return 1
            case .int16: return 2
            case .int32, .float32: return 4
            case .float64: return 8
            }
        }
    }

    /// The contents of an IDX file: its element type, its shape and its raw (big-endian) payload.
    public struct Contents: Sendable {
        /// The element type.
        public let type: ElementType
        /// The dimensions, outermost first.
        public let shape: [Int]
        /// The element bytes as stored (big-endian for multi-byte types).
        public let payload: [UInt8]

        /// The number of elements.
        public var count: Int { shape.reduce(1, *) }

        /// The elements of a `uint8` file as bytes (images and labels), without conversion;
        /// nil for other element types.
        public var uint8Values: [UInt8]? { type == .uint8 ? payload : nil }

        /// Every element converted to Float.
        public func floatValues() -> [Float] {
            var result = [Float](repeating: 0, count: count)
            let size = type.size
            for i in 0..<count {
                var bits: UInt64 = 0
                for b in 0..<size { bits = bits << 8 | UInt64(payload[i * size + b]) }
                switch type {
                case .uint8: result[i] = Float(bits)
                case .int8: result[i] = Float(Int8(truncatingIfNeeded: bits))
                case .int16: result[i] = Float(Int16(truncatingIfNeeded: bits))
                case .int32: result[i] = Float(Int32(truncatingIfNeeded: bits))
                case .float32: result[i] = Float(bitPattern: UInt32(truncatingIfNeeded: bits))
                case .float64: result[i] = Float(Double(bitPattern: bits))
                }
            }
            return result
        }
    }

    static let op = "IDX reader"

    /// Reads an IDX file (gzip-compressed or not). A compressed file is inflated straight into the
    /// payload once its header has been read and checked (memory peaks at the compressed file and
    /// the payload). Throws `TandemError.invalidArgument` naming the file when it is missing,
    /// truncated, corrupt, its dimensions disagree with its size, or its payload is above `limits`
    /// (nil: `ReadLimits.fromEnvironment()`) or beyond what its compressed size can hold.
    public static func read(_ path: String, limits: ReadLimits? = nil) throws -> Contents {
        let limits = try limits ?? .fromEnvironment()
        let raw = try readWholeFile(path, op: op, limits: limits)
        guard Zlib.isGzip(raw) else { return try decode(raw, file: path, limits: limits) }
        let inflater = try Inflater(raw[...], format: .gzip, limits: limits, file: path, op: op)
        var source = inflater
        let contents = try decode(from: &source, size: nil, file: path, limits: limits) { claimed in
            try inflater.requirePlausible(claimed, what: "the IDX header")
        }
        // The payload is complete: any further output is data the header does not describe.
        try inflater.requireEnd(expected: inflater.produced, what: "the header and shape \(contents.shape) describe")
        return contents
    }

    /// Decodes the bytes of an (uncompressed) IDX file; `file` names it in errors. A payload above
    /// `limits` (nil: `ReadLimits.fromEnvironment()`) is refused before it is copied.
    public static func decode(_ bytes: [UInt8], file: String, limits: ReadLimits? = nil) throws -> Contents {
        var source = MemorySource(bytes[...])
        return try decode(from: &source, size: bytes.count, file: file, limits: try limits ?? .fromEnvironment())
    }

    /// Decodes an IDX file read in order from `source`: the header first, then the payload straight
    /// into its own storage. With `size` (the file's length) the header must describe exactly that
    /// many bytes; without it (a gzip stream) the payload is bounded by `limits` and by `plausible`,
    /// which throws for a claim the compressed size cannot hold, and the stream must supply it all.
    static func decode(from source: inout some ByteSource, size: Int?, file: String, limits: ReadLimits,
                       plausible: (Int) throws -> Void = { _ in }) throws -> Contents {
        let errors = ByteReader([], op: op, file: file)
        let magic = try source.bytes(4)
        guard magic.count == 4 else {
            throw errors.error("truncated: the magic number needs 4 bytes at offset 0, the file has \(magic.count)")
        }
        guard magic[0] == 0, magic[1] == 0 else {
            throw errors.error("bad magic number (an IDX file starts with two zero bytes)")
        }
        guard let type = ElementType(rawValue: magic[2]) else {
            throw errors.error("unknown element type 0x\(String(magic[2], radix: 16))")
        }
        let rank = Int(magic[3])
        guard rank >= 1 else { throw errors.error("rank 0 (no dimensions)") }
        var reader = ByteReader(magic + (try source.bytes(4 * rank)), op: op, file: file, position: 4)
        var shape: [Int] = []
        for d in 0..<rank {
            let n = Int(try reader.bigEndian(4, "dimension \(d) of \(rank)"))
            guard n < 1 << 31 else { throw reader.error("dimension \(d) is negative") }
            shape.append(n)
        }
        var count = 1
        for n in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow, product <= Int(Int32.max) * 8 else { throw reader.error("shape \(shape) is too large") }
            count = product
        }
        let payloadBytes = count * type.size
        if let size {
            let remaining = size - reader.position
            guard remaining == payloadBytes else {
                throw reader.error(remaining < payloadBytes
                    ? "truncated: shape \(shape) needs \(payloadBytes) bytes of data, the file has \(remaining)"
                    : "\(remaining - payloadBytes) bytes after the data that shape \(shape) describes")
            }
        } else {
            try plausible(reader.position + payloadBytes)
        }
        guard payloadBytes <= limits.maximumBytes else {
            throw reader.error("shape \(shape) needs \(payloadBytes) bytes of data, more than \(limits.bytesDescription)")
        }
        let payload = try [UInt8](unsafeUninitializedCapacity: payloadBytes) { buffer, initialized in
            let n = try source.read(into: UnsafeMutableRawBufferPointer(buffer))
            guard n == payloadBytes else {
                throw reader.error("truncated: shape \(shape) needs \(payloadBytes) bytes of data, the decompressed file has \(n)")
            }
            initialized = n
        }
        return Contents(type: type, shape: shape, payload: payload)
    }

    /// Encodes `values` (uint8) with `shape` as an uncompressed IDX file, for tests and tools.
    public static func encode(uint8 values: [UInt8], shape: [Int]) -> [UInt8] {
        var out: [UInt8] = [0, 0, ElementType.uint8.rawValue, UInt8(shape.count)]
        for n in shape { out.append(contentsOf: [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]) }
        out.append(contentsOf: values)
        return out
    }
}
