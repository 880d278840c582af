#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TandemCore

/// One output file of a run log, written through the C library and flushed after each record so that
/// `tail -f` or TensorBoard sees every record as soon as it is written. Errors name the file and the
/// operating system's reason.
final class LogFile {
    /// The file's path.
    let path: String
    private var handle: UnsafeMutablePointer<FILE>?

    /// Opens `path` for appending; the file is created when missing.
    init(appendingTo path: String) throws(RunLogError) {
        self.path = path
        guard let handle = fopen(path, "a") else {
            throw RunLogError(path: path, operation: "cannot open", reason: Self.reason())
        }
        self.handle = handle
    }

    /// Creates `path` for writing; nil when a file of that name exists already.
    init?(creating path: String) throws(RunLogError) {
        self.path = path
        guard let handle = fopen(path, "wx") else {
            if errno == EEXIST { return nil }
            throw RunLogError(path: path, operation: "cannot create", reason: Self.reason())
        }
        self.handle = handle
    }

    deinit { close() }

    /// Whether the file holds nothing yet (a new file, or an empty one being appended to).
    var isEmpty: Bool {
        guard let handle else { return true }
        var info = stat()
        return fstat(fileno(handle), &info) == 0 && info.st_size == 0
    }

    /// Writes `bytes` and flushes them to the operating system.
    func write(_ bytes: [UInt8]) throws(RunLogError) {
        guard let handle else { throw RunLogError(path: path, operation: "cannot write", reason: "the file is closed") }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
        guard written == bytes.count, fflush(handle) == 0 else {
            throw RunLogError(path: path, operation: "cannot write", reason: Self.reason())
        }
    }

    /// Writes `text` as UTF-8 and flushes it.
    func write(_ text: String) throws(RunLogError) { try write(Array(text.utf8)) }

    /// Flushes and closes the file; later writes throw. Closing twice does nothing.
    func close() {
        guard let handle else { return }
        fclose(handle)
        self.handle = nil
    }

    /// Creates `directory` and its missing parents, like `mkdir -p`; throws when that fails or when a
    /// file that is not a directory has its name.
    static func makeDirectories(_ directory: String) throws(RunLogError) {
        func fail(_ reason: String) -> RunLogError {
            RunLogError(path: directory, operation: "cannot create the directory", reason: reason)
        }
        if let reason = System.createDirectories(directory) { throw fail(reason) }
        var info = stat()
        guard stat(directory, &info) == 0 else { throw fail(reason()) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw fail("a file that is not a directory is in the way") }
    }

    /// The operating system's message for the current `errno`.
    static func reason() -> String { System.errorMessage(errno) }

    /// The machine's host name, or "localhost" when it cannot be read.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// Seconds since the Unix epoch, with the clock's sub-second part.
    static func wallTime() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
