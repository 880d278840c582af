/// The group of one: every collective returns its input (a mean over one rank is the value itself).
/// Training with it is exactly training without data parallelism.
public final class SingleProcess: Communicator, @unchecked Sendable {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var transport: String { "single process" }
    public var timeoutSeconds: Double = .infinity
    public func allReduce(_ buffer: inout [Float], _ operation: ReduceOperation) throws {}
    public func allReduce(_ buffer: inout [Double], _ operation: ReduceOperation) throws {}
    public func broadcast(_ buffer: inout [UInt8], root: Int) throws {}
    public func allGather(_ values: [Double]) throws -> [[Double]] { [values] }
    public func barrier() throws {}
    public func abort(code: Int32) {}
}
