import TandemCore

/// The arrays of an `.npz` archive, in archive order, by member name without the `.npy` suffix
/// (NumPy's `np.savez(file, x=..., left=...)` gives the names `x` and `left`).
public struct NPZArchive: Sendable {
    /// Member names in archive order, without `.npy`.
    public var names: [String]
    /// The arrays by name.
    public var arrays: [String: NDArray]

    /// An archive of `members` in the given order.
    public init(_ members: [(String, NDArray)]) {
        names = members.map(\.0)
        arrays = Dictionary(members, uniquingKeysWith: { _, last in last })
    }

    /// The array named `name`, or nil.
    public subscript(name: String) -> NDArray? { arrays[name] }
}

/// NumPy's `.npz` format: a zip archive of `.npy` members, stored (`np.savez`) or deflated
/// (`np.savez_compressed`), zip64 extensions included. The reader locates the central directory,
/// checks every member's local header, sizes, offsets and CRC-32, and decodes each member as `.npy`
/// as it streams: a deflated member is inflated (zlib, raw deflate) a piece at a time, its `.npy`
/// header checked against the zip entry's size and the `ReadLimits` before the array is allocated,
/// and the rest inflated straight into the array, so memory peaks at the arrays plus a fixed chunk
/// (not a decompressed copy beside them), and a zip bomb stops within a megabyte of output.
public enum NPZ {
    static let op = "NPZ reader"

    /// Reads every array of the `.npz` file at `path`. Throws `TandemError.invalidArgument(op:
    /// "NPZ reader", ...)` naming the file (and the member) on any inconsistency, or when the arrays
    /// together need more than `limits` allow (nil: `ReadLimits.fromEnvironment()`).
    public static func read(_ path: String, limits: ReadLimits? = nil) throws -> NPZArchive {
        let limits = try limits ?? .fromEnvironment()
        return try decode(try readWholeFile(path, op: op, limits: limits), file: path, limits: limits)
    }

    /// One member as listed in the central directory.
    struct Entry {
        var name: String
        var method: Int
        var flags: Int
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localOffset: Int
    }

    /// Decodes the bytes of an `.npz` file; `file` names it in errors. The members' arrays together
    /// may take at most `limits.maximumBytes` (nil: `ReadLimits.fromEnvironment()`).
    public static func decode(_ bytes: [UInt8], file: String, limits: ReadLimits? = nil) throws -> NPZArchive {
        let limits = try limits ?? .fromEnvironment()
        var reader = ByteReader(bytes, op: op, file: file)
        let entries = try centralDirectory(&reader)
        var members: [(String, NDArray)] = []
        var used = 0
        for entry in entries {
            if entry.name.hasSuffix("/") { continue }  // a directory entry
            var name = entry.name
            if name.hasSuffix(".npy") { name.removeLast(4) }
            guard !members.contains(where: { $0.0 == name }) else {
                throw reader.error("two members are named '\(name)'; each array needs its own name")
            }
            let array = try member(entry, reader: &reader, limits: limits, used: used)
            used += array.count * MemoryLayout<Float>.size
            members.append((name, array))
        }
        return NPZArchive(members)
    }

