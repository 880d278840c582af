import TandemCore

/// A host array read from or written to a NumPy file: its shape, its elements converted to Float
/// (row-major), and the element type it had on disk (so integer label arrays can be told from
/// real-valued ones).
public struct NDArray: Sendable, Equatable {
    /// The dimensions, outermost first ([] for a scalar).
    public var shape: [Int]
    /// The elements, row-major, as Float.
    public var values: [Float]
    /// The element type on disk (or the one to write).
    public var dtype: NPY.DType

    /// An array of `shape` holding `values`; `values.count` must equal the product of `shape`.
    public init(shape: [Int], values: [Float], dtype: NPY.DType = .float32) {
        precondition(shape.reduce(1, *) == values.count, "NDArray: \(values.count) values do not fill shape \(shape)")
        self.shape = shape
        self.values = values
        self.dtype = dtype
    }

    /// The number of elements.
    public var count: Int { values.count }
}

/// NumPy's `.npy` format (versions 1.0, 2.0 and 3.0): the magic `\x93NUMPY`, a version, a header
/// length, a Python-literal header dictionary (`descr`, `fortran_order`, `shape`) and the raw data.
/// Reading converts every supported numeric type to Float as the data streams in (the header is
/// checked against the file's size and `ReadLimits` before the array is allocated); writing produces
/// version 1.0 (2.0 when the header would not fit). Written without Foundation.
public enum NPY {
    /// The element types the reader understands (`descr` without its byte-order character).
    public enum DType: String, Sendable, Equatable, CaseIterable {
        case bool = "b1"
        case int8 = "i1", int16 = "i2", int32 = "i4", int64 = "i8"
        case uint8 = "u1", uint16 = "u2", uint32 = "u4", uint64 = "u8"
        case float16 = "f2", float32 = "f4", float64 = "f8"

        /// Bytes per element.
        public var size: Int { Int(rawValue.dropFirst()) ?? 1 }
        /// Whether the type holds integers (or booleans): such label arrays are class indices.
        public var isInteger: Bool { !rawValue.hasPrefix("f") }
        /// The `descr` string NumPy writes for this type on a little-endian machine.
        public var descr: String { (size == 1 ? "|" : "<") + rawValue }
    }

