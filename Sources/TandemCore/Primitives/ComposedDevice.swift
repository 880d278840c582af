/// A device as a new backend starts out: `base`'s memory, GEMM and basic primitives, and nothing
/// else, so every fused primitive runs its reference composition (`Composed`). The self-test runs
/// the checks of the fused ops on it, which proves both that the compositions are right and that a
/// device with only the basic set trains every model. Open, so a test can override a primitive.
open class ComposedDevice: Device, @unchecked Sendable {
    public let base: any Device
    public let info: DeviceInfo

    public init(_ base: any Device, selectorSuffix: String = "+composed") {
        self.base = base
        var info = base.info
        info.selector = base.info.selector + selectorSuffix
        info.name = base.info.name + " (fused primitives composed)"
        self.info = info
    }

    public var poolStatistics: BufferPoolStatistics { base.poolStatistics }
    public func allocate(_ count: Int) throws -> any DeviceBuffer { try base.allocate(count) }
    public func upload(_ values: [Float], to buffer: any DeviceBuffer, offset: Int) throws {
        try base.upload(values, to: buffer, offset: offset)
    }
    public func download(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> [Float] {
        try base.download(buffer, offset: offset, count: count)
    }
    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        try base.fill(buffer, value: value, offset: offset, count: count)
    }
    public func gemm(_ gemm: GEMM, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        try base.gemm(gemm, a: a, b: b, c: c)
    }
    public func synchronize() throws { try base.synchronize() }

    open func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws {
        try base.unary(op, x, y, count: count, scalar: scalar)
    }
    public func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        try base.binary(op, a, b, y, layout: layout)
    }
    public func select(_ condition: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        try base.select(condition, a, b, y, layout: layout)
    }
    public func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws { try base.copy(x, y, layout: layout) }
    public func reduce(_ op: ReduceOp, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        try base.reduce(op, x, y, outer: outer, extent: extent, inner: inner)
    }
    public func argmax(_ x: Buffer, values: Buffer, indices: Buffer, outer: Int, extent: Int, inner: Int) throws {
        try base.argmax(x, values: values, indices: indices, outer: outer, extent: extent, inner: inner)
    }
    public func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry: PoolGeometry) throws {
        try base.maxPool2d(x, y, indices: indices, geometry: geometry)
    }
    public func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws {
        try base.maxPool2dBackward(dy, indices: indices, dx, geometry: geometry)
    }
    public func avgPool2d(_ x: Buffer, _ y: Buffer, geometry: PoolGeometry) throws { try base.avgPool2d(x, y, geometry: geometry) }
    public func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws {
        try base.avgPool2dBackward(dy, dx, geometry: geometry)
    }
    public func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        try base.scatterPlanes(x, indices: indices, y, planes: planes, inputSize: inputSize, outputSize: outputSize)
    }
    public func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        try base.gatherPlanes(x, indices: indices, y, planes: planes, inputSize: inputSize, outputSize: outputSize)
    }
    public func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                               alignCorners: Bool, backward: Bool) throws {
        try base.resizeBilinear(x, y, planes: planes, height: height, width: width, outHeight: outHeight, outWidth: outWidth,
                                alignCorners: alignCorners, backward: backward)
    }
    public func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                              backward: Bool) throws {
        try base.resizeNearest(x, y, planes: planes, height: height, width: width, outHeight: outHeight, outWidth: outWidth,
                               backward: backward)
    }
    public func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws {
        try base.gatherClass(x, target: target, y, batch: batch, classes: classes, inner: inner)
    }
    public func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws {
        try base.scatterClass(dy, target: target, dx, batch: batch, classes: classes, inner: inner)
    }
    public func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws {
        try base.uniform(y, count: count, seed: seed, offset: offset)
    }
}
