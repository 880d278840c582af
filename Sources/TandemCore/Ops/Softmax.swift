/// Softmax (written with other ops, its gradient follows) and log-softmax (a fused primitive) along
/// one axis. Both subtract the maximum along the axis first (it cancels out of the result), so
/// large logits do not overflow.
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

    /// `x − log Σ exp(x)` along `axis`: log-probabilities, computed without overflow, in one pass
    /// on devices that fuse it (`FusedPrimitives.logSoftmax`), as are their gradients.
    public func logSoftmax(axis: Int = -1) throws -> Tensor {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "logSoftmax", shape: shape)
        guard shape[a] > 0 else {
            throw TandemError.invalidArgument(op: "logSoftmax", message: "axis \(a) of \(shape) is empty (on \(device.info.selector))")
        }
        let outer = shape[..<a].reduce(1, *), extent = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        let y = try Tensor.empty(shape, on: device)
        try device.logSoftmax(storage, y.storage, outer: outer, extent: extent, inner: inner)
        return record(y, op: "logSoftmax", inputs: [self]) { g in
            let dx = try Tensor.empty(self.shape, on: self.device)
            try self.device.logSoftmaxBackward(y.storage, g.storage, dx.storage, outer: outer, extent: extent, inner: inner)
            return [dx]
        }
    }
}
