import TandemCore

extension OpenCLDevice {
    /// Shape, strides and offset arguments of one strided launch, padded to the kernel's 8 axes.
    func layoutArguments(_ layout: StridedLayout) throws -> (rank: KernelArgument, shape: KernelArgument, strides: [KernelArgument], offsets: [KernelArgument]) {
        guard layout.rank <= StridedLayout.maxRank else {
            throw TandemError.invalidArgument(op: "strided launch", message: "layout of rank \(layout.rank) exceeds \(StridedLayout.maxRank) axes after merging (shape \(layout.shape))")
        }
        return (.int(layout.rank), .int8(layout.shape), layout.strides.map { .int8($0) }, layout.offsets.map { .int($0) })
    }

    public func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws {
        try launch("unary_f32", program: "elementwise", global: [count],
                   [.buffer(x), .buffer(y), .int(count), .int(Int(op.rawValue)), .float(scalar)])
    }

    public func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let l = try layoutArguments(layout)
        try launch("binary_f32", program: "elementwise", global: [layout.count],
                   [.buffer(a), .buffer(b), .buffer(y), .int(layout.count), .int(Int(op.rawValue)), l.rank, l.shape]
                   + l.strides + l.offsets)
    }

    public func select(_ condition: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let l = try layoutArguments(layout)
        try launch("select_f32", program: "elementwise", global: [layout.count],
                   [.buffer(condition), .buffer(a), .buffer(b), .buffer(y), .int(layout.count), l.rank, l.shape]
                   + l.strides + l.offsets)
    }

    public func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        // On a CPU device a work-item is one iteration of a loop, and the general kernel divides
        // per element: when both sides have contiguous rows, one work-item copies a whole row.
        if rowKernels, layout.rank >= 2, let inner = layout.shape.last, inner >= 16,
           layout.strides[0].last == 1, layout.strides[1].last == 1 {
            var rows = layout
            rows.shape.removeLast()
            rows.strides = rows.strides.map { Array($0.dropLast()) }
            let l = try layoutArguments(rows)
            try launch("copy_rows_f32", program: "elementwise", global: [rows.count],
                       [.buffer(x), .buffer(y), .int(rows.count), .int(inner), l.rank, l.shape] + l.strides + l.offsets)
            return
        }
        let l = try layoutArguments(layout)
        try launch("copy_f32", program: "elementwise", global: [layout.count],
                   [.buffer(x), .buffer(y), .int(layout.count), l.rank, l.shape] + l.strides + l.offsets)
    }
}
