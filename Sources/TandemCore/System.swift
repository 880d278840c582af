#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small wrappers over the C library, so the runtime needs no Foundation.
public enum System {
    /// The value of an environment variable, or nil when unset or empty.
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// Writes `line` and a newline to standard error (diagnostics that must not mix with output).
    public static func printError(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// The whole contents of a file, or nil when it cannot be read.
    public static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count {
                if ferror(file) != 0 { return nil }
                break
            }
        }
        return bytes
    }

    /// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename, so a reader
    /// never sees a half-written file. Returns false (leaving `path` untouched) on any failure; see
    /// `writeFile(_:_:)` for the rules and the reason.
    @discardableResult
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8]) -> Bool { writeFile(path, bytes) == nil }

    /// Writes `bytes` to `path` crash-safely; nil on success, else why not (and `path` is untouched).
    ///
    /// The bytes go to a temporary file in the target's folder, which is flushed to the disk
    /// (`fsync`) before it is renamed over the target, and the folder is synced after, so a crash or
    /// a power cut at any point leaves the old file or the new one, never a torn or empty one. A
    /// symbolic link is written through (its target is replaced; the link stays); a path that is
    /// not a regular file (a device such as /dev/null, a FIFO, a folder) is refused, never replaced.
    public static func writeFile(_ path: String, _ bytes: [UInt8]) -> String? {
        var target = path
        var info = stat()
        if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK {
            guard let resolved = realpath(path, nil) else {
                return "\(path) is a symbolic link whose target cannot be resolved: \(errorMessage(errno))"
            }
            target = String(cString: resolved)
            free(resolved)
        }
        if stat(target, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
            return "\(path) is \(fileTypeName(info.st_mode)), not a regular file; refusing to replace it"
        }
        let temporary = "\(target).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return "cannot create \(temporary): \(errorMessage(errno))" }
        var failure: String?
        var offset = 0
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write \(temporary): \(errorMessage(errno))"
                    return
                }
                offset += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = "cannot flush \(temporary) to the disk: \(errorMessage(errno))" }
        close(fd)
        if failure == nil, rename(temporary, target) != 0 { failure = "cannot rename \(temporary) to \(target): \(errorMessage(errno))" }
        if let failure {
            unlink(temporary)
            return failure
        }
        // The rename itself is durable once the folder is synced.
        let directory = open(parentFolder(target), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
        return nil
    }

    /// The folder that holds `path`: what comes before its last `/` ("/" for a file at the root,
    /// "." for a bare file name).
    public static func parentFolder(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// "a character device", "a FIFO", … for a `st_mode`.
    static func fileTypeName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }

    /// Opens the regular file at `path` for reading: its descriptor (the caller closes it) and its
    /// size, or why not. A FIFO, a device (/dev/zero, /dev/urandom), a socket or a folder is refused
    /// by its type before anything is read, so nothing blocks or grows without bound.
    public static func openRegularFile(_ path: String) -> Result<(descriptor: Int32, size: Int), FileError> {
        // O_NONBLOCK: opening a FIFO without a writer must not hang before its type is seen.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .failure(FileError("cannot open \(path): \(errorMessage(errno))")) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            return .failure(FileError("cannot inspect \(path): \(errorMessage(code))"))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return .failure(FileError("\(path) is \(fileTypeName(info.st_mode)), not a regular file"))
        }
        return .success((fd, Int(info.st_size)))
    }

    /// Reads up to `count` bytes from `descriptor` into `buffer`, retrying after interruptions:
    /// the bytes read (fewer only at the end of the file), or the OS's reason for failing.
    public static func readFully(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, FileError> {
        var offset = 0
        while offset < buffer.count {
            let n = read(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .failure(FileError(errorMessage(errno)))
            }
            if n == 0 { break }
            offset += n
        }
        return .success(offset)
    }

    /// The bytes of the regular file at `path`, or why they cannot be read. A FIFO, a device
    /// (/dev/zero, /dev/urandom), a socket or a folder is refused by its type before anything is
    /// read (so nothing blocks or grows without bound), and a file larger than `limit` bytes is
    /// refused before it is allocated.
    public static func readRegularFile(_ path: String, limit: Int = Int.max) -> Result<[UInt8], FileError> {
        let fd: Int32, size: Int
        switch openRegularFile(path) {
        case let .success(file): (fd, size) = file
        case let .failure(error): return .failure(error)
        }
        defer { close(fd) }
        guard size <= limit else { return .failure(FileError("\(path) is \(size) bytes, above the limit of \(limit)")) }
        var bytes = [UInt8](repeating: 0, count: size)
        switch bytes.withUnsafeMutableBytes({ readFully(fd, into: $0) }) {
        case let .failure(error): return .failure(FileError("cannot read \(path): \(error)"))
        case let .success(n) where n < size: return .failure(FileError("\(path) shrank while it was read (\(n) of \(size) bytes)"))
        case .success: return .success(bytes)
        }
    }

    /// Why a file could not be read (`readRegularFile`).
    public struct FileError: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Creates `path` and its missing parents; true when the directory exists afterwards.
    @discardableResult
    public static func makeDirectories(_ path: String) -> Bool { createDirectories(path) == nil }

    /// Creates `path` and its missing parents, like `mkdir -p`: nil on success, else the operating
    /// system's message for the first part that could not be made ("Permission denied", "Not a
    /// directory" when a file is in the way), prefixed by that part when it is a parent of `path`.
    /// A `path` that exists as a file is not an error here (`mkdir` says only that it exists).
    public static func createDirectories(_ path: String) -> String? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                if code == EEXIST { continue }
                let failed = String(prefix.dropLast())
                return (failed == path ? "" : "\(failed): ") + errorMessage(code)
            }
        }
        return nil
    }

    /// The C library's message for the error number `code` (an `errno` value).
    public static func errorMessage(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "error \(code)" }
        return String(cString: message)
    }

    /// Number of online processors.
    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Physical memory in bytes.
    public static var physicalMemoryBytes: Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The process's resident set now and at its peak (`VmRSS` and `VmHWM` of /proc/self/status), in
    /// bytes; nil where the system does not report them. Long-run checks (the soak run, the run log)
    /// watch the first for growth; the benchmark reports the second.
    public static func residentMemory() -> (current: Int, peak: Int)? {
        guard let bytes = readFile("/proc/self/status") else { return nil }
        var current: Int?, peak: Int?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let isCurrent = line.hasPrefix("VmRSS:"), isPeak = line.hasPrefix("VmHWM:")
            guard isCurrent || isPeak, let kib = line.split(separator: " ").dropFirst().lazy.compactMap({ Int($0) }).first
            else { continue }
            if isCurrent { current = kib * 1024 } else { peak = kib * 1024 }
        }
        guard let current, let peak else { return nil }
        return (current, peak)
    }

    /// The CPU's marketing name from /proc/cpuinfo, or a generic name.
    public static var processorName: String {
        guard let bytes = readFile("/proc/cpuinfo") else { return "CPU" }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingSpaces()
            }
        }
        return "CPU"
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
