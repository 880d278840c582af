/// Ranks that are devices of several processes: `mpirun -np R tandem train --devices a,b` gives R·D
/// ranks, D threads per process. A collective first combines the threads of each process in shared
/// memory (`local`), then the processes' leaders (local rank 0, the thread that joined MPI) combine
/// those over `outer`, and each leader hands the result to its threads. Global rank =
/// outer rank · D + local rank, so rank 0 is process 0's first device.
///
/// Every process must run the same number of devices (`checkSameDeviceCount` says so before
/// training). Results are bit-identical on every rank: each process's leader gets the same outer
/// result, and its threads copy it.
public final class HierarchicalCommunicator: Communicator, @unchecked Sendable {
    public let local: LocalCommunicator
    public let outer: any Communicator

    public init(local: LocalCommunicator, outer: any Communicator) {
        self.local = local
        self.outer = outer
    }

    /// One communicator per thread of `group`, over `outer` (this process's rank of the job).
    public static func over(_ outer: any Communicator, group: LocalGroup) -> [HierarchicalCommunicator] {
        group.communicators.map { HierarchicalCommunicator(local: $0, outer: outer) }
    }

    /// Throws unless every process of `outer` runs `devices` devices (call from the thread that
    /// joined `outer`, before the threads start).
    public static func checkSameDeviceCount(_ devices: Int, over outer: any Communicator) throws {
        var extremes = [Double(devices), -Double(devices)]
        try outer.allReduce(&extremes, .max)
        guard extremes[0] == Double(devices), -extremes[1] == Double(devices) else {
            throw CommunicatorError.mismatch(operation: "--devices under mpirun", message: "rank \(outer.rank) runs \(devices) devices, others between \(Int(-extremes[1])) and \(Int(extremes[0])); give every rank the same --devices list length")
        }
    }

    public var rank: Int { outer.rank * local.size + local.rank }
    public var size: Int { outer.size * local.size }
    public var transport: String { "\(outer.transport) × threads of one process" }
    public var timeoutSeconds: Double {
        get { local.timeoutSeconds }
        set {
            local.timeoutSeconds = newValue
            outer.timeoutSeconds = newValue
        }
    }
    private var isLeader: Bool { local.rank == 0 }

    public func allReduce(_ buffer: inout [Float], _ operation: ReduceOperation) throws {
        let combine: ReduceOperation = operation == .max ? .max : .sum
        try local.allReduce(&buffer, combine)
        if isLeader { try outer.allReduce(&buffer, combine) }
        buffer = try local.broadcast(buffer, root: 0)
        if operation == .mean { let scale = 1 / Float(size); for i in buffer.indices { buffer[i] *= scale } }
    }

    public func allReduce(_ buffer: inout [Double], _ operation: ReduceOperation) throws {
        let combine: ReduceOperation = operation == .max ? .max : .sum
        try local.allReduce(&buffer, combine)
        if isLeader { try outer.allReduce(&buffer, combine) }
        buffer = try localBroadcast(buffer)
        if operation == .mean { let scale = 1 / Double(size); for i in buffer.indices { buffer[i] *= scale } }
    }

    public func broadcast(_ buffer: inout [UInt8], root: Int) throws {
        let (rootProcess, rootThread) = root.quotientAndRemainder(dividingBy: local.size)
        // The root's process first brings the root's bytes to its leader.
        if outer.rank == rootProcess, rootThread != 0 { try local.broadcast(&buffer, root: rootThread) }
        if isLeader { try outer.broadcast(&buffer, root: rootProcess) }
        try local.broadcast(&buffer, root: 0)
    }

    public func allGather(_ values: [Double]) throws -> [[Double]] {
        let threads = try local.allGather(values).flatMap { $0 }
        var all: [Double] = []
        if isLeader { all = try outer.allGather(threads).flatMap { $0 } }
        all = try localBroadcast(all)
        guard all.count == values.count * size else {
            throw CommunicatorError.mismatch(operation: "all-gather", message: "\(all.count) values gathered for \(size) ranks of \(values.count)")
        }
        return (0..<size).map { Array(all[($0 * values.count)..<(($0 + 1) * values.count)]) }
    }

    public func barrier() throws {
        try local.barrier()
        if isLeader { try outer.barrier() }
        try local.barrier()
    }

    public func abort(code: Int32) {
        local.abort(code: code)
        outer.abort(code: code)
    }

    /// The leader's doubles on every thread of this process (lengths may differ before).
    private func localBroadcast(_ values: [Double]) throws -> [Double] {
        let floats = values.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let received = try local.broadcast(floats, root: 0)
        return received.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
    }
}
