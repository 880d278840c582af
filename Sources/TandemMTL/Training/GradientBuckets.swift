import TandemCore
import TandemDistributed

/// The gradients of a data-parallel step cut into buckets of about `bucketBytes`, each all-reduced as
/// soon as all its parameters' gradients are complete, while the backward computes the rest (as
/// PyTorch's DistributedDataParallel and Horovod do).
///
/// Parameters go into buckets in reverse order (the backward reaches the last layers first); a bucket
/// starts its all-reduce when its parameters are ready and every earlier bucket has started, so all
/// ranks start and finish the same collectives in the same order. Each bucket owns a host staging
/// buffer, allocated once and reused every step: gradients are read into it (scaled by the rank's
/// share), reduced in place, and written back into fresh gradient tensors. The buffer comes from the
/// parameters' device (`Device.makeStaging`): page-locked, mapped memory on OpenCL. A bucket also carries one
/// value per parameter, 1 when this rank has the parameter's gradient and 0 when not: after the sum,
/// 0 leaves the parameter without a gradient, the number of ranks gives it the combined one, and
/// anything else means the ranks took different paths (an error, not a silent mix).
///
/// Buckets still waiting when the backward ends (parameters without a gradient this step, or every
/// bucket of a weighting that computes its gradients without a single backward) are reduced then,
/// blocking (MPI's blocking all-reduce is faster when nothing is left to overlap).
final class GradientBuckets: GradientObserver, @unchecked Sendable {
    private struct Bucket {
        /// Indices into `parameters`, in the order their gradients sit in `staging`.
        var members: [Int]
        /// Each member's first element in `staging`.
        var offsets: [Int]
        /// Gradient elements (the flags follow them).
        var elements: Int
        /// Host memory of the parameters' device (`Device.makeStaging`: page-locked on OpenCL).
        var memory: HostStaging
        var staging: UnsafeMutableBufferPointer<Float> { memory.values }
        var ready = 0
        var pending: (any PendingAllReduce)?

        /// Member `m`'s gradient in `staging` (`count` elements).
        func slot(_ m: Int, count: Int) -> UnsafeMutableBufferPointer<Float> {
            UnsafeMutableBufferPointer(rebasing: staging[offsets[m]..<(offsets[m] + count)])
        }
    }

    let parameters: [Tensor]
    private let identities: [ObjectIdentifier]
    private var buckets: [Bucket] = []
    /// Bucket and member position of each parameter.
    private var place: [ObjectIdentifier: (bucket: Int, member: Int)] = [:]
    private var isReady: [Bool]
    /// The next bucket to start.
    private var next = 0
    private var communicator: (any Communicator)?
    private var share: Float = 1
    /// Buckets started while the backward was still running, this step (for tests and reports).
    private(set) var startedDuringBackward = 0
    /// Seconds spent staging and in collectives this step.
    private(set) var seconds = 0.0

    /// Buckets over `parameters` (those of the optimizer, the same on every rank), about
    /// `bucketBytes` of gradients each (a parameter larger than that is a bucket of its own).
    init(parameters: [Tensor], bucketBytes: Int) throws {
        self.parameters = parameters
        identities = parameters.map(ObjectIdentifier.init)
        isReady = Array(repeating: false, count: parameters.count)
        let limit = Swift.max(bucketBytes / MemoryLayout<Float>.stride, 1)
        var members: [Int] = []
        var elements = 0
        func close() throws {
            guard let first = members.first else { return }
            var offsets: [Int] = [], offset = 0
            for i in members { offsets.append(offset); offset += parameters[i].count }
            let memory = try parameters[first].device.makeStaging(elements + members.count)
            for (m, i) in members.enumerated() { place[identities[i]] = (buckets.count, m) }
            buckets.append(Bucket(members: members, offsets: offsets, elements: elements, memory: memory))
            members = []
            elements = 0
        }
        for i in parameters.indices.reversed() {
            if !members.isEmpty, elements + parameters[i].count > limit || parameters[i].device !== parameters[members[0]].device { try close() }
            members.append(i)
            elements += parameters[i].count
        }
        try close()
    }

