/// A run log that cannot be written: what was being done, to which path, and the operating system's
/// reason (for example "Not a directory" or "Permission denied").
public struct RunLogError: Error, CustomStringConvertible, Sendable {
    /// The file or directory concerned.
    public var path: String
    /// What failed, for example "cannot create the directory".
    public var operation: String
    /// Why: the operating system's message, or a description of the problem.
    public var reason: String

    /// An error about `path`.
    public init(path: String, operation: String, reason: String) {
        self.path = path
        self.operation = operation
        self.reason = reason
    }

    public var description: String { "run log: \(operation) \(path): \(reason)" }
}
