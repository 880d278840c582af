/// Softmax and log-softmax along one axis, written with other ops (their gradients follow). Both
/// subtract the maximum along the axis first (detached: it cancels out of the result), so large
/// logits do not overflow.
extension Tensor {
    /// `x − max(x)` along `axis` (kept as size 1), the max cut off from the graph.
    func shiftedByMax(axis a: Int, op: String) throws -> Tensor {
        guard rank > 0, shape[a] > 0 else {
            throw TandemError.invalidArgument(op: op, message: "axis \(a) of \(shape) is empty (on \(device.info.selector))")
        }
        return try self - max(axis: a, keepDims: true).detach()
    }

    /// `exp(x) / Σ exp(x)` along `axis`: probabilities that sum to 1 along it.
    public func softmax(axis: Int = -1) throws -> Tensor {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "softmax", shape: shape)
        let e = try shiftedByMax(axis: a, op: "softmax").exp()
        return try e / e.sum(axes: [a], keepDims: true)
    }

    /// `x − log Σ exp(x)` along `axis`: log-probabilities, computed without overflow.
    public func logSoftmax(axis: Int = -1) throws -> Tensor {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "logSoftmax", shape: shape)
        let z = try shiftedByMax(axis: a, op: "logSoftmax")
        return try z - z.exp().sum(axes: [a], keepDims: true).log()
    }
}
