import TandemCore

/// Fused batch normalisation (`Kernels/batch_norm.cl`): per-channel sums, then one elementwise
/// pass each way that also derives the statistics (forward) or writes the parameter gradients
/// (backward), so a training step costs two launches each way and an evaluation forward one. The
/// sums come from one work-group per channel on GPUs, and from one work-item per channel, plane
/// after plane, on CPU drivers (PoCL runs a work-group's items as loops, where barriers are slow).
/// y must not alias x, nor dx dy.
extension OpenCLDevice {
    public func batchNormForward(_ x: Buffer, _ y: Buffer, weight: Buffer?, bias: Buffer?, mean: Buffer, invstd: Buffer,
                                 runningMean: Buffer?, runningVar: Buffer?, geometry: BatchNormGeometry) throws {
        try batchNormForward(x, y, weight: weight, bias: bias, mean: mean, invstd: invstd, runningMean: runningMean,
                             runningVar: runningVar, geometry: geometry, workGroupSums: !rowKernels)
    }

    public func batchNormBackward(_ x: Buffer, _ dy: Buffer, weight: Buffer?, mean: Buffer, invstd: Buffer,
                                  dx: Buffer?, dweight: Buffer?, dbias: Buffer?, geometry: BatchNormGeometry) throws {
        try batchNormBackward(x, dy, weight: weight, mean: mean, invstd: invstd, dx: dx, dweight: dweight, dbias: dbias,
                              geometry: geometry, workGroupSums: !rowKernels)
    }

    /// The forward with the way of summing chosen (tests run both on any device).
    func batchNormForward(_ x: Buffer, _ y: Buffer, weight: Buffer?, bias: Buffer?, mean: Buffer, invstd: Buffer,
                          runningMean: Buffer?, runningVar: Buffer?, geometry g: BatchNormGeometry, workGroupSums: Bool) throws {
        let op = "batchNormForward"
        try g.validate(op: op, device: info.selector, data: [x, y], perChannel: [weight, bias, mean, invstd, runningMean, runningVar])
        guard g.channels > 0 else { return }
        if !g.training, runningMean == nil || runningVar == nil {
            throw TandemError.invalidArgument(op: op, message: "evaluation mode needs running statistics (on \(info.selector))")
        }
        // Unused buffer arguments get a placeholder the kernels never touch.
        let sums = g.training ? try channelSums(x, dy: nil, mean: nil, geometry: g, workGroups: workGroupSums) : x
        let flags = KernelFlags<BatchNormFlag>([.training: g.training, .runningMean: g.training && runningMean != nil,
                                                .runningVar: g.training && runningVar != nil, .weight: weight != nil,
                                                .bias: bias != nil, .relu: g.relu])
        // Item (0, c, 0) writes the channel's statistics.
        let (global, per) = elementwiseGrid(g)
        try batch_norm_apply_f32(global: global, x: x, sums: sums, mean: mean, invstd: invstd, runningMean: runningMean ?? mean,
                                 runningVar: runningVar ?? invstd, weight: weight ?? mean, bias: bias ?? mean, y: y, batch: g.batch, channels: g.channels,
                                 inner: g.inner, count: g.count, per: per, momentum: g.momentum, epsilon: g.epsilon, flags: flags)
    }

    /// The backward with the way of summing chosen (tests run both on any device).
    func batchNormBackward(_ x: Buffer, _ dy: Buffer, weight: Buffer?, mean: Buffer, invstd: Buffer,
                           dx: Buffer?, dweight: Buffer?, dbias: Buffer?, geometry g: BatchNormGeometry, workGroupSums: Bool) throws {
        try g.validate(op: "batchNormBackward", device: info.selector, data: [x, dy, dx], perChannel: [weight, mean, invstd, dweight, dbias])
        guard g.channels > 0 else { return }
        let needSums = dweight != nil || dbias != nil || (dx != nil && g.training)
        let sums = needSums ? try channelSums(x, dy: dy, mean: mean, geometry: g, workGroups: workGroupSums) : x
        guard let dx else {
            if dweight != nil || dbias != nil {
                try batch_norm_parameter_gradients_f32(global: [g.channels], sums: sums, invstd: invstd, dweight: dweight ?? sums,
                                                       dbias: dbias ?? sums, channels: g.channels,
                                                       flags: KernelFlags([.weightGradient: dweight != nil, .biasGradient: dbias != nil]))
            }
            return
        }
        // Item (0, c, 0) writes the channel's parameter gradients.
        let (global, per) = elementwiseGrid(g)
        let flags = KernelFlags<BatchNormFlag>([.training: g.training, .weight: weight != nil, .weightGradient: dweight != nil,
                                                .biasGradient: dbias != nil])
        try batch_norm_backward_data_f32(global: global, x: x, dy: dy, mean: mean, invstd: invstd, weight: weight ?? mean, sums: sums,
                                         dx: dx, dweight: dweight ?? dx, dbias: dbias ?? dx, batch: g.batch, channels: g.channels,
                                         inner: g.inner, count: g.count, per: per, flags: flags)
    }

    /// The range of the elementwise passes (`batch_norm_apply_f32`, `batch_norm_backward_data_f32`)
    /// and the values of a plane each item takes: the whole plane on CPU devices (the channel's
    /// statistics derived once per plane), one value on GPUs. At least one item per channel even
    /// for an empty batch or plane, since item (0, c, 0) writes what is kept per channel.
    private func elementwiseGrid(_ g: BatchNormGeometry) -> (global: [Int], per: Int) {
        let per = rowKernels ? Swift.max(g.inner, 1) : 1
        return ([Swift.max((g.inner + per - 1) / per, 1), g.channels, Swift.max(g.batch, 1)], per)
    }

    /// A new [C, 2] buffer of each channel's two sums: Σ(x − K), Σ(x − K)² with K the channel's first
    /// value (no dy), or Σ dy, Σ dy·(x − mean).
    private func channelSums(_ x: Buffer, dy: Buffer?, mean: Buffer?, geometry g: BatchNormGeometry, workGroups: Bool) throws -> Buffer {
        let sums = try allocate(2 * g.channels)
        let gradient = dy != nil ? 1 : 0
        guard g.count > 0 else {
            try fill(sums, value: 0, offset: 0, count: sums.count)
            return sums
        }
        if workGroups {
            // A power-of-two work-group, small enough for every device and no wider than a channel.
            var local = 1
            let cap = Swift.min(256, Swift.max(1, info.maxWorkGroupSize), g.count)
            while local * 2 <= cap { local *= 2 }
            try batch_norm_channel_sums_f32(global: [g.channels * local], local: [local], x: x, dy: dy ?? x, mean: mean ?? x,
                                            sums: sums, batch: g.batch, channels: g.channels, inner: g.inner, gradient: gradient,
                                            scratch: .floats(2 * local))
        } else {
            try batch_norm_plane_sums_f32(global: [g.channels], x: x, dy: dy ?? x, mean: mean ?? x, sums: sums, batch: g.batch,
                                          channels: g.channels, inner: g.inner, gradient: gradient)
        }
        return sums
    }
}