    /// Finds the end-of-central-directory record and reads every central directory entry.
    static func centralDirectory(_ reader: inout ByteReader) throws -> [Entry] {
        let bytes = reader.bytes
        guard bytes.count >= 22 else {
            throw reader.error(bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4b
                ? "truncated: \(bytes.count) bytes, too short for a zip archive"
                : "not a zip archive (an .npz file is a zip of .npy files)")
        }
        guard bytes[0] == 0x50, bytes[1] == 0x4b else {
            throw reader.error("not a zip archive (bad magic number; an .npz file is a zip of .npy files)")
        }
        // The end record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
        var eocd = -1
        var p = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while p >= lowest {
            if bytes[p] == 0x50, bytes[p + 1] == 0x4b, bytes[p + 2] == 5, bytes[p + 3] == 6 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw reader.error("truncated or corrupt zip archive: no end-of-central-directory record") }
        reader.position = eocd + 4
        _ = try reader.u16le("the disk number")
        _ = try reader.u16le("the central directory disk")
        _ = try reader.u16le("the entry count on this disk")
        var total = try reader.u16le("the entry count")
        var directorySize = try reader.u32le("the central directory size")
        var directoryOffset = try reader.u32le("the central directory offset")
        if total == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // zip64: a locator 20 bytes before the end record points at the zip64 end record.
            let locator = eocd - 20
            guard locator >= 0, Array(bytes[locator..<locator + 4]) == [0x50, 0x4b, 6, 7] else {
                throw reader.error("corrupt zip archive: zip64 sizes without a zip64 locator")
            }
            reader.position = locator + 8
            let recordOffset = try reader.u64le("the zip64 end record offset")
            guard recordOffset < UInt64(locator) else { throw reader.error("corrupt zip archive: zip64 end record offset \(recordOffset) is outside the file") }
            reader.position = Int(recordOffset)
            guard try reader.u32le("the zip64 end record") == 0x0606_4b50 else {
                throw reader.error("corrupt zip archive: no zip64 end record at offset \(recordOffset)")
            }
            try reader.skip(8 + 2 + 2 + 4 + 4 + 8, "the zip64 end record")
            let total64 = try reader.u64le("the zip64 entry count")
            let size64 = try reader.u64le("the zip64 central directory size")
            let offset64 = try reader.u64le("the zip64 central directory offset")
            guard total64 < 1 << 32, size64 < UInt64(bytes.count), offset64 < UInt64(bytes.count) else {
                throw reader.error("corrupt zip archive: zip64 central directory outside the file")
            }
            (total, directorySize, directoryOffset) = (Int(total64), Int(size64), Int(offset64))
        }
        guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
            throw reader.error("truncated or corrupt zip archive: the central directory (offset \(directoryOffset), \(directorySize) bytes) is outside the file of \(bytes.count) bytes")
        }
        reader.position = directoryOffset
        var entries: [Entry] = []
        for i in 0..<total {
            guard try reader.u32le("central directory entry \(i)") == 0x0201_4b50 else {
                throw reader.error("corrupt zip archive: bad signature of central directory entry \(i)")
            }
            try reader.skip(4, "central directory entry \(i)")
            let flags = try reader.u16le("central directory entry \(i)")
            let method = try reader.u16le("central directory entry \(i)")
            try reader.skip(4, "central directory entry \(i)")
            let crc = UInt32(try reader.u32le("central directory entry \(i)"))
            var compressed = try reader.u32le("central directory entry \(i)")
            var size = try reader.u32le("central directory entry \(i)")
            let nameLength = try reader.u16le("central directory entry \(i)")
            let extraLength = try reader.u16le("central directory entry \(i)")
            let commentLength = try reader.u16le("central directory entry \(i)")
            try reader.skip(8, "central directory entry \(i)")
            var offset = try reader.u32le("central directory entry \(i)")
            let name = String(decoding: try reader.bytes(nameLength, "the name of entry \(i)"), as: UTF8.self)
            var extra = ByteReader(Array(try reader.bytes(extraLength, "the extra field of '\(name)'")), op: op, file: reader.file)
            try reader.skip(commentLength, "the comment of '\(name)'")
            // zip64 extra field: the 64-bit values of whichever 32-bit fields are saturated, in order.
            while extra.remaining >= 4 {
                let id = try extra.u16le("an extra field of '\(name)'")
                let length = try extra.u16le("an extra field of '\(name)'")
                var field = ByteReader(Array(try extra.bytes(length, "an extra field of '\(name)'")), op: op, file: reader.file)
                guard id == 1 else { continue }
                func wide() throws -> Int {
                    let v = try field.u64le("the zip64 field of '\(name)'")
                    guard v < UInt64(Int32.max) * 1024 else { throw reader.error("corrupt zip64 size of '\(name)'") }
                    return Int(v)
                }
                if size == 0xFFFF_FFFF { size = try wide() }
                if compressed == 0xFFFF_FFFF { compressed = try wide() }
                if offset == 0xFFFF_FFFF { offset = try wide() }
            }
            entries.append(Entry(name: name, method: method, flags: flags, crc: crc, compressedSize: compressed, size: size, localOffset: offset))
        }
        return entries
    }

    /// One member decoded, checked against its local header and CRC. A stored member is decoded from
    /// the file's bytes in place; a deflated one is inflated as it is decoded (`NPY.decode(from:…)`):
    /// its claimed size must be within the ratio limit of its compressed size, agree with its `.npy`
    /// header and fit in `limits` after the `used` bytes of earlier members before its array is
    /// allocated, and the stream must end exactly there.
    static func member(_ entry: Entry, reader: inout ByteReader, limits: ReadLimits, used: Int) throws -> NDArray {
        let name = entry.name
        guard entry.flags & 1 == 0 else { throw reader.error("member '\(name)' is encrypted") }
        reader.position = entry.localOffset
        guard entry.localOffset < reader.bytes.count, try reader.u32le("the local header of '\(name)'") == 0x0403_4b50 else {
            throw reader.error("corrupt zip archive: no local header for '\(name)' at offset \(entry.localOffset)")
        }
        try reader.skip(2, "the local header of '\(name)'")
        _ = try reader.u16le("the local header of '\(name)'")
        let localMethod = try reader.u16le("the local header of '\(name)'")
        try reader.skip(16, "the local header of '\(name)'")
        let nameLength = try reader.u16le("the local header of '\(name)'")
        let extraLength = try reader.u16le("the local header of '\(name)'")
        let localName = String(decoding: try reader.bytes(nameLength, "the local name of '\(name)'"), as: UTF8.self)
        guard localName == name, localMethod == entry.method else {
            throw reader.error("corrupt zip archive: the local header of '\(name)' disagrees with the central directory")
        }
        try reader.skip(extraLength, "the local extra field of '\(name)'")
        guard entry.compressedSize <= reader.remaining else {
            throw reader.error("truncated: member '\(name)' needs \(entry.compressedSize) bytes at offset \(reader.position), the file has \(reader.remaining) left")
        }
        let stored = try reader.bytes(entry.compressedSize, "the data of '\(name)'")
        let memberFile = "\(reader.file):\(name)"
        let array: NDArray
        let crc: UInt32
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.size else {
                throw reader.error("corrupt zip archive: stored member '\(name)' has compressed size \(entry.compressedSize) but size \(entry.size)")
            }
            crc = Zlib.crc32(stored)
            guard crc == entry.crc else { throw crcMismatch(entry, computed: crc, reader: reader) }
            var source = MemorySource(stored)
            array = try NPY.decode(from: &source, size: entry.size, file: memberFile, limits: limits, used: used)
        case 8:
            let inflater = try Inflater(stored, format: .raw, limits: limits, file: memberFile, op: op)
            try inflater.requirePlausible(entry.size, what: "the zip entry")
            var source = inflater
            array = try NPY.decode(from: &source, size: entry.size, file: memberFile, limits: limits, used: used)
            try inflater.requireEnd(expected: entry.size, what: "the zip entry and the .npy header state")
            crc = inflater.crc
        default:
            throw reader.error("member '\(name)' uses compression method \(entry.method); only stored (0) and deflate (8) are supported")
        }
        guard crc == entry.crc else { throw crcMismatch(entry, computed: crc, reader: reader) }
        return array
    }

    /// The error for a member whose data does not match its CRC-32.
    static func crcMismatch(_ entry: Entry, computed: UInt32, reader: ByteReader) -> TandemError {
        reader.error("CRC mismatch in member '\(entry.name)' (stored \(hex(entry.crc)), computed \(hex(computed))): the archive is corrupt")
    }

    static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    // MARK: Writing

    /// The bytes of an uncompressed `.npz` archive (like `np.savez`) holding `members` in order,
    /// each stored as `<name>.npy`.
    public static func encode(_ members: [(String, NDArray)]) -> [UInt8] {
        ZipWriter.bytes(members.map { ZipWriter.Member.stored($0.0 + ".npy", NPY.encode($0.1)) })
    }

    /// Writes an uncompressed `.npz` archive of `members` to `path` atomically. Archives past 4 GiB
    /// (which need zip64) are refused.
    public static func write(_ members: [(String, NDArray)], to path: String) throws {
        let total = members.reduce(0) { $0 + $1.1.count * $1.1.dtype.size + 200 }
        guard total < Int(UInt32.max) else {
            throw TandemError.invalidArgument(op: "NPZ writer", message: "\(path): archives over 4 GiB are not supported")
        }
        guard System.writeFileAtomically(path, encode(members)) else {
            throw TandemError.invalidArgument(op: "NPZ writer", message: "\(path): cannot be written")
        }
    }
}
