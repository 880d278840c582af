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
    /// never sees a half-written file. Returns false (leaving `path` untouched) on any failure.
    @discardableResult
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8]) -> Bool {
        let temporary = "\(path).tmp.\(getpid())"
        guard let file = fopen(temporary, "wb") else { return false }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        let flushed = fflush(file) == 0
        fclose(file)
        guard written == bytes.count, flushed, rename(temporary, path) == 0 else {
            unlink(temporary)
            return false
        }
        return true
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