    static let op = "NPY reader"
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads a `.npy` file, streamed from the disk into the array (memory peaks at the array plus a
    /// 1 MiB chunk). Throws `TandemError.invalidArgument(op: "NPY reader", ...)` naming the file when
    /// it is missing or not a regular file, truncated, has a bad magic number or header, an
    /// unsupported dtype, a shape that disagrees with the data size, or an array above `limits`
    /// (nil: `ReadLimits.fromEnvironment()`).
    public static func read(_ path: String, limits: ReadLimits? = nil) throws -> NDArray {
        let limits = try limits ?? .fromEnvironment()
        var source = try FileSource(path, op: op)
        defer { source.closeFile() }
        return try decode(from: &source, size: source.size, file: path, limits: limits)
    }

    /// Decodes the bytes of a `.npy` file; `file` names it in errors (for an `.npz` member,
    /// `archive.npz:member.npy`). An array above `limits` (nil: `ReadLimits.fromEnvironment()`) is
    /// refused before it is allocated.
    public static func decode<C: Collection<UInt8>>(_ data: C, file: String, limits: ReadLimits? = nil) throws -> NDArray {
        let limits = try limits ?? .fromEnvironment()
        let bytes = data as? [UInt8] ?? Array(data)
        var source = MemorySource(bytes[...])
        return try decode(from: &source, size: bytes.count, file: file, limits: limits)
    }

    /// NumPy writes headers of a few hundred bytes (and its own reader refuses more than 10,000 by
    /// default); a longer one is refused rather than parsed.
    static let maximumHeaderBytes = 1 << 20

    /// Decodes a `.npy` of `size` bytes read in order from `source`: the header from its first bytes,
    /// then the elements straight into the array's storage, converted chunk by chunk (to row-major
    /// order too), so memory peaks at the array plus one chunk. `size` is what the container states
    /// (the file's length, the zip entry's size): a header describing another size is refused
    /// before the array is allocated, and so is an array of more Float bytes than `limits` leave
    /// after `used` bytes of earlier arrays of the same file. A source that ends early is an error;
    /// one that goes on past `size` is the caller's to check.
    static func decode(from source: inout some ByteSource, size: Int, file: String, limits: ReadLimits, used: Int = 0) throws -> NDArray {
        let errors = ByteReader([], op: op, file: file)
        func ended(after count: Int) -> TandemError {
            errors.error("truncated: the data ends after \(count) of the \(size) bytes stated for it")
        }
        var preamble = try source.bytes(min(size, 10))
        guard preamble.count == min(size, 10) else { throw ended(after: preamble.count) }
        guard preamble.count >= 6, Array(preamble[0..<6]) == magic else {
            throw errors.error(preamble.count < 6 ? "truncated: \(preamble.count) bytes, too short for the NPY magic number"
                                                  : "bad magic number (not a .npy file)")
        }
        if preamble.count == 10, preamble[6] == 2 || preamble[6] == 3 {
            let wider = try source.bytes(min(size - 10, 2))
            guard wider.count == min(size - 10, 2) else { throw ended(after: 10 + wider.count) }
            preamble += wider
        }
        var reader = ByteReader(preamble, op: op, file: file, position: 6)
        let major = try reader.u8("the version")
        _ = try reader.u8("the version")
        let headerLength: Int
        switch major {
        case 1: headerLength = try reader.u16le("the header length")
        case 2, 3: headerLength = try reader.u32le("the header length")
        default: throw reader.error("unsupported format version \(major) (1, 2 and 3 are known)")
        }
        let afterPreamble = size - reader.position
        guard headerLength <= afterPreamble else {
            throw reader.error("header length \(headerLength) runs past the end of the file (\(afterPreamble) bytes left)")
        }
        guard headerLength <= maximumHeaderBytes else {
            throw reader.error("header length \(headerLength) is more than the \(maximumHeaderBytes) bytes a header may have")
        }
        let headerBytes = try source.bytes(headerLength)
        guard headerBytes.count == headerLength else { throw ended(after: reader.position + headerBytes.count) }
        let header = try parseHeader(String(decoding: headerBytes, as: UTF8.self), reader: reader)

        var count = 1
        for n in header.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow, product < 1 << 40 else { throw reader.error("shape \(header.shape) is too large") }
            count = product
        }
        let dataStart = reader.position + headerLength
        let dataBytes = count * header.dtype.size
        let remaining = size - dataStart
        guard remaining == dataBytes else {
            throw reader.error(remaining < dataBytes
                ? "truncated: shape \(header.shape) of \(header.dtype.descr) needs \(dataBytes) bytes of data, the file has \(remaining)"
                : "\(remaining - dataBytes) bytes after the data that shape \(header.shape) of \(header.dtype.descr) describes")
        }
        let floatBytes = count * MemoryLayout<Float>.size
        guard floatBytes <= limits.maximumBytes - used else {
            throw reader.error("shape \(header.shape) of \(header.dtype.descr) takes \(floatBytes) bytes as Float"
                + (used > 0 ? " after \(used) bytes of earlier arrays" : "") + ", more than \(limits.bytesDescription)")
        }
        let values = try readElements(from: &source, count: count, header: header) { ended(after: dataStart + $0) }
        return NDArray(shape: header.shape, values: values, dtype: header.dtype)
    }

    /// Source bytes converted per step when the elements cannot be read straight into the array.
    static let chunkBytes = 1 << 20

