extension Composed {
    /// y = sigmoid(z) · f: a sigmoid and a product.
    public static func attentionGate(on device: any Device, _ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws {
        guard count > 0 else { return }
        let s = try unary(device, .sigmoid, z, count: count)
        try device.binary(.mul, s, f, y, layout: flat(count))
    }

    /// dz = dy · f · s(1 − s), df = dy · s, s = sigmoid(z).
    public static func attentionGateBackward(on device: any Device, _ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer,
                                             df: Buffer, count: Int) throws {
        guard count > 0 else { return }
        let s = try unary(device, .sigmoid, z, count: count)
        try device.binary(.mul, dy, s, df, layout: flat(count))
        let complement = try unary(device, .addScalar, try unary(device, .neg, s, count: count), count: count, scalar: 1)
        let slope = try binary(device, .mul, s, complement, count: count)
        let gated = try binary(device, .mul, dy, f, count: count)
        try device.binary(.mul, gated, slope, dz, layout: flat(count))
    }
}
