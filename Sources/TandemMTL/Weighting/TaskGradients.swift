#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import TandemCore
import TandemNN

/// The gradients of each task's loss with respect to a set of parameters (usually the shared ones),
/// kept on the device as one [T, P] matrix: row i is task i's gradient, the parameters flattened and
/// concatenated in order.
///
/// Gradient-combination methods (PCGrad, MGDA), GradNorm and task affinity build one per step. Only
/// the T×T Gram matrix of dot products goes to the host (`gram(with:)`, a single download); the
/// coefficients computed from it come back as a [T] vector and are applied on the device
/// (`accumulate(coefficients:)`), so the per-task gradients never leave the device.
public struct TaskGradients {
    /// The parameters whose gradients form the columns, in order.
    public let parameters: [Tensor]
    /// [T, P]: task i's gradient in row i.
    public let matrix: Tensor
    /// The number of tasks T.
    public var taskCount: Int { matrix.shape[0] }
    /// The number of gradient elements P (all parameters together).
    public var elementCount: Int { matrix.shape[1] }

    /// Backpropagates each of `losses` on its own and gathers the gradients of `parameters`.
    ///
    /// With `seeds`, pass i is seeded with `seeds[i]` (a tensor shaped like the loss, on the same
    /// device), so row i is the gradient of `seeds[i]·L_i`. Every other leaf of the graph accumulates
    /// the gradient of every pass in its `.grad` as usual (a task head thus gets its own task's
    /// gradient); the `.grad` of `parameters` is left exactly as it was before the call.
    ///
    /// In a data-parallel step (`Trainer.dataParallel`), the matrix is the share-weighted sum of every
    /// rank's, so that methods see the whole global batch's task gradients.
    public init(losses: [Tensor], parameters: [Tensor], seeds: [Tensor]? = nil, op: String) throws {
        guard let first = parameters.first else {
            throw TandemError.invalidArgument(op: op, message: "the model has no shared parameters to take per-task gradients of")
        }
        let device = first.device
        guard !losses.isEmpty else {
            throw TandemError.invalidArgument(op: op, message: "no task losses given")
        }
        for (i, loss) in losses.enumerated() {
            guard loss.count == 1, loss.device === device else {
                throw TandemError.invalidArgument(
                    op: op, message: "loss of task \(i) must be a scalar on \(device.info.selector), got \(loss)")
            }
        }
        for p in parameters where p.device !== device || p.count == 0 {
            throw TandemError.invalidArgument(
                op: op, message: "parameter \(p.name ?? "") \(p) is empty or not on \(device.info.selector)")
        }
        if let seeds {
            guard seeds.count == losses.count, zip(seeds, losses).allSatisfy({ $0.shape == $1.shape && $0.device === device }) else {
                throw TandemError.invalidArgument(
                    op: op, message: "\(seeds.count) seeds do not match \(losses.count) losses of shapes \(losses.map(\.shape))")
            }
        }
        let saved = parameters.map(\.grad)
        defer { for (p, g) in zip(parameters, saved) { p.grad = g } }
        var pieces: [Tensor] = []
        pieces.reserveCapacity(losses.count * parameters.count)
        for (i, loss) in losses.enumerated() {
            for p in parameters { p.grad = nil }
            if let seeds { try loss.backward(gradient: seeds[i]) } else { try loss.backward() }
            try Tensor.withoutGradient {
                for p in parameters {
                    pieces.append(try (p.grad ?? Tensor.zeros(p.shape, on: device)).reshape([p.count]))
                }
            }
        }
        let total = parameters.reduce(0) { $0 + $1.count }
        self.parameters = parameters
        let local = try Tensor.withoutGradient { try Tensor.concat(pieces, axis: 0).reshape([losses.count, total]) }
        // Data-parallel training: the whole global batch's task gradients, the same on every rank.
        if let group = DataParallel.active, group.size > 1 {
            matrix = try group.combine(local)
        } else {
            matrix = local
        }
    }

    /// Rows already gathered: `matrix` [T, P] over `parameters` (P their total element count), for
    /// methods that combine something other than this step's gradients (DB-MTL's moving averages).
    init(parameters: [Tensor], matrix: Tensor) throws {
        let total = parameters.reduce(0) { $0 + $1.count }
        guard matrix.rank == 2, matrix.shape[1] == total, let first = parameters.first, matrix.device === first.device else {
            throw TandemError.invalidArgument(op: "TaskGradients", message: "a matrix \(matrix) does not fit \(parameters.count) parameters of \(total) elements")
        }
        self.parameters = parameters
        self.matrix = matrix
    }

    /// Downloads the Gram matrix G = M·Mᵀ (G[i][j] = ⟨g_i, g_j⟩) together with the elements of
    /// `extra` (any tensors on the same device, flattened in order) in one transfer.
    public func gram(with extra: [Tensor] = []) throws -> (gram: [[Double]], extra: [Float]) {
        let t = taskCount
        let values = try Tensor.withoutGradient { () throws -> [Float] in
            let g = try matrix.matmul(matrix, transposeOther: true).reshape([t * t])
            if extra.isEmpty { return try g.values() }
            return try Tensor.concat([g] + extra.map { try $0.detach().reshape([$0.count]) }, axis: 0).values()
        }
        let gram = (0..<t).map { i in (0..<t).map { j in Double(values[i * t + j]) } }
        return (gram, Array(values[(t * t)...]))
    }

    /// Adds Σᵢ cᵢ·gᵢ to the parameters' `.grad`, with host coefficients (uploaded as one [T] vector).
    public func accumulate(coefficients: [Float]) throws {
        guard coefficients.count == taskCount else {
            throw TandemError.invalidArgument(
                op: "TaskGradients.accumulate", message: "\(coefficients.count) coefficients for \(taskCount) tasks")
        }
        try accumulate(coefficients: try Tensor(coefficients, shape: [taskCount], on: matrix.device))
    }

