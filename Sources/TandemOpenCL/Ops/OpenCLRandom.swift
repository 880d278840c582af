import TandemCore

extension OpenCLDevice {
    /// Splits a 64-bit value into the two 32-bit kernel arguments (low, high) that `random.cl` joins.
    static func halves(_ value: UInt64) -> [KernelArgument] {
        [.int(Int(Int32(bitPattern: UInt32(truncatingIfNeeded: value)))),
         .int(Int(Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32))))]
    }

    public func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws {
        guard count > 0 else { return }
        guard offset >= 0 else {
            throw TandemError.invalidArgument(op: "uniform", message: "negative stream offset \(offset) on \(info.selector)")
        }
        try launch("uniform_f32", program: "random", global: [count],
                   [.buffer(y), .int(count)] + OpenCLDevice.halves(seed) + OpenCLDevice.halves(UInt64(offset)))
    }
}
