extension Composed {
    /// x [T, N, C, S] as per-channel matrices [C, T, N·S] (a permuting copy), into a new buffer.
    static func channelMajor(_ device: any Device, _ x: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int) throws -> Buffer {
        let y = try scratch(device, tasks * batch * channels * inner)
        try device.copy(x, y, layout: StridedLayout(
            shape: [channels, tasks, batch, inner],
            strides: [[inner, batch * channels * inner, channels * inner, 1],
                      [tasks * batch * inner, batch * inner, inner, 1]]))
        return y
    }

    /// y[t, n, c] = Σ_s alpha[c, t, s] · x[s, n, c]: per channel, one [T, T] × [T, N·S] product
    /// (a GEMM batched over the channels) between two permuting copies.
    public static func crossStitch(on device: any Device, _ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int,
                                   channels: Int, inner: Int, transposed: Bool) throws {
        let columns = batch * inner
        guard tasks > 0, channels > 0, columns > 0 else { return }
        let xc = try channelMajor(device, x, tasks: tasks, batch: batch, channels: channels, inner: inner)
        let yc = try scratch(device, tasks * batch * channels * inner)
        var gemm = GEMM(m: tasks, n: columns, k: tasks, transposeA: transposed, batchCount: channels)
        (gemm.strideA, gemm.strideB, gemm.strideC) = (tasks * tasks, tasks * columns, tasks * columns)
        try device.gemm(gemm, a: alpha, b: xc, c: yc)
        // Back from [C, T, N, S] to [T, N, C, S].
        try device.copy(yc, y, layout: StridedLayout(
            shape: [channels, tasks, batch, inner],
            strides: [[tasks * batch * inner, batch * inner, inner, 1],
                      [inner, batch * channels * inner, channels * inner, 1]]))
    }

    /// dalpha[c, t, s] = Σ_{n, p} dy[t, n, c, p] · x[s, n, c, p]: per channel, [T, N·S] × [N·S, T].
    public static func crossStitchAlphaGradient(on device: any Device, _ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int,
                                                batch: Int, channels: Int, inner: Int) throws {
        let columns = batch * inner
        guard tasks > 0, channels > 0 else { return }
        guard columns > 0 else { return try device.fill(dalpha, value: 0, offset: 0, count: channels * tasks * tasks) }
        let xc = try channelMajor(device, x, tasks: tasks, batch: batch, channels: channels, inner: inner)
        let dyc = try channelMajor(device, dy, tasks: tasks, batch: batch, channels: channels, inner: inner)
        var gemm = GEMM(m: tasks, n: tasks, k: columns, transposeB: true, batchCount: channels)
        (gemm.strideA, gemm.strideB, gemm.strideC) = (tasks * columns, tasks * columns, tasks * tasks)
        try device.gemm(gemm, a: dyc, b: xc, c: dalpha)
    }
}
