import TandemCore

/// Cross-stitch mixing on OpenCL (`Kernels/cross_stitch.cl`).
extension OpenCLDevice {
    public func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int,
                            transposed: Bool) throws {
        guard tasks > 0 else { return }
        // One work-item per position (p, c, n), writing all T columns there.
        try cross_stitch_f32(global: [inner, channels, batch], x: x, alpha: alpha, y: y, tasks: tasks, batch: batch,
                             channels: channels, inner: inner, transposed: transposed ? 1 : 0)
    }

    public func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int,
                                         inner: Int) throws {
        let groups = channels * tasks * tasks
        guard groups > 0 else { return }
        if rowKernels {
            // The CPU-device kind (PoCL runs a work-group as loops and handles barriers poorly): sum
            // over spatial positions per (entry, n), then reduce over the batch. Following
            // `rowKernels` rather than the device type lets a GPU-type device (Oclgrind) run both.
            let partial = try allocate(groups * batch)
            try cross_stitch_alpha_partial_f32(global: [batch, groups], x: x, dy: dy, partial: partial, tasks: tasks, batch: batch,
                                               channels: channels, inner: inner)
            try reduce(.sum, partial, dalpha, outer: groups, extent: batch, inner: 1)
            return
        }
        // One work-group per alpha entry; a power-of-two size for the tree reduction, small enough
        // for every device and not wider than the batch × spatial extent it reduces.
        var local = 1
        let cap = Swift.min(256, Swift.max(1, info.maxWorkGroupSize), Swift.max(1, batch * inner))
        while local * 2 <= cap { local *= 2 }
        try cross_stitch_alpha_gradient_f32(global: [groups * local], local: [local], x: x, dy: dy, dalpha: dalpha, tasks: tasks,
                                            batch: batch, channels: channels, inner: inner, partial: .floats(local))
    }
}
