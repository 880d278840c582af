import TandemCore
import TandemSupport

/// The safetensors format (Hugging Face): an 8-byte little-endian header length n, n bytes of
/// UTF-8 JSON mapping each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets
/// into the data area that follows the header) plus an optional `"__metadata__"` map of strings, then
/// the data area, row-major and little-endian.
///
/// Tandem writes `F32` only and reads `F32`, `F64`, `F16` and `BF16` (converted to Float, so PyTorch
/// checkpoints in other float types load too). Every read validates the header length against the file
/// size, the JSON, each dtype, that each shape's byte count equals its offsets' span, and that the
/// offsets lie inside the data area, do not overlap and cover it completely (as the reference
/// implementation requires). Errors are `TandemError.invalidArgument` naming the file and the problem.
public enum Safetensors {
    /// One tensor of a safetensors file: its name, shape and row-major values.
    public struct Entry: Sendable, Equatable {
        /// The tensor's name (a PyTorch state-dict key, for example `shared.0.0.weight`).
        public var name: String
        /// The tensor's shape; `[]` for a scalar.
        public var shape: [Int]
        /// Row-major values, `shape`'s product of them.
        public var values: [Float]

        /// An entry named `name` of `shape` holding `values`.
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// What a safetensors file holds: its tensors, in data-offset order, and its metadata.
    public struct Contents: Sendable, Equatable {
        /// The tensors, ordered by where their data starts.
        public var tensors: [Entry]
        /// The `__metadata__` map (empty when the file has none).
        public var metadata: [String: String]

        /// Contents of `tensors` with `metadata`.
        public init(tensors: [Entry], metadata: [String: String] = [:]) {
            self.tensors = tensors
            self.metadata = metadata
        }

        /// The tensor named `name`, or nil.
        public subscript(name: String) -> Entry? { tensors.first { $0.name == name } }
    }

    /// Largest header accepted (as in the reference implementation: 100 MB).
    public static let maximumHeaderBytes = 100_000_000

    // MARK: Writing

