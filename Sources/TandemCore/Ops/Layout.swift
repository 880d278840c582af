/// Shape and layout ops: reshape, permute, slice, concat, split, stack, expand, pad. All but
/// reshape copy through `Primitives.copy` (`Kernels/copy.cl`), so every tensor stays contiguous.
extension Tensor {
    /// Copies `source` (read through `sourceStrides` from `sourceOffset`) into `target` at
    /// `targetOffset` with `targetStrides`, over `shape`.
    static func copy(_ source: Tensor, into target: Tensor, shape: [Int], sourceStrides: [Int], sourceOffset: Int = 0,
                     targetStrides: [Int], targetOffset: Int = 0) throws {
        guard Shapes.count(shape) > 0 else { return }
        let layout = StridedLayout(shape: shape, strides: [sourceStrides, targetStrides], offsets: [sourceOffset, targetOffset])
        try source.device.copy(source.storage, target.storage, layout: layout)
    }

    /// The same elements in a new shape; one dimension may be -1 (inferred).
    public func reshape(_ newShape: [Int]) throws -> Tensor {
        var resolved = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let unknown = newShape.firstIndex(of: -1) {
            guard newShape.filter({ $0 == -1 }).count == 1, known > 0, count % known == 0 else {
                throw TandemError.invalidArgument(op: "reshape", message: "cannot reshape \(shape) to \(newShape)")
            }
            resolved[unknown] = count / known
        }
        guard resolved.allSatisfy({ $0 >= 0 }), Shapes.count(resolved) == count else {
            throw TandemError.invalidArgument(op: "reshape", message: "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        let y = Tensor(shape: resolved, device: device, storage: storage)
        return record(y, op: "reshape", inputs: [self]) { g in [try g.reshape(self.shape)] }
    }

    /// Everything after the first axis flattened: [N, ...] → [N, rest].
    public func flatten(from axis: Int = 1) throws -> Tensor {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "flatten", shape: shape)
        return try reshape(Array(shape[..<a]) + [shape[a...].reduce(1, *)])
    }

    /// Inserts an axis of size 1 at `axis`.
    public func unsqueeze(_ axis: Int) throws -> Tensor {
        let a = try Shapes.normalize(axis: axis, rank: rank + 1, op: "unsqueeze", shape: shape)
        var s = shape
        s.insert(1, at: a)
        return try reshape(s)
    }

    /// Removes the axis `axis`, which must have size 1.
    public func squeeze(_ axis: Int) throws -> Tensor {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "squeeze", shape: shape)
        guard shape[a] == 1 else {
            throw TandemError.invalidArgument(op: "squeeze", message: "axis \(axis) of shape \(shape) has size \(shape[a]), not 1")
        }
        var s = shape
        s.remove(at: a)
        return try reshape(s)
    }

    /// Reorders axes: output axis i is input axis `axes[i]`.
    public func permute(_ axes: [Int]) throws -> Tensor {
        let normalized = try axes.map { try Shapes.normalize(axis: $0, rank: rank, op: "permute", shape: shape) }
        guard normalized.count == rank, Set(normalized).count == rank else {
            throw TandemError.invalidArgument(op: "permute", message: "\(axes) is not a permutation of the axes of \(shape)")
        }
        let outShape = normalized.map { shape[$0] }
        let y = try Tensor.empty(outShape, on: device)
        let strides = Shapes.strides(shape)
        try Tensor.copy(self, into: y, shape: outShape, sourceStrides: normalized.map { strides[$0] },
                        targetStrides: Shapes.strides(outShape))
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in normalized.enumerated() { inverse[a] = i }
        return record(y, op: "permute", inputs: [self]) { g in [try g.permute(inverse)] }
    }

    /// Swaps two axes.
    public func transpose(_ a: Int = -2, _ b: Int = -1) throws -> Tensor {
        let i = try Shapes.normalize(axis: a, rank: rank, op: "transpose", shape: shape)
        let j = try Shapes.normalize(axis: b, rank: rank, op: "transpose", shape: shape)
        var axes = Array(0..<rank)
        axes.swapAt(i, j)
        return try permute(axes)
    }

