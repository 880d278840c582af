import ArgumentParser
import Synchronization
import Tandem

#if canImport(Glibc)
import Glibc
#endif

/// The signal that asked the run to stop (SIGINT or SIGTERM), 0 when none did. The first one lets
/// the current step finish, saves a checkpoint and prints the resume command; a second SIGINT
/// exits at once.
let interruptSignal = Atomic<Int32>(0)

/// Signal handling of a training run.
enum Interrupts {
    /// Installs the handlers: the first SIGINT or SIGTERM is recorded, a second SIGINT ends the
    /// process at once (exit 130, `_exit` being safe in a signal handler).
    static func install() {
        interruptSignal.store(0, ordering: .relaxed)
        let handler: @convention(c) (Int32) -> Void = { signal in
            let (exchanged, _) = interruptSignal.compareExchange(expected: 0, desired: signal, ordering: .relaxed)
            if !exchanged, signal == SIGINT { _exit(130) }
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A parent may have started us with these signals blocked (some process launchers and test
        // runners do); blocked, they would never reach the handler.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    /// Restores the default handlers.
    static func remove() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// The signal received, if any.
    static var received: Int32? {
        let value = interruptSignal.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    /// The exit status of a run stopped by `signal` (128 + the signal number, as shells report it).
    static func exitCode(_ signal: Int32) -> ExitCode { ExitCode(128 + signal) }
}

/// The program as a user would type it again: `$TANDEM_PROGRAM` (the bundle's launcher sets it),
/// else the real path of this executable.
func programPath() -> String {
    if let launcher = System.environment("TANDEM_PROGRAM"), !launcher.isEmpty { return launcher }
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return CommandLine.arguments.first ?? "tandem" }
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `path` made absolute (resolved by the C library), so a printed command works from any folder;
/// `path` itself when it cannot be resolved.
func absolutePath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// `text` quoted for a POSIX shell when it needs quoting (single quotes, with each ' written '\'').
func shellQuoted(_ text: String) -> String {
    let safe = text.utf8.allSatisfy { byte in
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || "/._-:=,+@%".utf8.contains(byte)
    }
    if safe && !text.isEmpty { return text }
    return "'" + text.replacingAll("'", with: "'\\''") + "'"
}

extension String {
    /// Every occurrence of `target` replaced by `replacement` (the standard library has no such
    /// method without Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        var parts: [Substring] = []
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            parts.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        parts.append(rest)
        return parts.joined(separator: replacement)
    }
}

/// An I/O or data problem found by a command: printed as `Error: …` with exit status 1. (Usage
/// mistakes are `ValidationError`s, exit status 64, with the subcommand's usage.)
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reports a usage mistake found after parsing (a resumed run given a different recipe) as
/// ArgumentParser reports one found while parsing: the message and the subcommand's usage on
/// standard error, exit status 64.
func usageFailure(_ message: String, command: ParsableCommand.Type) -> ExitCode {
    let usage = TandemCommand.usageString(for: command)
    let name = command.configuration.commandName ?? ""
    System.printError("Error: \(message)\n\(usage.hasPrefix("Usage:") ? usage : "Usage: " + usage)\n  See 'tandem \(name) --help' for more information.")
    return ExitCode.validationFailure
}

/// Output paths, checked before training starts so that a wrong path fails in a second rather than
/// after the whole run.
enum OutputPaths {
    /// Throws `CommandError` naming `option`, `path` and the OS reason when a file cannot be created
    /// at `path` (its folder missing or read-only, the path a folder). Leaves no file behind.
    static func checkFile(_ path: String, option: String) throws {
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
            throw CommandError("\(option) \(path): not a regular file (a directory, device or FIFO); give a file path")
        }
        let folder = System.parentFolder(path)
        guard access(folder, W_OK) == 0 else {
            throw CommandError("\(option) \(path): cannot write in \(folder): \(System.errorMessage(errno))")
        }
        if access(path, F_OK) == 0, access(path, W_OK) != 0 {
            throw CommandError("\(option) \(path): \(System.errorMessage(errno))")
        }
    }

    /// Creates `path` and its parents as folders when missing; throws `CommandError` when that fails
    /// or `path` is not a writable folder.
    static func makeFolder(_ path: String, option: String) throws {
        if let failure = System.createDirectories(path) { throw CommandError("\(option) \(path): cannot create it: \(failure)") }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw CommandError("\(option) \(path): not a directory") }
        guard access(path, W_OK) == 0 else { throw CommandError("\(option) \(path): \(System.errorMessage(errno))") }
    }

    /// Writes `text` to `path` atomically or throws `CommandError` naming `what` and the OS reason.
    static func write(_ text: String, to path: String, what: String) throws {
        if let failure = System.writeFile(path, Array(text.utf8)) {
            throw CommandError("cannot write the \(what) to \(path): \(failure)")
        }
    }
}

/// `--bucket-mb` of `tandem train` and `tandem bench`: MiB of gradients per all-reduce bucket.
enum BucketSize {
    /// Throws unless `megabytes` is a positive number of MiB, at most 1 TiB.
    static func validate(_ megabytes: Double?) throws {
        if let megabytes, !(megabytes > 0 && megabytes <= 1_048_576) {
            throw ValidationError("--bucket-mb must be a positive number of MiB (at most 1048576), not \(megabytes)")
        }
    }

    /// `megabytes` in bytes (at least one float).
    static func bytes(_ megabytes: Double?) -> Int? {
        megabytes.map { Swift.max(Int($0 * 1_048_576), 4) }
    }
}
