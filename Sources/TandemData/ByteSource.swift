/// Bytes read in order and in pieces by the streaming decoders (`NPY.decode(from:…)`, IDX): a buffer
/// already in memory (`MemorySource`: a stored `.npz` member, a whole file) or a stream being
/// inflated (`Inflater`: a deflated member, a gzip file). A decoder reads a header first, checks the
/// sizes it claims, and only then reads the data straight into the final array's storage, so memory
/// peaks at that array plus a fixed chunk instead of a decompressed copy beside it.
protocol ByteSource {
    /// Fills `buffer` with the next bytes and returns how many it wrote: `buffer.count`, or fewer
    /// only when the source has ended. Throws when the bytes cannot be produced (corrupt or truncated
    /// compressed data, a limit exceeded).
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// The next `count` bytes as an array, shorter only when the source ends first.
    mutating func bytes(_ count: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        let n = try result.withUnsafeMutableBytes { try read(into: $0) }
        result.removeLast(count - n)
        return result
    }
}
