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

    /// Reads an IDX file (gzip-compressed or not). Throws `TandemError.invalidArgument` naming the
    /// file when it is missing, truncated, corrupt, or its dimensions disagree with its size.
    public static func read(_ path: String) throws -> Contents {
        let raw = try readWholeFile(path, op: op)
        let bytes = Zlib.isGzip(raw) ? try Zlib.gunzip(raw, file: path, op: op) : raw
        return try decode(bytes, file: path)
    }

    /// Decodes the bytes of an (uncompressed) IDX file; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> Contents {
        var reader = ByteReader(bytes, op: op, file: file)
        let magic = try reader.bytes(4, "the magic number")
        guard magic[magic.startIndex] == 0, magic[magic.startIndex + 1] == 0 else {
            throw reader.error("bad magic number (an IDX file starts with two zero bytes)")
        }
        guard let type = ElementType(rawValue: magic[magic.startIndex + 2]) else {
            throw reader.error("unknown element type 0x\(String(magic[magic.startIndex + 2], radix: 16))")
        }
        let rank = Int(magic[magic.startIndex + 3])
        guard rank >= 1 else { throw reader.error("rank 0 (no dimensions)") }
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
        guard reader.remaining == payloadBytes else {
            throw reader.error(reader.remaining < payloadBytes
                ? "truncated: shape \(shape) needs \(payloadBytes) bytes of data, the file has \(reader.remaining)"
                : "\(reader.remaining - payloadBytes) bytes after the data that shape \(shape) describes")
        }
        return Contents(type: type, shape: shape, payload: Array(bytes[reader.position...]))
    }

    /// Encodes `values` (uint8) with `shape` as an uncompressed IDX file, for tests and tools.
    public static func encode(uint8 values: [UInt8], shape: [Int]) -> [UInt8] {
        var out: [UInt8] = [0, 0, ElementType.uint8.rawValue, UInt8(shape.count)]
        for n in shape { out.append(contentsOf: [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]) }
        out.append(contentsOf: values)
        return out
    }
}
