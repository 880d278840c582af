/// Cross-stitch units (Misra et al. 2016): per channel c, the task columns are remixed by a T×T
/// matrix, x̃_t = Σ_s α[c, t, s] · x_s. One fused kernel forward; the input gradient is the same
/// kernel with α transposed, and α's gradient a reduction over batch and spatial positions
/// (`Primitives.crossStitch`, `crossStitchAlphaGradient`; `Kernels/cross_stitch.cl`).
extension Tensor {
    /// Cross-stitch mixing of stacked task columns: `self` is [T, N, C, ...] (T tasks, batch N,
    /// C channels, any trailing spatial axes), `alpha` is [C, T, T]. Returns the mixed columns,
    /// stacked the same way: y[t, n, c, ...] = Σ_s alpha[c, t, s] · self[s, n, c, ...].
    public func crossStitch(alpha: Tensor) throws -> Tensor {
        let op = "crossStitch"
        try Tensor.checkSameDevice(op, self, alpha)
        guard rank >= 3 else {
            throw TandemError.invalidArgument(
                op: op, message: "columns must be stacked as [T, N, C, ...], got \(shape) (on \(device.info.selector))")
        }
        let tasks = shape[0], batch = shape[1], channels = shape[2], inner = shape[3...].reduce(1, *)
        guard alpha.shape == [channels, tasks, tasks] else {
            throw TandemError.invalidArgument(
                op: op, message: "alpha \(alpha.shape) must be [C, T, T] = [\(channels), \(tasks), \(tasks)] for columns \(shape) (on \(device.info.selector))")
        }
        let x = self
        let y = try Tensor.empty(shape, on: device)
        try device.crossStitch(x.storage, alpha: alpha.storage, y.storage, tasks: tasks, batch: batch, channels: channels,
                               inner: inner, transposed: false)
        return record(y, op: "crossStitch", inputs: [x, alpha]) { g in
            var dx: Tensor? = nil, dalpha: Tensor? = nil
            if x.requiresGrad {
                let t = try Tensor.empty(x.shape, on: x.device)
                try x.device.crossStitch(g.storage, alpha: alpha.storage, t.storage, tasks: tasks, batch: batch,
                                         channels: channels, inner: inner, transposed: true)
                dx = t
            }
            if alpha.requiresGrad {
                let t = try Tensor.empty(alpha.shape, on: x.device)
                try x.device.crossStitchAlphaGradient(x.storage, g.storage, dalpha: t.storage, tasks: tasks, batch: batch,
                                                      channels: channels, inner: inner)
                dalpha = t
            }
            return [dx, dalpha]
        }
    }

    /// Cross-stitch mixing of T task columns, each [N, C, ...] with the same shape, by `alpha`
    /// [C, T, T]; returns the T mixed columns. Stacks the columns, mixes them in one kernel and
    /// splits the result (use the stacked form to avoid the two copies).
    public static func crossStitch(_ columns: [Tensor], alpha: Tensor) throws -> [Tensor] {
        guard let first = columns.first else {
            throw TandemError.invalidArgument(op: "crossStitch", message: "no task columns given")
        }
        guard columns.allSatisfy({ $0.shape == first.shape }) else {
            throw TandemError.invalidArgument(
                op: "crossStitch", message: "task columns must share one shape, got \(columns.map(\.shape)) (on \(first.device.info.selector))")
        }
        let mixed = try Tensor.stack(columns, axis: 0).crossStitch(alpha: alpha)
        return try (0..<columns.count).map { try mixed.slice(axis: 0, $0..<($0 + 1)).squeeze(0) }
    }

    /// The usual initial cross-stitch parameters, [channels, tasks, tasks]: `diagonal` on each
    /// channel's diagonal (a column keeps mostly its own features) and `offDiagonal` elsewhere.
    public static func crossStitchAlpha(channels: Int, tasks: Int, diagonal: Float = 0.9, offDiagonal: Float = 0.1,
                                        on device: any Device, requiresGrad: Bool = true) throws -> Tensor {
        guard channels > 0, tasks > 0 else {
            throw TandemError.invalidArgument(
                op: "crossStitchAlpha", message: "needs positive channels and tasks, got \(channels) and \(tasks) (on \(device.info.selector))")
        }
        var values = [Float](repeating: offDiagonal, count: channels * tasks * tasks)
        for c in 0..<channels { for t in 0..<tasks { values[(c * tasks + t) * tasks + t] = diagonal } }
        return try Tensor(values, shape: [channels, tasks, tasks], on: device, requiresGrad: requiresGrad)
    }
}