    /// Adds Σᵢ cᵢ·gᵢ to the parameters' `.grad`, with a [T] coefficient vector already on the device.
    public func accumulate(coefficients: Tensor) throws {
        guard coefficients.count == taskCount, coefficients.device === matrix.device else {
            throw TandemError.invalidArgument(
                op: "TaskGradients.accumulate",
                message: "coefficients \(coefficients) do not fit \(taskCount) tasks on \(matrix.device.info.selector)")
        }
        try Tensor.withoutGradient {
            let combined = try coefficients.detach().reshape([1, taskCount]).matmul(matrix).reshape([elementCount])
            let pieces = parameters.count == 1 ? [combined] : try combined.split(axis: 0, sizes: parameters.map(\.count))
            for (p, piece) in zip(parameters, pieces) {
                let g = try piece.reshape(p.shape)
                p.grad = try p.grad.map { try $0 + g } ?? g
            }
        }
    }

    /// Task i's gradient split back into tensors shaped like `parameters` (copies, on the device).
    public func gradient(of task: Int) throws -> [Tensor] {
        guard (0..<taskCount).contains(task) else {
            throw TandemError.invalidArgument(op: "TaskGradients.gradient", message: "task \(task) out of 0..<\(taskCount)")
        }
        return try Tensor.withoutGradient {
            let row = try matrix.slice(axis: 0, task..<(task + 1)).reshape([elementCount])
            let pieces = parameters.count == 1 ? [row] : try row.split(axis: 0, sizes: parameters.map(\.count))
            return try zip(parameters, pieces).map { try $1.reshape($0.shape) }
        }
    }
}

/// Checks shared by the weighting methods.
enum WeightingChecks {
    /// Throws unless there is one scalar loss per task of `model`, all on one device.
    static func losses(_ losses: [Tensor], model: any MultiTaskModel, method: String) throws {
        guard losses.count == model.tasks.count else {
            throw TandemError.invalidArgument(
                op: method, message: "\(losses.count) losses for \(model.tasks.count) tasks (\(model.tasks.map(\.name).joined(separator: ", ")))")
        }
        try WeightingChecks.losses(losses, count: losses.count, method: method)
    }

    /// Throws unless `losses` holds `count` scalars on one device.
    static func losses(_ losses: [Tensor], count: Int, method: String) throws {
        guard losses.count == count, let first = losses.first else {
            throw TandemError.invalidArgument(op: method, message: "\(losses.count) losses for \(count) tasks")
        }
        for (i, loss) in losses.enumerated() {
            guard loss.count == 1, loss.device === first.device else {
                throw TandemError.invalidArgument(
                    op: method, message: "loss of task \(i) must be a scalar on \(first.device.info.selector), got \(loss)")
            }
        }
    }

    /// Step `step`'s random projection orders of a run seeded with `seed` (PCGrad, GradVac): for each
    /// task, the other tasks in a Fisher–Yates order drawn from one SplitMix64 stream.
    static func projectionOrders(taskCount t: Int, seed: UInt64, step: Int) -> [[Int]] {
        var random = SplitMix64(seed: seed &+ UInt64(step) &* 0x9e37_79b9_7f4a_7c15)
        return (0..<t).map { i in
            var a = (0..<t).filter { $0 != i }
            if a.count > 1 {
                for k in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(k, Int(random.next() % UInt64(k + 1))) }
            }
            return a
        }
    }

    /// The step count a method's checkpoint state holds under `key` (one whole number ≥ 0); an error
    /// naming `method` and the keys found otherwise.
    static func stepCount(_ state: [String: [Float]], key: String, method: String) throws -> Int {
        guard let value = state[key], value.count == 1, value[0] >= 0, value[0] == value[0].rounded() else {
            throw TandemError.invalidArgument(op: method, message: "state needs '\(key)' (one whole number), got \(state.keys.sorted())")
        }
        return Int(value[0])
    }

    /// T·log Σᵢ exp(sᵢ) of a [T] vector, stably, on the device: Σᵢ (sᵢ − log softmax(s)ᵢ), every
    /// term being the log-sum-exp (STCH's and minimax's smooth maxima).
    static func countTimesLogSumExp(_ s: Tensor) throws -> Tensor {
        try (s - s.logSoftmax(axis: 0)).sum()
    }

    /// Σ wᵢ·Lᵢ as one graph (host weights).
    static func weightedSum(_ losses: [Tensor], weights: [Float]) throws -> Tensor {
        var total = try losses[0] * weights[0]
        for i in 1..<losses.count { total = try total + losses[i] * weights[i] }
        return total
    }
}

/// Host-side scalar math for coefficients computed from the Gram matrix (the C library, not Foundation).
enum HostMath {
    static func exp(_ x: Double) -> Double { cExp(x) }
    static func log(_ x: Double) -> Double { cLog(x) }
    static func pow(_ x: Double, _ y: Double) -> Double { cPow(x, y) }
    static func cos(_ x: Double) -> Double { cCos(x) }
}

private func cExp(_ x: Double) -> Double { exp(x) }
private func cLog(_ x: Double) -> Double { log(x) }
private func cPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
private func cCos(_ x: Double) -> Double { cos(x) }

/// A method that computes the Gram matrix of the tasks' gradients on the shared parameters every
/// step (PCGrad, MGDA); `TaskAffinity.observe(gram:)` can reuse it at no extra cost.
public protocol ProvidesTaskGram: AnyObject {
    /// ⟨gᵢ, gⱼ⟩ over the shared parameters at the last step, or nil before the first.
    var lastGram: [[Double]]? { get }
}
