import TandemCore

/// Elementwise primitives on OpenCL (`Kernels/elementwise.cl`): unary, binary and select with
/// broadcasting, and the strided copy behind every layout op.
extension OpenCLDevice {
    /// A strided layout as the kernels take it: shape and each operand's strides as int8 vectors
    /// (one lane per axis, at most `StridedLayout.maxRank`), and each operand's offset.
    struct LayoutLanes {
        var rank: Int
        var shape: SIMD8<Int32>
        var strides: [SIMD8<Int32>]
        var offsets: [Int]

        init(_ layout: StridedLayout, op: String, device: String) throws {
            guard layout.rank <= StridedLayout.maxRank else {
                throw TandemError.invalidArgument(
                    op: op, message: "layout of rank \(layout.rank) exceeds \(StridedLayout.maxRank) axes after merging (shape \(layout.shape)) on \(device)")
            }
            func lanes(_ values: [Int], _ what: String) throws -> SIMD8<Int32> {
                var out = SIMD8<Int32>()
                for (axis, value) in values.enumerated() { out[axis] = try kernelInt(value, what, op: op, device: device) }
                return out
            }
            rank = layout.rank
            shape = try lanes(layout.shape, "shape")
            strides = try layout.strides.map { try lanes($0, "stride") }
            offsets = layout.offsets
        }
    }

    public func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws {
        try unary_f32(global: [count], x: x, y: y, n: count, op: op, p: scalar)
    }

    public func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let l = try LayoutLanes(layout, op: "binary \(op)", device: info.selector)
        try binary_f32(global: [layout.count], a: a, b: b, y: y, n: layout.count, op: op, rank: l.rank, shape: l.shape,
                       sa: l.strides[0], sb: l.strides[1], oa: l.offsets[0], ob: l.offsets[1])
    }

    public func select(_ condition: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let l = try LayoutLanes(layout, op: "select", device: info.selector)
        try select_f32(global: [layout.count], c: condition, a: a, b: b, y: y, n: layout.count, rank: l.rank, shape: l.shape,
                       sc: l.strides[0], sa: l.strides[1], sb: l.strides[2], oc: l.offsets[0], oa: l.offsets[1], ob: l.offsets[2])
    }

    public func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        // On a CPU device a work-item is one iteration of a loop, and the general kernel divides
        // per element: when both sides have contiguous rows, one work-item copies a whole row.
        if rowKernels, layout.rank >= 2, let inner = layout.shape.last, inner >= 16,
           layout.strides[0].last == 1, layout.strides[1].last == 1 {
            var rows = layout
            rows.shape.removeLast()
            rows.strides = rows.strides.map { Array($0.dropLast()) }
            let l = try LayoutLanes(rows, op: "copy", device: info.selector)
            try copy_rows_f32(global: [rows.count], x: x, y: y, rows: rows.count, inner: inner, rank: l.rank, shape: l.shape,
                              sx: l.strides[0], sy: l.strides[1], ox: l.offsets[0], oy: l.offsets[1])
            return
        }
        let l = try LayoutLanes(layout, op: "copy", device: info.selector)
        try copy_f32(global: [layout.count], x: x, y: y, n: layout.count, rank: l.rank, shape: l.shape, sx: l.strides[0],
                     sy: l.strides[1], ox: l.offsets[0], oy: l.offsets[1])
    }
}

extension OpenCLDevice {
    public func addChannelBias(_ y: Buffer, bias: Buffer, batch: Int, channels: Int, inner: Int, relu: Bool) throws {
        try add_channel_bias_f32(global: [inner, channels, batch], y: y, bias: bias, batch: batch, channels: channels, inner: inner,
                                 relu: relu ? 1 : 0)
    }
}
