import TandemCore

/// The fused optimizer updates on OpenCL (`Kernels/optimizer.cl`), in place.
extension OpenCLDevice {
    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws {
        try sgd_update_f32(global: [count], p: parameter, g: gradient, b: momentum, n: count, s: SGDParameters(step))
    }

    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws {
        try adam_update_f32(global: [count], p: parameter, g: gradient, m: m, v: v, n: count, s: AdamParameters(step))
    }
}