    /// Reads `count` elements described by `header` from `source` into a new Float array. Little-endian
    /// float32 in row-major order is read straight into the array's storage; anything else goes
    /// through a 1 MiB chunk, converted and (for Fortran order) scattered to its row-major place.
    /// `ended(bytesRead)` is the error for a source that ends early.
    static func readElements(from source: inout some ByteSource, count: Int, header: Header,
                             ended: (Int) -> TandemError) throws -> [Float] {
        let dtype = header.dtype, size = dtype.size
        let fortran = header.fortranOrder && header.shape.count > 1
        return try [Float](unsafeUninitializedCapacity: count) { out, initialized in
            guard count > 0 else { return }
            if dtype == .float32, !header.bigEndian, !fortran {
                let n = try source.read(into: UnsafeMutableRawBufferPointer(out))
                guard n == count * size else { throw ended(n) }
                initialized = count
                return
            }
            // Fortran order: the multi-index advances with the first dimension fastest, tracking the
            // row-major offset of each element as it arrives.
            let shape = header.shape
            var rowStrides = [Int](repeating: 1, count: shape.count)
            for d in stride(from: shape.count - 2, through: 0, by: -1) { rowStrides[d] = rowStrides[d + 1] * shape[d + 1] }
            var index = [Int](repeating: 0, count: shape.count)
            var target = 0
            let perChunk = chunkBytes / size
            var chunk = [UInt8](repeating: 0, count: perChunk * size)
            var converted = [Float](repeating: 0, count: fortran ? perChunk : 0)
            var done = 0
            while done < count {
                let k = min(perChunk, count - done)
                let n = try chunk.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<k * size])) }
                guard n == k * size else { throw ended(done * size + n) }
                chunk.withUnsafeBytes { raw in
                    guard fortran else {
                        convert(raw.baseAddress!, count: k, dtype: dtype, bigEndian: header.bigEndian, into: out.baseAddress! + done)
                        return
                    }
                    converted.withUnsafeMutableBufferPointer { values in
                        convert(raw.baseAddress!, count: k, dtype: dtype, bigEndian: header.bigEndian, into: values.baseAddress!)
                        for value in values[0..<k] {
                            out[target] = value
                            for d in 0..<shape.count {
                                index[d] += 1
                                target += rowStrides[d]
                                if index[d] < shape[d] { break }
                                target -= rowStrides[d] * shape[d]
                                index[d] = 0
                            }
                        }
                    }
                }
                done += k
            }
            initialized = count
        }
    }

    struct Header {
        var dtype: DType
        var bigEndian: Bool
        var fortranOrder: Bool
        var shape: [Int]
    }

    /// Parses the header dictionary, a Python literal such as
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    static func parseHeader(_ text: String, reader: ByteReader) throws -> Header {
        var parser = LiteralParser(characters: Array(text.unicodeScalars), reader: reader)
        let dictionary = try parser.parseDictionary()
        // NumPy pads the header with spaces and ends it with a newline; anything else after the
        // dictionary is not a header NumPy would read.
        guard parser.peek() == nil else { throw parser.fail("text after the closing brace") }
        guard case let .string(descr)? = dictionary["descr"] else {
            throw reader.error("header has no 'descr' string: \(text.trimmingTrailingSpace)")
        }
        guard case let .bool(fortranOrder)? = dictionary["fortran_order"] else {
            throw reader.error("header has no 'fortran_order' flag: \(text.trimmingTrailingSpace)")
        }
        guard case let .tuple(shape)? = dictionary["shape"] else {
            throw reader.error("header has no 'shape' tuple: \(text.trimmingTrailingSpace)")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw reader.error("negative dimension in shape \(shape)") }
        var kind = Substring(descr)
        var bigEndian = false
        if let order = kind.first, "<>|=".contains(order) {
            bigEndian = order == ">"
            kind = kind.dropFirst()
        }
        guard let dtype = DType(rawValue: String(kind)) else {
            throw reader.error("unsupported dtype '\(descr)' (supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")), little- or big-endian)")
        }
        return Header(dtype: dtype, bigEndian: bigEndian && dtype.size > 1, fortranOrder: fortranOrder, shape: shape)
    }

    /// A value of the header dictionary.
    enum Literal: Equatable {
        case string(String), bool(Bool), int(Int), tuple([Int]), other
    }

    /// A small parser for the subset of Python literals that `.npy` headers use.
    struct LiteralParser {
        let characters: [Unicode.Scalar]
        let reader: ByteReader
        var index = 0

        func fail(_ what: String) -> TandemError {
            reader.error("malformed header (\(what) at character \(index)): \(String(String.UnicodeScalarView(characters)).trimmingTrailingSpace)")
        }

        mutating func skipSpace() {
            while index < characters.count, characters[index].properties.isWhitespace { index += 1 }
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            skipSpace()
            guard index < characters.count, characters[index] == c else { throw fail("expected '\(c)'") }
            index += 1
        }

        mutating func peek() -> Unicode.Scalar? {
            skipSpace()
            return index < characters.count ? characters[index] : nil
        }

        mutating func parseDictionary() throws -> [String: Literal] {
            try expect("{")
            var result: [String: Literal] = [:]
            while peek() != "}" {
                guard case let .string(key) = try parseValue(depth: 2) else { throw fail("expected a string key") }
                try expect(":")
                guard result[key] == nil else { throw fail("key '\(key)' given twice") }
                result[key] = try parseValue(depth: 2)
                if peek() == "," { index += 1 } else if peek() != "}" { throw fail("expected ',' or '}'") }
            }
            index += 1
            return result
        }

        /// Values nest at most this deep (a shape tuple in the dictionary is depth 2): deeper input is
        /// refused instead of exhausting the stack.
        static let maximumDepth = 4

        mutating func parseValue(depth: Int = 1) throws -> Literal {
            guard depth <= Self.maximumDepth else { throw fail("values nested deeper than \(Self.maximumDepth) levels") }
            guard let c = peek() else { throw fail("unexpected end") }
            switch c {
            case "'", "\"":
                index += 1
                var text = String.UnicodeScalarView()
                while index < characters.count, characters[index] != c {
                    text.append(characters[index])
                    index += 1
                }
                guard index < characters.count else { throw fail("unterminated string") }
                index += 1
                return .string(String(text))
            case "(":
                index += 1
                var items: [Int] = []
                while peek() != ")" {
                    guard case let .int(n) = try parseValue(depth: depth + 1) else { throw fail("expected an integer dimension") }
                    items.append(n)
                    if peek() == "," { index += 1 } else if peek() != ")" { throw fail("expected ',' or ')'") }
                }
                index += 1
                return .tuple(items)
            case "[", "{":
                // Structured dtypes (a list of fields) or nested dictionaries: skip balanced brackets.
                var level = 0
                repeat {
                    guard index < characters.count else { throw fail("unbalanced brackets") }
                    let ch = characters[index]
                    if ch == "[" || ch == "{" || ch == "(" { level += 1 }
                    if ch == "]" || ch == "}" || ch == ")" { level -= 1 }
                    index += 1
                } while level > 0
                return .other
            default:
                var word = String.UnicodeScalarView()
                while index < characters.count, characters[index].properties.isAlphabetic || ("0"..."9").contains(characters[index])
                        || characters[index] == "-" || characters[index] == "_" {
                    word.append(characters[index])
                    index += 1
                }
                let token = String(word)
                if token == "True" { return .bool(true) }
                if token == "False" { return .bool(false) }
                // Python 2 wrote long integers with an `L` suffix.
                if let n = Int(token.hasSuffix("L") ? String(token.dropLast()) : token) { return .int(n) }
                throw fail(token.isEmpty ? "unexpected '\(c)'" : "unexpected '\(token)'")
            }
        }
    }

    /// Converts `count` elements of `dtype` at `base` (stored little- or big-endian) to Float at `out`.
    static func convert(_ base: UnsafeRawPointer, count: Int, dtype: DType, bigEndian: Bool, into out: UnsafeMutablePointer<Float>) {
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            let v = base.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
            return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
        }
        switch dtype {
        case .bool: for i in 0..<count { out[i] = base.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        case .int8: for i in 0..<count { out[i] = Float(load(Int8.self, i)) }
        case .uint8: for i in 0..<count { out[i] = Float(load(UInt8.self, i)) }
        case .int16: for i in 0..<count { out[i] = Float(load(Int16.self, i)) }
        case .uint16: for i in 0..<count { out[i] = Float(load(UInt16.self, i)) }
        case .int32: for i in 0..<count { out[i] = Float(load(Int32.self, i)) }
        case .uint32: for i in 0..<count { out[i] = Float(load(UInt32.self, i)) }
        case .int64: for i in 0..<count { out[i] = Float(load(Int64.self, i)) }
        case .uint64: for i in 0..<count { out[i] = Float(load(UInt64.self, i)) }
        case .float16: for i in 0..<count { out[i] = Float(halfBits: load(UInt16.self, i)) }
        case .float32: for i in 0..<count { out[i] = Float(bitPattern: load(UInt32.self, i)) }
        case .float64: for i in 0..<count { out[i] = Float(Double(bitPattern: load(UInt64.self, i))) }
        }
    }

    // MARK: Writing

    /// The bytes of a `.npy` file holding `array`, stored as `array.dtype` (values are rounded toward
    /// zero for integer types, booleans are value ≠ 0). Version 1.0 unless the header needs 2.0.
    public static func encode(_ array: NDArray) -> [UInt8] {
        let shapeText = array.shape.isEmpty ? "()"
            : array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(array.dtype.descr)', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
        let version: UInt8 = header.count + 1 + 10 <= 65535 ? 1 : 2
        let prefix = version == 1 ? 10 : 12
        let padding = (64 - (prefix + header.count + 1) % 64) % 64
        header.append(contentsOf: [UInt8](repeating: 0x20, count: padding))
        header.append(0x0A)
        var out = magic + [version, 0]
        if version == 1 { out.appendLittleEndian(UInt16(header.count)) } else { out.appendLittleEndian(UInt32(header.count)) }
        out.append(contentsOf: header)
        out.reserveCapacity(out.count + array.count * array.dtype.size)
        for v in array.values {
            switch array.dtype {
            case .bool: out.append(v != 0 ? 1 : 0)
            case .int8: out.appendLittleEndian(Int8(clamping: Int(exactly: v.rounded(.towardZero)) ?? 0))
            case .uint8: out.appendLittleEndian(UInt8(clamping: Int(exactly: v.rounded(.towardZero)) ?? 0))
            case .int16: out.appendLittleEndian(Int16(clamping: Int(exactly: v.rounded(.towardZero)) ?? 0))
            case .uint16: out.appendLittleEndian(UInt16(clamping: Int(exactly: v.rounded(.towardZero)) ?? 0))
            case .int32: out.appendLittleEndian(Int32(clamping: Int(exactly: v.rounded(.towardZero)) ?? 0))
            case .uint32: out.appendLittleEndian(UInt32(clamping: Int(exactly: v.rounded(.towardZero)) ?? 0))
            case .int64: out.appendLittleEndian(Int64(exactly: v.rounded(.towardZero)) ?? 0)
            case .uint64: out.appendLittleEndian(UInt64(exactly: v.rounded(.towardZero)) ?? 0)
            case .float16: out.appendLittleEndian(v.halfBits)
            case .float32: out.appendLittleEndian(v.bitPattern)
            case .float64: out.appendLittleEndian(Double(v).bitPattern)
            }
        }
        return out
    }

    /// Writes `array` to `path` atomically (a complete file or none). Throws naming the file on failure.
    public static func write(_ array: NDArray, to path: String) throws {
        guard System.writeFileAtomically(path, encode(array)) else {
            throw TandemError.invalidArgument(op: "NPY writer", message: "\(path): cannot be written")
        }
    }
}

