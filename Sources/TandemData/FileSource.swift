#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TandemCore

/// A `ByteSource` that reads a regular file from the disk in order, so a `.npy` file is decoded into
/// its array without the whole file in memory beside it. Opening refuses FIFOs, devices and folders
/// by type (`System.openRegularFile`); `closeFile()` releases the descriptor.
struct FileSource: ByteSource {
    private let descriptor: Int32
    /// The file's size when it was opened: what it claims to hold.
    let size: Int
    /// The path and the reader, for errors.
    let path: String, op: String

    /// Opens `path`, or throws `TandemError.invalidArgument(op:…)` with the reason.
    init(_ path: String, op: String) throws {
        switch System.openRegularFile(path) {
        case let .success(file): (descriptor, size) = file
        case let .failure(error): throw TandemError.invalidArgument(op: op, message: "\(error)")
        }
        self.path = path
        self.op = op
    }

    /// Closes the file.
    func closeFile() {
        _ = close(descriptor)
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        switch System.readFully(descriptor, into: buffer) {
        case let .success(n): return n
        case let .failure(error): throw TandemError.invalidArgument(op: op, message: "cannot read \(path): \(error)")
        }
    }
}
