import TandemCore

/// Reductions along one axis on OpenCL (`Kernels/reduce.cl`).
extension OpenCLDevice {
    public func reduce(_ op: ReduceOp, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        // Few long reductions: split the extent into chunks first so enough work-items run.
        if extent >= 4096 && outer * inner < 4096 {
            let chunks = Swift.min(256, extent / 64)
            let partial = try allocate(outer * chunks * inner)
            try reduce_f32(global: [outer * chunks * inner], x: x, y: partial, outer: outer, extent: extent, inner: inner,
                           chunks: chunks, op: op)
            try reduce_f32(global: [outer * inner], x: partial, y: y, outer: outer, extent: chunks, inner: inner, chunks: 1, op: op)
            return
        }
        try reduce_f32(global: [outer * inner], x: x, y: y, outer: outer, extent: extent, inner: inner, chunks: 1, op: op)
    }

    public func argmax(_ x: Buffer, values: Buffer, indices: Buffer, outer: Int, extent: Int, inner: Int) throws {
        try argmax_f32(global: [outer * inner], x: x, values: values, indices: indices, outer: outer, extent: extent, inner: inner)
    }
}

extension OpenCLDevice {
    public func channelSums(_ x: Buffer, _ y: Buffer, batch: Int, channels: Int, inner: Int) throws {
        guard channels > 0 else { return }
        // A work-group per channel on GPUs; on CPU devices, a work-item per channel summing in
        // vector lanes (groups with barriers cost a CPU more than the loop they split).
        if rowKernels {
            try channel_plane_sums_f32(global: [channels], x: x, y: y, batch: batch, channels: channels, inner: inner)
            return
        }
        let group = reductionGroupSize
        try channel_sums_f32(global: [channels * group], local: [group], x: x, y: y, batch: batch, channels: channels, inner: inner,
                             sums: .floats(group))
    }

    public func gatedChannelSums(_ dy: Buffer, gate y: Buffer, _ dz: Buffer, sums: Buffer, batch: Int, channels: Int,
                                 inner: Int) throws {
        guard channels > 0 else { return }
        let group = rowKernels ? 1 : reductionGroupSize
        try gated_channel_sums_f32(global: [channels * group], local: [group], dy: dy, y: y, dz: dz, sums: sums, batch: batch,
                                   channels: channels, inner: inner, partial: .floats(group))
    }
}
