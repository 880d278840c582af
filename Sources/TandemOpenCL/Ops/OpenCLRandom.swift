import TandemCore

/// The counter-based random stream on OpenCL (`Kernels/random.cl`), bit for bit the CPU's.
extension OpenCLDevice {
    public func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws {
        guard count > 0 else { return }
        guard offset >= 0 else {
            throw TandemError.invalidArgument(op: "uniform", message: "negative stream offset \(offset) on \(info.selector)")
        }
        try uniform_f32(global: [count], y: y, n: count, seed: seed, offset: UInt64(offset))
    }
}
