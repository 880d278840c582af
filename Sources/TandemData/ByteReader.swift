import TandemCore

/// Bounds-checked reading of a byte array, for the file readers: every read past the end throws a
/// `TandemError.invalidArgument` naming the reader and the file instead of trapping.
struct ByteReader {
    let bytes: [UInt8]
    /// The reader's name for errors, e.g. "NPY reader".
    let op: String
    /// The file being read, for errors.
    let file: String
    var position: Int

    init(_ bytes: [UInt8], op: String, file: String, position: Int = 0) {
        self.bytes = bytes
        self.op = op
        self.file = file
        self.position = position
    }

    /// An error naming the reader and the file.
    func error(_ message: String) -> TandemError {
        TandemError.invalidArgument(op: op, message: "\(file): \(message)")
    }

    var remaining: Int { bytes.count - position }

    /// Throws unless `count` bytes are left at `offset`.
    func require(_ count: Int, at offset: Int, _ what: String) throws {
        guard count >= 0, offset >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw error("truncated: \(what) needs \(count) bytes at offset \(offset), the file has \(bytes.count)")
        }
    }

    mutating func skip(_ count: Int, _ what: String) throws {
        try require(count, at: position, what)
        position += count
    }

    mutating func bytes(_ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
        try require(count, at: position, what)
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func u8(_ what: String) throws -> UInt8 {
        try require(1, at: position, what)
        defer { position += 1 }
        return bytes[position]
    }

    /// A little-endian unsigned integer of `width` bytes.
    mutating func littleEndian(_ width: Int, _ what: String) throws -> UInt64 {
        try require(width, at: position, what)
        var value: UInt64 = 0
        for i in 0..<width { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += width
        return value
    }

    /// A big-endian unsigned integer of `width` bytes.
    mutating func bigEndian(_ width: Int, _ what: String) throws -> UInt64 {
        try require(width, at: position, what)
        var value: UInt64 = 0
        for i in 0..<width { value = value << 8 | UInt64(bytes[position + i]) }
        position += width
        return value
    }

    mutating func u16le(_ what: String) throws -> Int { Int(try littleEndian(2, what)) }
    mutating func u32le(_ what: String) throws -> Int { Int(try littleEndian(4, what)) }
    mutating func u64le(_ what: String) throws -> UInt64 { try littleEndian(8, what) }
}

/// Appends little-endian integers, for the writers.
extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }
}

/// The bytes of the regular file at `path`, or an error naming it: a FIFO, a device or a folder is
/// refused by type, and a file larger than `limits.maximumBytes` before it is allocated.
func readWholeFile(_ path: String, op: String, limits: ReadLimits) throws -> [UInt8] {
    var source = try FileSource(path, op: op)
    defer { source.closeFile() }
    guard source.size <= limits.maximumBytes else {
        throw TandemError.invalidArgument(op: op, message: "\(path): the file is \(source.size) bytes, more than \(limits.bytesDescription)")
    }
    let size = source.size
    return try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        let n = try source.read(into: UnsafeMutableRawBufferPointer(buffer))
        guard n == size else {
            throw TandemError.invalidArgument(op: op, message: "\(path) shrank while it was read (\(n) of \(size) bytes)")
        }
        initialized = n
    }
}
