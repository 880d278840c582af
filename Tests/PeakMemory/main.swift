#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `PeakMemory OUT COMMAND [ARG...]`: runs COMMAND (standard streams and environment inherited),
/// waits for it, writes its peak resident memory in bytes (`wait4`'s `ru_maxrss`) to the file OUT,
/// and exits with COMMAND's status, like `/usr/bin/time -f %M`.
///
/// For the tests that bound a reader's memory in a child process: measured from the test process
/// itself, the number would include the test process's own memory, because `posix_spawn` runs the
/// child in the parent's address space until `exec`, and Linux folds that address space's
/// high-water mark into the child's `ru_maxrss`. This small process is that parent instead.
/// Writes `message` to standard error and exits with `code`.
func fail(_ message: String, _ code: Int32) -> Never {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: PeakMemory OUT COMMAND [ARG...]", 64) }
let argv = arguments[2...].map { strdup($0) } + [nil]
var pid: pid_t = 0
let spawned = posix_spawnp(&pid, arguments[2], nil, nil, argv, environ)
guard spawned == 0 else { fail("PeakMemory: cannot run \(arguments[2]): \(String(cString: strerror(spawned)))", 127) }
var status: Int32 = 0
var usage = rusage()
while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
#if canImport(Darwin)
let peak = usage.ru_maxrss  // bytes on Darwin
#else
let peak = usage.ru_maxrss * 1024  // KiB on Linux
#endif
guard let file = fopen(arguments[1], "w") else { fail("PeakMemory: cannot write \(arguments[1])", 1) }
fputs("\(peak)\n", file)
fclose(file)
// The command's exit status, or 128 + the signal that ended it, as a shell reports it.
exit(status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f)
