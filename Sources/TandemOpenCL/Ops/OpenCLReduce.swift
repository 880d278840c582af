import TandemCore

/// Reductions along one axis on OpenCL (`Kernels/reduce.cl`).
extension OpenCLDevice {
    public func reduce(_ op: ReduceOp, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        let code = Int(op.rawValue)
        // Few long reductions: split the extent into chunks first so enough work-items run.
        if extent >= 4096 && outer * inner < 4096 {
            let chunks = Swift.min(256, extent / 64)
            let partial = try allocate(outer * chunks * inner)
            try launch("reduce_f32", program: "reduce", global: [outer * chunks * inner],
                       [.buffer(x), .buffer(partial), .int(outer), .int(extent), .int(inner), .int(chunks), .int(code)])
            try launch("reduce_f32", program: "reduce", global: [outer * inner],
                       [.buffer(partial), .buffer(y), .int(outer), .int(chunks), .int(inner), .int(1), .int(code)])
            return
        }
        try launch("reduce_f32", program: "reduce", global: [outer * inner],
                   [.buffer(x), .buffer(y), .int(outer), .int(extent), .int(inner), .int(1), .int(code)])
    }

    public func argmax(_ x: Buffer, values: Buffer, indices: Buffer, outer: Int, extent: Int, inner: Int) throws {
        try launch("argmax_f32", program: "reduce", global: [outer * inner],
                   [.buffer(x), .buffer(values), .buffer(indices), .int(outer), .int(extent), .int(inner)])
    }
}
