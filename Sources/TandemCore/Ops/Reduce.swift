/// Reductions over chosen axes: sum, mean, max (with argmax), variance. Devices implement
/// `Primitives.reduce` and `argmax` along one axis (`Kernels/reduce.cl`); several axes reduce one
/// after another.
extension Tensor {
    func normalizedAxes(_ axes: [Int]?, _ op: String) throws -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let resolved = try axes.map { try Shapes.normalize(axis: $0, rank: rank, op: op, shape: shape) }
        guard Set(resolved).count == resolved.count else {
            throw TandemError.invalidArgument(op: op, message: "repeated axis in \(axes) for shape \(shape)")
        }
        return resolved.sorted()
    }

    /// One-axis reduction with keep-dims, no graph.
    func reduceAxis(_ op: ReduceOp, _ axis: Int) throws -> Tensor {
        var outShape = shape
        outShape[axis] = 1
        let y = try Tensor.empty(outShape, on: device, op: "reduce")
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        if shape[axis] == 0 {
            try device.fill(y.storage, value: op == .sum ? 0 : -.infinity, offset: 0, count: y.count)
        } else {
            try device.reduce(op, storage, y.storage, outer: outer, extent: shape[axis], inner: inner)
        }
        return y
    }

    static func dropAxes(_ shape: [Int], _ axes: [Int]) -> [Int] {
        shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let resolved = try normalizedAxes(axes, "sum")
        var y = Tensor(shape: shape, device: device, storage: storage)
        if rank >= 2, resolved == [0] + Array(2..<rank), shape[0] > 1 || rank > 2 {
            // Every axis but the channels (a bias gradient): one pass on devices that fuse it.
            y = try Tensor.empty([shape[1]], on: device)
            try device.channelSums(storage, y.storage, batch: shape[0], channels: shape[1], inner: shape[2...].reduce(1, *))
        } else {
            for axis in resolved.reversed() where shape[axis] != 1 { y = try y.reduceAxis(.sum, axis) }
        }
        if y.storage === storage { y = try unary(.mulScalar, scalar: 1, gradient: nil) }  // Nothing reduced: still a copy.
        var keptShape = shape
        for axis in resolved { keptShape[axis] = 1 }
        let outShape = keepDims ? keptShape : Tensor.dropAxes(shape, resolved)
        let out = Tensor(shape: outShape, device: device, storage: y.storage)
        return record(out, op: "sum", inputs: [self]) { g in [try g.reshape(keptShape).expand(self.shape)] }
    }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let resolved = try normalizedAxes(axes, "mean")
        let n = resolved.map { shape[$0] }.reduce(1, *)
        return try sum(axes: resolved, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    /// Sums a broadcast gradient back to `target` (the shape an operand had before broadcasting).
    public func sum(to target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for (i, d) in target.enumerated() where d == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        return try sum(axes: axes, keepDims: true).reshape(target)
    }

    /// Maximum along `axis`; the gradient goes to the maximal elements (split evenly on ties).
    public func max(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try maxWithIndices(axis: axis, keepDims: keepDims).values
    }

    /// Maximum over several axes (all when nil).
    public func max(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let resolved = try normalizedAxes(axes, "max")
        var y = self
        for axis in resolved.reversed() { y = try y.max(axis: axis, keepDims: true) }
        return keepDims ? y : try y.reshape(Tensor.dropAxes(shape, resolved))
    }

    /// Maximum along `axis` and the index where it sits (the first, on ties), as exact floats.
    public func maxWithIndices(axis: Int, keepDims: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "max", shape: shape)
        guard shape[a] > 0 else { throw TandemError.invalidArgument(op: "max", message: "axis \(axis) of \(shape) is empty") }
        var keptShape = shape
        keptShape[a] = 1
        let values = try Tensor.empty(keptShape, on: device), indices = try Tensor.empty(keptShape, on: device)
        try device.argmax(storage, values: values.storage, indices: indices.storage,
                          outer: shape[..<a].reduce(1, *), extent: shape[a], inner: shape[(a + 1)...].reduce(1, *))
        let outShape = keepDims ? keptShape : Tensor.dropAxes(shape, [a])
        let out = Tensor(shape: outShape, device: device, storage: values.storage)
        let recorded = record(out, op: "max", inputs: [self]) { g in
            let mask = try self.equal(values)
            return [try g.reshape(keptShape) * mask / mask.sum(axes: [a], keepDims: true)]
        }
        return (recorded, try indices.reshape(outShape))
    }

    /// Index of the maximum along `axis`.
    public func argmax(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try maxWithIndices(axis: axis, keepDims: keepDims).indices.detach()
    }

    /// Variance over `axes` (all when nil); `unbiased` divides by n − 1.
    public func variance(axes: [Int]? = nil, keepDims: Bool = false, unbiased: Bool = false) throws -> Tensor {
        let resolved = try normalizedAxes(axes, "variance")
        let n = resolved.map { shape[$0] }.reduce(1, *)
        let centered = try self - mean(axes: resolved, keepDims: true)
        let v = try centered.square().mean(axes: resolved, keepDims: keepDims)
        return unbiased && n > 1 ? try v * (Float(n) / Float(n - 1)) : v
    }
}
