extension Composed {
    /// The layout of y [outer, extent, inner] op s [outer, 1, inner] (s broadcast along the axis).
    static func alongAxis(outer: Int, extent: Int, inner: Int) -> StridedLayout {
        StridedLayout(shape: [outer, extent, inner], strides: [[extent * inner, inner, 1], [inner, 0, 1]])
    }

    /// y = z − log Σ exp(z) with z = x − max(x) along the axis: max, subtract, exp, sum, log, subtract.
    public static func logSoftmax(on device: any Device, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        let count = outer * extent * inner
        guard count > 0 else { return }
        let layout = alongAxis(outer: outer, extent: extent, inner: inner)
        let maximum = try scratch(device, outer * inner)
        try device.reduce(.max, x, maximum, outer: outer, extent: extent, inner: inner)
        let z = try scratch(device, count)
        try device.binary(.sub, x, maximum, z, layout: layout)
        let sums = try scratch(device, outer * inner)
        try device.reduce(.sum, try unary(device, .exp, z, count: count), sums, outer: outer, extent: extent, inner: inner)
        try device.binary(.sub, z, try unary(device, .log, sums, count: outer * inner), y, layout: layout)
    }

    /// dx = dy − exp(y)·Σ dy along the axis.
    public static func logSoftmaxBackward(on device: any Device, _ y: Buffer, _ dy: Buffer, _ dx: Buffer, outer: Int, extent: Int,
                                          inner: Int) throws {
        let count = outer * extent * inner
        guard count > 0 else { return }
        let sums = try scratch(device, outer * inner)
        try device.reduce(.sum, dy, sums, outer: outer, extent: extent, inner: inner)
        let scaled = try scratch(device, count)
        try device.binary(.mul, try unary(device, .exp, y, count: count), sums, scaled,
                          layout: alongAxis(outer: outer, extent: extent, inner: inner))
        try device.binary(.sub, dy, scaled, dx, layout: flat(count))
    }

    /// The weight of every label [batch·inner]: 1 where it names a class (−0.5 < t < C − 0.5,
    /// so NaN does not) and is not the ignored one, times the mask; 0 elsewhere.
    static func labelWeights(_ device: any Device, target: Buffer, mask: Buffer?, geometry g: ClassLossGeometry) throws -> Buffer {
        let count = g.batch * g.inner
        let above = try unary(device, .greaterScalar, target, count: count, scalar: -0.5)
        let below = try unary(device, .greaterScalar, try unary(device, .neg, target, count: count), count: count,
                              scalar: 0.5 - Float(g.classes))
        var weights = try binary(device, .mul, above, below, count: count)
        if (0..<g.classes).contains(g.ignoreIndex) {
            weights = try binary(device, .mul, weights,
                                 try unary(device, .notEqualScalar, target, count: count, scalar: Float(g.ignoreIndex)), count: count)
        }
        if let mask {
            let masked = try scratch(device, count)
            try device.binary(.mul, weights, mask, masked, layout: StridedLayout(
                shape: [g.batch, g.inner], strides: [[g.inner, 1], g.maskPerSample ? [1, 0] : [g.inner, 1]]))
            weights = masked
        }
        return weights
    }

    /// A one-element buffer holding `value`.
    static func scalar(_ device: any Device, _ value: Float) throws -> Buffer {
        let buffer = try scratch(device, 1)
        try device.fill(buffer, value: value, offset: 0, count: 1)
        return buffer
    }

    /// The labels' weights, the picked log-probabilities (0 where a label does not count, through a
    /// select: a dropped element may hold −inf), their sums, and −sum / max(W, 1).
    public static func nllLoss(on device: any Device, _ x: Buffer, target: Buffer, mask: Buffer?, loss: Buffer, weight: Buffer,
                               geometry g: ClassLossGeometry) throws {
        let count = g.batch * g.inner
        guard count > 0 else {
            try device.fill(loss, value: 0, offset: 0, count: 1)
            try device.fill(weight, value: 0, offset: 0, count: 1)
            return
        }
        let weights = try labelWeights(device, target: target, mask: mask, geometry: g)
        let picked = try scratch(device, count)
        try device.gatherClass(x, target: target, picked, batch: g.batch, classes: g.classes, inner: g.inner)
        let kept = try scratch(device, count)
        try device.select(weights, picked, try scalar(device, 0), kept,
                          layout: StridedLayout(shape: [count], strides: [[1], [1], [0]]))
        let total = try scratch(device, 1)
        try device.reduce(.sum, kept, total, outer: 1, extent: count, inner: 1)
        try device.reduce(.sum, weights, weight, outer: 1, extent: count, inner: 1)
        let mean = try binary(device, .div, total, try unary(device, .maxScalar, weight, count: 1, scalar: 1), count: 1)
        try device.unary(.neg, mean, loss, count: 1, scalar: 0)
    }

    /// −dloss / max(W, 1) where a label counts (a select, then the class scatter), 0 elsewhere.
    public static func nllLossBackward(on device: any Device, target: Buffer, mask: Buffer?, weight: Buffer, _ dloss: Buffer,
                                       _ dx: Buffer, geometry g: ClassLossGeometry) throws {
        let count = g.batch * g.inner
        guard count > 0 else { return }
        let weights = try labelWeights(device, target: target, mask: mask, geometry: g)
        let share = try unary(device, .neg, try binary(device, .div, dloss, try unary(device, .maxScalar, weight, count: 1, scalar: 1),
                                                       count: 1), count: 1)
        let perLabel = try scratch(device, count)
        try device.select(weights, share, try scalar(device, 0), perLabel,
                          layout: StridedLayout(shape: [count], strides: [[1], [0], [0]]))
        try device.scatterClass(perLabel, target: target, dx, batch: g.batch, classes: g.classes, inner: g.inner)
    }
}