extension String {
    var trimmingTrailingSpace: String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\n" { s = s.dropLast() }
        return String(s)
    }
}

extension Float {
    /// A Float from IEEE half-precision bits (portable: no dependence on the platform's Float16).
    init(halfBits h: UInt16) {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int(h >> 10 & 0x1f)
        let mantissa = Float(h & 0x3ff)
        switch exponent {
        case 0: self = sign * mantissa * 0x1p-24
        case 31: self = mantissa == 0 ? sign * .infinity : .nan
        default: self = sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// IEEE half-precision bits of this value (round to nearest even via Double arithmetic).
    var halfBits: UInt16 {
        if isNaN { return 0x7e00 }
        let sign: UInt16 = self.sign == .minus ? 0x8000 : 0
        let a = Double(magnitude)
        if a >= 65520 { return sign | 0x7c00 }
        if a < 0x1p-14 {
            // Subnormal: multiples of 2^-24.
            return sign | UInt16((a * 0x1p24).rounded(.toNearestOrEven))
        }
        let e = Int(a.exponent)
        let m = (a / Double(sign: .plus, exponent: e, significand: 1) - 1) * 1024
        var bits = UInt16(e + 15) << 10
        let rounded = m.rounded(.toNearestOrEven)
        bits += UInt16(rounded)  // a carry into the exponent is the correct rounding
        return sign | bits
    }
}
