
/// The reference compositions of the fused primitives (`FusedPrimitives`), written with the basic
/// primitives, `fill` and GEMM of any device: what a device runs for a fused primitive it does not
/// implement, and the second form the self-test checks (`ComposedDevice`). They favour clarity
/// over speed and allocate their temporaries from the device's pool.
public enum Composed {
    private static let defaultCalls = Locked<[ObjectIdentifier: [String: Int]]>([:])

    /// How often each fused primitive ran as its composition on `device` because the device does
    /// not implement it (the protocol's default): what a backend still lacks, and a check that a
    /// device's own kernels are the ones that run.
    public static func defaults(of device: any Device) -> [String: Int] {
        defaultCalls.withLock { $0[ObjectIdentifier(device)] ?? [:] }
    }

    static func countDefault(_ device: any Device, _ primitive: String) {
        defaultCalls.withLock { $0[ObjectIdentifier(device), default: [:]][primitive, default: 0] += 1 }
    }

    /// A buffer of `count` floats with unspecified contents.
    static func scratch(_ device: any Device, _ count: Int) throws -> Buffer {
        try device.allocate(count)
    }

    /// The layout of an elementwise op over `count` elements read in order from every operand.
    static func flat(_ count: Int, operands: Int = 2) -> StridedLayout {
        StridedLayout(shape: [count], strides: Array(repeating: [1], count: operands))
    }

    /// `op(x, scalar)` into a new buffer.
    static func unary(_ device: any Device, _ op: UnaryOp, _ x: Buffer, count: Int, scalar: Float = 0) throws -> Buffer {
        let y = try scratch(device, count)
        try device.unary(op, x, y, count: count, scalar: scalar)
        return y
    }

    /// `a op b` elementwise over `count` elements into a new buffer.
    static func binary(_ device: any Device, _ op: BinaryOp, _ a: Buffer, _ b: Buffer, count: Int) throws -> Buffer {
        let y = try scratch(device, count)
        try device.binary(op, a, b, y, layout: flat(count))
        return y
    }

    /// `x` copied into `y` (both `count` contiguous elements).
    static func copy(_ device: any Device, _ x: Buffer, into y: Buffer, count: Int) throws {
        try device.copy(x, y, layout: flat(count))
    }

    /// a [batch, channels, inner] `op` b [channels], b broadcast over batch and inner, into a new buffer.
    static func perChannel(_ device: any Device, _ op: BinaryOp, _ a: Buffer, _ b: Buffer, batch: Int, channels: Int,
                           inner: Int) throws -> Buffer {
        let y = try scratch(device, batch * channels * inner)
        try device.binary(op, a, b, y, layout: StridedLayout(shape: [batch, channels, inner],
                                                              strides: [[channels * inner, inner, 1], [0, 1, 0]]))
        return y
    }

    /// Σ over batch and inner of x [batch, channels, inner], into a new [channels] buffer.
    static func channelSums(_ device: any Device, _ x: Buffer, batch: Int, channels: Int, inner: Int) throws -> Buffer {
        let sums = try scratch(device, channels)
        try channelSums(on: device, x, sums, batch: batch, channels: channels, inner: inner)
        return sums
    }

    /// y [batch, channels, inner] += bias [channels]: a broadcast add in place, then ReLU in place
    /// when asked.
    public static func addChannelBias(on device: any Device, _ y: Buffer, bias: Buffer, batch: Int, channels: Int,
                                      inner: Int, relu: Bool) throws {
        let count = batch * channels * inner
        guard count > 0 else { return }
        try device.binary(.add, y, bias, y, layout: StridedLayout(
            shape: [batch, channels, inner], strides: [[channels * inner, inner, 1], [0, 1, 0]]))
        if relu { try device.unary(.relu, y, y, count: count, scalar: 0) }
    }

    /// dz = dy gated by y > 0 (ReLU's gradient), then its per-channel sums.
    public static func gatedChannelSums(on device: any Device, _ dy: Buffer, gate y: Buffer, _ dz: Buffer, sums: Buffer,
                                        batch: Int, channels: Int, inner: Int) throws {
        let count = batch * channels * inner
        if count > 0 { try device.binary(.gate, dy, y, dz, layout: flat(count)) }
        try channelSums(on: device, dz, sums, batch: batch, channels: channels, inner: inner)
    }

    /// y[c] = Σ over batch and inner of x [batch, channels, inner]: each plane summed, then the
    /// planes of each channel.
    public static func channelSums(on device: any Device, _ x: Buffer, _ y: Buffer, batch: Int, channels: Int, inner: Int) throws {
        guard batch * inner > 0 else {
            try device.fill(y, value: 0, offset: 0, count: channels)
            return
        }
        let planes = try scratch(device, batch * channels)
        try device.reduce(.sum, x, planes, outer: batch * channels, extent: inner, inner: 1)
        try device.reduce(.sum, planes, y, outer: 1, extent: batch, inner: channels)
    }
}