    /// Elements `range` (stepping by `step`) along `axis`.
    public func slice(axis: Int, _ range: Range<Int>, step: Int = 1) throws -> Tensor {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "slice", shape: shape)
        guard range.lowerBound >= 0, range.upperBound <= shape[a], step >= 1 else {
            throw TandemError.invalidArgument(op: "slice", message: "range \(range) step \(step) outside axis \(axis) of shape \(shape)")
        }
        var outShape = shape
        outShape[a] = (range.count + step - 1) / step
        let y = try Tensor.empty(outShape, on: device)
        var strides = Shapes.strides(shape)
        let offset = range.lowerBound * strides[a]
        strides[a] *= step
        try Tensor.copy(self, into: y, shape: outShape, sourceStrides: strides, sourceOffset: offset,
                        targetStrides: Shapes.strides(outShape))
        return record(y, op: "slice", inputs: [self]) { g in
            let dx = try Tensor.zeros(self.shape, on: g.device)
            try Tensor.copy(g, into: dx, shape: outShape, sourceStrides: Shapes.strides(outShape),
                            targetStrides: strides, targetOffset: offset)
            return [dx]
        }
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concat(_ tensors: [Tensor], axis: Int) throws -> Tensor {
        guard let first = tensors.first else { throw TandemError.invalidArgument(op: "concat", message: "no tensors") }
        let a = try Shapes.normalize(axis: axis, rank: first.rank, op: "concat", shape: first.shape)
        for t in tensors {
            try checkSameDevice("concat", first, t)
            var s = t.shape, f = first.shape
            guard t.rank == first.rank else {
                throw TandemError.invalidArgument(op: "concat", message: "ranks differ: \(tensors.map(\.shape))")
            }
            s[a] = 0
            f[a] = 0
            guard s == f else {
                throw TandemError.invalidArgument(op: "concat", message: "shapes \(tensors.map(\.shape)) differ outside axis \(axis)")
            }
        }
        var outShape = first.shape
        outShape[a] = tensors.map { $0.shape[a] }.reduce(0, +)
        let y = try empty(outShape, on: first.device)
        let outStrides = Shapes.strides(outShape)
        var start = 0
        var starts: [Int] = []
        for t in tensors {
            starts.append(start)
            try copy(t, into: y, shape: t.shape, sourceStrides: Shapes.strides(t.shape), targetStrides: outStrides,
                     targetOffset: start * outStrides[a])
            start += t.shape[a]
        }
        return first.record(y, op: "concat", inputs: tensors) { g in
            try zip(tensors, starts).map { t, s in t.requiresGrad ? try g.slice(axis: a, s..<(s + t.shape[a])) : nil }
        }
    }

    /// Cuts along `axis` into pieces of the given sizes (which must add up to the axis).
    public func split(axis: Int, sizes: [Int]) throws -> [Tensor] {
        let a = try Shapes.normalize(axis: axis, rank: rank, op: "split", shape: shape)
        guard sizes.reduce(0, +) == shape[a], sizes.allSatisfy({ $0 >= 0 }) else {
            throw TandemError.invalidArgument(op: "split", message: "sizes \(sizes) do not add up to axis \(axis) of \(shape)")
        }
        var start = 0
        return try sizes.map { size in
            defer { start += size }
            return try slice(axis: a, start..<(start + size))
        }
    }

    /// Joins equally shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw TandemError.invalidArgument(op: "stack", message: "no tensors") }
        guard tensors.allSatisfy({ $0.shape == first.shape }) else {
            throw TandemError.invalidArgument(op: "stack", message: "shapes differ: \(tensors.map(\.shape))")
        }
        return try concat(tensors.map { try $0.unsqueeze(axis) }, axis: axis)
    }

    /// Broadcasts to `target` (NumPy rules), materialised.
    public func expand(_ target: [Int]) throws -> Tensor {
        guard Shapes.broadcast(shape, target) == target else {
            throw TandemError.invalidArgument(op: "expand", message: "cannot expand \(shape) to \(target)")
        }
        if target == shape { return self }
        let y = try Tensor.empty(target, on: device)
        try Tensor.copy(self, into: y, shape: target, sourceStrides: Shapes.broadcastStrides(shape, to: target),
                        targetStrides: Shapes.strides(target))
        return record(y, op: "expand", inputs: [self]) { g in [try g.sum(to: self.shape)] }
    }

    /// Pads each axis with `padding[axis] = (before, after)` elements of `value`; axes beyond the
    /// list are not padded.
    public func pad(_ padding: [(before: Int, after: Int)], value: Float = 0) throws -> Tensor {
        guard padding.count <= rank, padding.allSatisfy({ $0.before >= 0 && $0.after >= 0 }) else {
            throw TandemError.invalidArgument(op: "pad", message: "padding \(padding) does not fit shape \(shape)")
        }
        var outShape = shape
        var offset = 0
        let outStrides = { (s: [Int]) in Shapes.strides(s) }
        for (axis, p) in padding.enumerated() { outShape[axis] += p.before + p.after }
        let strides = outStrides(outShape)
        for (axis, p) in padding.enumerated() { offset += p.before * strides[axis] }
        let y = try Tensor.full(outShape, value, on: device)
        try Tensor.copy(self, into: y, shape: shape, sourceStrides: Shapes.strides(shape), targetStrides: strides, targetOffset: offset)
        return record(y, op: "pad", inputs: [self]) { g in
            var dx = g
            for (axis, p) in padding.enumerated() where p.before + p.after > 0 {
                dx = try dx.slice(axis: axis, p.before..<(p.before + self.shape[axis]))
            }
            return [dx]
        }
    }
}
