/// Lays out a zip archive (no zip64) from members whose stored bytes are already final: the one
/// writer behind `NPZ.encode` (stored members, as `np.savez` writes them) and the tests that need
/// deflated or deliberately inconsistent members (a CRC or size that disagrees with the data).
public enum ZipWriter {
    /// One member as it goes into the archive.
    public struct Member: Sendable {
        /// The file name inside the archive (`x.npy`).
        public var name: String
        /// The compression method the headers state: 0 stored, 8 deflated.
        public var method: UInt16
        /// The bytes stored after the local header (compressed when `method` is 8).
        public var data: [UInt8]
        /// The CRC-32 of the uncompressed bytes, as the headers state it.
        public var crc: UInt32
        /// The uncompressed size the headers state.
        public var size: Int

        public init(name: String, method: UInt16, data: [UInt8], crc: UInt32, size: Int) {
            self.name = name
            self.method = method
            self.data = data
            self.crc = crc
            self.size = size
        }

        /// A stored (uncompressed) member holding `bytes`, with their true CRC and size.
        public static func stored(_ name: String, _ bytes: [UInt8]) -> Member {
            Member(name: name, method: 0, data: bytes, crc: Zlib.crc32(bytes), size: bytes.count)
        }
    }

    /// The archive's bytes: each member's local header and data, then the central directory and the
    /// end record. Headers use version 2.0, no flags, DOS date 1980-01-01 and mode 0644. Callers keep
    /// the archive below 4 GiB (every offset and size is 32 bits).
    public static func bytes(_ members: [Member]) -> [UInt8] {
        var out: [UInt8] = [], directory: [UInt8] = []
        for member in members {
            let name = Array(member.name.utf8)
            let offset = out.count
            out.appendLittleEndian(UInt32(0x0403_4b50))
            for v: UInt16 in [20, 0, member.method, 0, 0x21] { out.appendLittleEndian(v) }
            out.appendLittleEndian(member.crc)
            out.appendLittleEndian(UInt32(member.data.count))
            out.appendLittleEndian(UInt32(member.size))
            out.appendLittleEndian(UInt16(name.count))
            out.appendLittleEndian(UInt16(0))
            out.append(contentsOf: name)
            out.append(contentsOf: member.data)

            directory.appendLittleEndian(UInt32(0x0201_4b50))
            for v: UInt16 in [20, 20, 0, member.method, 0, 0x21] { directory.appendLittleEndian(v) }
            directory.appendLittleEndian(member.crc)
            directory.appendLittleEndian(UInt32(member.data.count))
            directory.appendLittleEndian(UInt32(member.size))
            for v: UInt16 in [UInt16(name.count), 0, 0, 0, 0] { directory.appendLittleEndian(v) }
            directory.appendLittleEndian(UInt32(0o644 << 16))
            directory.appendLittleEndian(UInt32(offset))
            directory.append(contentsOf: name)
        }
        let directoryOffset = out.count
        out.append(contentsOf: directory)
        out.appendLittleEndian(UInt32(0x0605_4b50))
        for v: UInt16 in [0, 0, UInt16(members.count), UInt16(members.count)] { out.appendLittleEndian(v) }
        out.appendLittleEndian(UInt32(directory.count))
        out.appendLittleEndian(UInt32(directoryOffset))
        out.appendLittleEndian(UInt16(0))
        return out
    }
}