    /// The bytes of a safetensors file holding `tensors` (as `F32`, in the given order) and `metadata`.
    /// The header is padded with spaces to a multiple of 8 bytes so the data area is aligned.
    /// Throws on duplicate or empty names, a name `__metadata__`, or values that do not fill a shape.
    public static func encode(_ tensors: [Entry], metadata: [String: String] = [:]) throws -> [UInt8] {
        var header = "{"
        var first = true
        if !metadata.isEmpty {
            header += "\"__metadata__\":{"
            header += metadata.keys.sorted().map { "\(JSON.quote($0)):\(JSON.quote(metadata[$0] ?? ""))" }.joined(separator: ",")
            header += "}"
            first = false
        }
        var seen = Set<String>()
        var offset = 0
        for entry in tensors {
            guard !entry.name.isEmpty, entry.name != "__metadata__", seen.insert(entry.name).inserted else {
                throw TandemError.invalidArgument(
                    op: "Safetensors.encode", message: "tensor name '\(entry.name)' is empty, reserved or appears twice")
            }
            guard entry.shape.allSatisfy({ $0 >= 0 }), entry.shape.reduce(1, *) == entry.values.count else {
                throw TandemError.invalidArgument(
                    op: "Safetensors.encode", message: "tensor '\(entry.name)' has shape \(entry.shape) but \(entry.values.count) values")
            }
            let end = offset + 4 * entry.values.count
            header += (first ? "" : ",") + "\(JSON.quote(entry.name)):{\"dtype\":\"F32\",\"shape\":["
                + entry.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}"
            first = false
            offset = end
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + headerBytes.count + offset)
        var length = UInt64(headerBytes.count)
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: length))
            length >>= 8
        }
        bytes.append(contentsOf: headerBytes)
        for entry in tensors {
            for value in entry.values {
                let bits = value.bitPattern
                bytes.append(UInt8(truncatingIfNeeded: bits))
                bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
                bytes.append(UInt8(truncatingIfNeeded: bits >> 16))
                bytes.append(UInt8(truncatingIfNeeded: bits >> 24))
            }
        }
        return bytes
    }

    /// Writes `tensors` and `metadata` to `path` atomically (a temporary file beside it, then a
    /// rename): a reader sees the old file or the new one, never half of one.
    public static func write(_ tensors: [Entry], metadata: [String: String] = [:], to path: String) throws {
        let bytes = try encode(tensors, metadata: metadata)
        if let failure = System.writeFile(path, bytes) {
            throw TandemError.invalidArgument(op: "Safetensors.write", message: "\(path): cannot write the file (\(bytes.count) bytes): \(failure)")
        }
    }

    // MARK: Reading

    /// Reads and validates the safetensors file at `path`.
    public static func read(_ path: String) throws -> Contents {
        switch System.readRegularFile(path) {
        case let .success(bytes): return try decode(bytes, file: path)
        case let .failure(error): throw TandemError.invalidArgument(op: "Safetensors.read", message: "\(error)")
        }
    }

    /// Decodes and validates the bytes of a safetensors file; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String = "<memory>") throws -> Contents {
        func fail(_ message: String) -> TandemError {
            TandemError.invalidArgument(op: "Safetensors.read", message: "\(file): \(message)")
        }
        guard bytes.count >= 8 else { throw fail("file of \(bytes.count) bytes is too short for the 8-byte header length") }
        var length: UInt64 = 0
        for i in (0..<8).reversed() { length = length << 8 | UInt64(bytes[i]) }
        guard length <= UInt64(maximumHeaderBytes) else { throw fail("header length \(length) exceeds the limit of \(maximumHeaderBytes) bytes") }
        let headerLength = Int(length)
        guard headerLength >= 2, headerLength <= bytes.count - 8 else {
            throw fail("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes; truncated?)")
        }
        let dataStart = 8 + headerLength
        let dataLength = bytes.count - dataStart
        // Every number of a valid header is a shape or an offset: a fraction or an exponent is refused.
        let json: JSON
        do throws(JSON.ParseError) {
            json = try JSON.parse(bytes[8..<dataStart], integersOnly: true)
        } catch {
            throw fail("header is not valid JSON: \(error.message) at byte \(error.position)")
        }
        guard case .object(let members) = json else { throw fail("header is not a JSON object") }

        var metadata: [String: String] = [:]
        struct Pending { var name: String; var dtype: String; var shape: [Int]; var begin: Int; var end: Int }
        var pending: [Pending] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let pairs) = value else { throw fail("__metadata__ is not an object of strings") }
                for (key, item) in pairs {
                    guard case .string(let text) = item else { throw fail("__metadata__ value of '\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard case .object(let fields) = value else { throw fail("tensor '\(name)' is not an object") }
            var dtype: String?, shape: [Int]?, offsets: [Int]?
            for (key, item) in fields {
                switch key {
                case "dtype":
                    guard case .string(let text) = item else { throw fail("tensor '\(name)': dtype is not a string") }
                    dtype = text
                case "shape":
                    guard let dims = item.exactIntegers, dims.allSatisfy({ $0 >= 0 }) else {
                        throw fail("tensor '\(name)': shape is not an array of non-negative integers")
                    }
                    shape = dims
                case "data_offsets":
                    guard let pair = item.exactIntegers, pair.count == 2 else {
                        throw fail("tensor '\(name)': data_offsets is not a pair of integers")
                    }
                    offsets = pair
                default:
                    throw fail("tensor '\(name)': unknown field '\(key)'")
                }
            }
            guard let dtype, let shape, let offsets else {
                throw fail("tensor '\(name)' lacks \(dtype == nil ? "dtype" : shape == nil ? "shape" : "data_offsets")")
            }
            guard let width = elementBytes(dtype) else {
                throw fail("tensor '\(name)' has dtype \(dtype); Tandem reads F32, F64, F16 and BF16")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] outside the data area of \(dataLength) bytes (file truncated?)")
            }
            var elements = 1
            for d in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, product <= dataLength else {
                    throw fail("tensor '\(name)': shape \(shape) is larger than the data area of \(dataLength) bytes")
                }
                elements = product
            }
            guard elements * width == end - begin else {
                throw fail("tensor '\(name)': shape \(shape) of \(dtype) needs \(elements * width) bytes, data_offsets span \(end - begin)")
            }
            pending.append(Pending(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        pending.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        for p in pending {
            guard p.begin >= covered else {
                throw fail("tensor '\(p.name)': data_offsets [\(p.begin), \(p.end)] overlap the previous tensor (ending at \(covered))")
            }
            guard p.begin == covered else {
                throw fail("bytes \(covered)..<\(p.begin) of the data area belong to no tensor")
            }
            covered = p.end
        }
        guard covered == dataLength else {
            throw fail("the tensors cover \(covered) bytes but the data area holds \(dataLength)")
        }
        let tensors = pending.map { p in
            Entry(name: p.name, shape: p.shape, values: decodeValues(bytes, from: dataStart + p.begin, to: dataStart + p.end, dtype: p.dtype))
        }
        return Contents(tensors: tensors, metadata: metadata)
    }

    /// Bytes per element of a dtype Tandem reads, or nil.
    static func elementBytes(_ dtype: String) -> Int? {
        switch dtype {
        case "F32": return 4
        case "F64": return 8
        case "F16", "BF16": return 2
        default: return nil
        }
    }

    /// The little-endian values of `bytes[begin..<end]` as Float.
    static func decodeValues(_ bytes: [UInt8], from begin: Int, to end: Int, dtype: String) -> [Float] {
        bytes.withUnsafeBufferPointer { raw in
            func word(_ at: Int, _ width: Int) -> UInt64 {
                var value: UInt64 = 0
                for i in (0..<width).reversed() { value = value << 8 | UInt64(raw[at + i]) }
                return value
            }
            switch dtype {
            case "F64":
                return stride(from: begin, to: end, by: 8).map { Float(Double(bitPattern: word($0, 8))) }
            case "F16":
                return stride(from: begin, to: end, by: 2).map { Float(halfToDouble(UInt16(word($0, 2)))) }
            case "BF16":
                return stride(from: begin, to: end, by: 2).map { Float(bitPattern: UInt32(word($0, 2)) << 16) }
            default:
                return stride(from: begin, to: end, by: 4).map { Float(bitPattern: UInt32(word($0, 4))) }
            }
        }
    }

    /// An IEEE half-precision value from its bits (without relying on the platform's Float16).
    static func halfToDouble(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 10 & 0x1f), fraction = Double(bits & 0x3ff)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }
}
