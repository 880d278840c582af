/// Every failure Tandem reports: each case names the operation, and where it applies the shapes and
/// the device, so a message read in a log says what went wrong and where.
public enum TandemError: Error, Equatable, CustomStringConvertible {
    /// A caller passed something the operation cannot accept (a shape, an axis, a size, a name).
    case invalidArgument(op: String, message: String)
    /// A device selector names no device; `available` lists the selectors that exist.
    case deviceNotFound(selector: String, available: [String])
    /// The device reported an error code while running `op`.
    case backend(op: String, device: String, message: String)
    /// An OpenCL program did not compile; `log` is the compiler's build log.
    case buildFailed(program: String, device: String, log: String)
    /// The device could not allocate `bytes`.
    case outOfMemory(device: String, bytes: Int)

    public var description: String {
        switch self {
        case let .invalidArgument(op, message):
            return "\(op): \(message)"
        case let .deviceNotFound(selector, available):
            return "no device '\(selector)'; available: \(available.joined(separator: ", "))"
        case let .backend(op, device, message):
            return "\(op) on \(device): \(message)"
        case let .buildFailed(program, device, log):
            return "OpenCL program '\(program)' failed to build on \(device):\n\(log)"
        case let .outOfMemory(device, bytes):
            return "out of memory on \(device): could not allocate \(bytes) bytes"
        }
    }
}
