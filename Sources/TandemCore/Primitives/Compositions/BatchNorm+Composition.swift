extension Composed {
    /// Batch statistics by two passes (the mean, then the mean square of x − mean, each a sum over
    /// planes and then over the batch), or the running statistics in evaluation; then
    /// y = (x − mean)·invstd·weight + bias and max(y, 0) for `relu`, one elementwise op at a time.
    public static func batchNormForward(on device: any Device, _ x: Buffer, _ y: Buffer, weight: Buffer?, bias: Buffer?,
                                        mean: Buffer, invstd: Buffer, runningMean: Buffer?, runningVar: Buffer?,
                                        geometry g: BatchNormGeometry) throws {
        let op = "batchNormForward"
        try g.validate(op: op, device: device.info.selector, data: [x, y],
                       perChannel: [weight, bias, mean, invstd, runningMean, runningVar])
        guard g.channels > 0 else { return }
        let (n, c, s) = (g.batch, g.channels, g.inner)
        let centered: Buffer
        if g.training {
            let m = Float(g.count)
            try device.unary(.mulScalar, try channelSums(device, x, batch: n, channels: c, inner: s), mean, count: c,
                             scalar: 1 / m)
            centered = try perChannel(device, .sub, x, mean, batch: n, channels: c, inner: s)
            let squares = try unary(device, .square, centered, count: g.elements)
            let variance = try unary(device, .mulScalar, try channelSums(device, squares, batch: n, channels: c, inner: s),
                                     count: c, scalar: 1 / m)
            try device.unary(.reciprocal, try unary(device, .sqrt, try unary(device, .addScalar, variance, count: c,
                                                                                scalar: g.epsilon), count: c),
                             invstd, count: c, scalar: 0)
            if let runningMean { try blend(device, runningMean, with: mean, count: c, momentum: g.momentum) }
            if let runningVar {
                let unbiased = try unary(device, .mulScalar, variance, count: c, scalar: m / (m - 1))
                try blend(device, runningVar, with: unbiased, count: c, momentum: g.momentum)
            }
        } else {
            guard let runningMean, let runningVar else {
                throw TandemError.invalidArgument(op: op, message: "evaluation mode needs running statistics (on \(device.info.selector))")
            }
            try copy(device, runningMean, into: mean, count: c)
            try device.unary(.reciprocal, try unary(device, .sqrt, try unary(device, .addScalar, runningVar, count: c,
                                                                                scalar: g.epsilon), count: c),
                             invstd, count: c, scalar: 0)
            centered = try perChannel(device, .sub, x, mean, batch: n, channels: c, inner: s)
        }
        var out = try perChannel(device, .mul, centered, invstd, batch: n, channels: c, inner: s)
        if let weight { out = try perChannel(device, .mul, out, weight, batch: n, channels: c, inner: s) }
        if let bias { out = try perChannel(device, .add, out, bias, batch: n, channels: c, inner: s) }
        if g.relu {
            try device.unary(.relu, out, y, count: g.elements, scalar: 0)
        } else {
            try copy(device, out, into: y, count: g.elements)
        }
    }

    /// running = (1 − momentum)·running + momentum·value, in place.
    static func blend(_ device: any Device, _ running: Buffer, with value: Buffer, count: Int, momentum: Float) throws {
        let kept = try unary(device, .mulScalar, running, count: count, scalar: 1 - momentum)
        let added = try unary(device, .mulScalar, value, count: count, scalar: momentum)
        try device.binary(.add, kept, added, running, layout: flat(count))
    }

    /// x̂ = (x − mean)·invstd; dbias = Σ dy, dweight = Σ dy·x̂; dx = weight·invstd·(dy − Σdy/M −
    /// x̂·Σ(dy·x̂)/M) in training, weight·invstd·dy in evaluation.
    public static func batchNormBackward(on device: any Device, _ x: Buffer, _ dy: Buffer, weight: Buffer?, mean: Buffer,
                                         invstd: Buffer, dx: Buffer?, dweight: Buffer?, dbias: Buffer?,
                                         geometry g: BatchNormGeometry) throws {
        try g.validate(op: "batchNormBackward", device: device.info.selector, data: [x, dy, dx],
                       perChannel: [weight, mean, invstd, dweight, dbias])
        guard g.channels > 0 else { return }
        let (n, c, s) = (g.batch, g.channels, g.inner)
        let xhat = try perChannel(device, .mul, try perChannel(device, .sub, x, mean, batch: n, channels: c, inner: s), invstd,
                                  batch: n, channels: c, inner: s)
        let needSums = dweight != nil || dbias != nil || (dx != nil && g.training)
        let sumDy = needSums ? try channelSums(device, dy, batch: n, channels: c, inner: s) : nil
        let sumDyXhat = needSums
            ? try channelSums(device, try binary(device, .mul, dy, xhat, count: g.elements), batch: n, channels: c, inner: s) : nil
        if let dbias, let sumDy { try copy(device, sumDy, into: dbias, count: c) }
        if let dweight, let sumDyXhat { try copy(device, sumDyXhat, into: dweight, count: c) }
        guard let dx else { return }
        let scale = try weight.map { try binary(device, .mul, invstd, $0, count: c) } ?? invstd
        var inner = dy
        if g.training, let sumDy, let sumDyXhat {
            let m = Float(g.count)
            let meanDy = try unary(device, .mulScalar, sumDy, count: c, scalar: 1 / m)
            let meanDyXhat = try unary(device, .mulScalar, sumDyXhat, count: c, scalar: 1 / m)
            inner = try perChannel(device, .sub, dy, meanDy, batch: n, channels: c, inner: s)
            let along = try perChannel(device, .mul, xhat, meanDyXhat, batch: n, channels: c, inner: s)
            inner = try binary(device, .sub, inner, along, count: g.elements)
        }
        let result = try perChannel(device, .mul, inner, scale, batch: n, channels: c, inner: s)
        try copy(device, result, into: dx, count: g.elements)
    }
}