    /// The number of buckets.
    var count: Int { buckets.count }

    /// Whether these buckets were made for exactly `parameters`.
    func fits(_ parameters: [Tensor]) -> Bool {
        parameters.count == identities.count && zip(parameters, identities).allSatisfy { ObjectIdentifier($0) == $1 }
    }

    /// Starts a step: gradients are scaled by `share` and combined over `communicator`.
    func begin(share: Double, communicator: any Communicator) {
        self.communicator = communicator
        self.share = Float(share)
        next = 0
        startedDuringBackward = 0
        seconds = 0
        for b in buckets.indices {
            buckets[b].ready = 0
            buckets[b].pending = nil
        }
        for i in isReady.indices { isReady[i] = false }
    }

    func gradientReady(_ leaf: Tensor) throws {
        guard let (b, m) = place[ObjectIdentifier(leaf)] else { return }
        let started = DataParallel.now()
        defer { seconds += DataParallel.now() - started }
        let index = buckets[b].members[m]
        guard !isReady[index] else {
            throw TandemError.invalidArgument(op: "DataParallel", message: "the gradient of \(leaf.name ?? "a parameter") \(leaf.shape) was completed twice in one step; bucketed all-reduce needs a weighting whose step is one backward")
        }
        isReady[index] = true
        buckets[b].ready += 1
        while next < buckets.count, buckets[next].ready == buckets[next].members.count {
            try start(next, blocking: false)
            startedDuringBackward += 1
            next += 1
        }
        // Move the transfers already started along (MPI progresses only inside its calls).
        for earlier in 0..<next { _ = try buckets[earlier].pending?.test() }
    }

    /// Reads bucket `b`'s gradients into its staging buffer (zeros and a 0 flag where a parameter has
    /// none) and starts its all-reduce (or runs it at once).
    private func start(_ b: Int, blocking: Bool) throws {
        let bucket = buckets[b]
        for (m, i) in bucket.members.enumerated() {
            let parameter = parameters[i]
            let slot = bucket.slot(m, count: parameter.count)
            if let grad = parameter.grad {
                try grad.copyValues(into: slot)
                if share != 1 { for k in slot.indices { slot[k] *= share } }
                bucket.staging[bucket.elements + m] = 1
            } else {
                slot.update(repeating: 0)
                bucket.staging[bucket.elements + m] = 0
            }
        }
        guard let communicator else { return }
        if blocking {
            try communicator.allReduce(bucket.staging, .sum)
        } else {
            buckets[b].pending = try communicator.startAllReduce(bucket.staging, .sum)
        }
    }

    /// Ends the step: starts the buckets still waiting, waits for all, and replaces every parameter's
    /// gradient with the combined one. Returns whether all combined values are finite.
    func finish() throws -> Bool {
        let started = DataParallel.now()
        defer { seconds += DataParallel.now() - started }
        for b in next..<buckets.count { try start(b, blocking: true) }
        next = buckets.count
        let size = Float(communicator?.size ?? 1)
        var finite = true
        for b in buckets.indices {
            try buckets[b].pending?.wait()
            let bucket = buckets[b]
            for (m, i) in bucket.members.enumerated() {
                let parameter = parameters[i]
                let flag = bucket.staging[bucket.elements + m]
                if flag == 0 {
                    parameter.grad = nil
                    continue
                }
                guard flag == size else {
                    throw CommunicatorError.mismatch(operation: "gradient all-reduce", message: "\(Int(flag)) of \(Int(size)) ranks have a gradient for \(parameter.name ?? "a parameter") \(parameter.shape) (parameters with and without gradients)")
                }
                let slot = UnsafeBufferPointer(bucket.slot(m, count: parameter.count))
                if finite, !slot.allSatisfy(\.isFinite) { finite = false }
                parameter.grad = try Tensor(slot, shape: parameter.shape, on: parameter.device)
            }
            buckets[b].pending = nil
        }
        return finite
    }
}
