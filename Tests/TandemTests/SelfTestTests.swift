import Testing
@testable import Tandem

/// A device that computes like the CPU except that `exp` is off by 1%: what a buggy driver looks like.
final class BrokenExpDevice: Device, @unchecked Sendable {
    let cpu = CPUDevice.shared
    var poolStatistics: BufferPoolStatistics { cpu.poolStatistics }
    var info: DeviceInfo {
        var info = cpu.info
        info.selector = "broken"
        info.name = "a device with a wrong exp"
        return info
    }
    func allocate(_ count: Int) throws -> any DeviceBuffer { try cpu.allocate(count) }
    func upload(_ values: [Float], to buffer: any DeviceBuffer, offset: Int) throws { try cpu.upload(values, to: buffer, offset: offset) }
    func download(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> [Float] { try cpu.download(buffer, offset: offset, count: count) }
    func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws { try cpu.fill(buffer, value: value, offset: offset, count: count) }
    func gemm(_ gemm: GEMM, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws { try cpu.gemm(gemm, a: a, b: b, c: c) }
    func synchronize() throws {}
    func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws {
        try cpu.unary(op, x, y, count: count, scalar: scalar)
        if op == .exp { try cpu.unary(.mulScalar, y, y, count: count, scalar: 1.01) }
    }
    func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws { try cpu.binary(op, a, b, y, layout: layout) }
    func select(_ c: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws { try cpu.select(c, a, b, y, layout: layout) }
    func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws { try cpu.copy(x, y, layout: layout) }
    func reduce(_ op: ReduceOp, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        try cpu.reduce(op, x, y, outer: outer, extent: extent, inner: inner)
    }
    func argmax(_ x: Buffer, values: Buffer, indices: Buffer, outer: Int, extent: Int, inner: Int) throws {
        try cpu.argmax(x, values: values, indices: indices, outer: outer, extent: extent, inner: inner)
    }
    func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws { try cpu.im2col(x, col, geometry: geometry) }
    func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws { try cpu.col2im(col, x, geometry: geometry) }
    func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry: PoolGeometry) throws { try cpu.maxPool2d(x, y, indices: indices, geometry: geometry) }
    func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws {
        try cpu.maxPool2dBackward(dy, indices: indices, dx, geometry: geometry)
    }
    func avgPool2d(_ x: Buffer, _ y: Buffer, geometry: PoolGeometry) throws { try cpu.avgPool2d(x, y, geometry: geometry) }
    func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws { try cpu.avgPool2dBackward(dy, dx, geometry: geometry) }
    func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        try cpu.scatterPlanes(x, indices: indices, y, planes: planes, inputSize: inputSize, outputSize: outputSize)
    }
    func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {
        try cpu.gatherPlanes(x, indices: indices, y, planes: planes, inputSize: inputSize, outputSize: outputSize)
    }
    func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                        alignCorners: Bool, backward: Bool) throws {
        try cpu.resizeBilinear(x, y, planes: planes, height: height, width: width, outHeight: outHeight, outWidth: outWidth,
                               alignCorners: alignCorners, backward: backward)
    }
    func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int, backward: Bool) throws {
        try cpu.resizeNearest(x, y, planes: planes, height: height, width: width, outHeight: outHeight, outWidth: outWidth, backward: backward)
    }
    func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws {
        try cpu.gatherClass(x, target: target, y, batch: batch, classes: classes, inner: inner)
    }
    func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws {
        try cpu.scatterClass(dy, target: target, dx, batch: batch, classes: classes, inner: inner)
    }
    func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws { try cpu.uniform(y, count: count, seed: seed, offset: offset) }
    func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws { try cpu.attentionGate(z, f, y, count: count) }
    func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws {
        try cpu.attentionGateBackward(z, f, dy, dz: dz, df: df, count: count)
    }
    func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int, transposed: Bool) throws {
        try cpu.crossStitch(x, alpha: alpha, y, tasks: tasks, batch: batch, channels: channels, inner: inner, transposed: transposed)
    }
    func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int) throws {
        try cpu.crossStitchAlphaGradient(x, dy, dalpha: dalpha, tasks: tasks, batch: batch, channels: channels, inner: inner)
    }
    func batchNormForward(_ x: Buffer, _ y: Buffer, weight: Buffer?, bias: Buffer?, mean: Buffer, invstd: Buffer,
                          runningMean: Buffer?, runningVar: Buffer?, geometry: BatchNormGeometry) throws {
        try cpu.batchNormForward(x, y, weight: weight, bias: bias, mean: mean, invstd: invstd, runningMean: runningMean,
                                 runningVar: runningVar, geometry: geometry)
    }
    func batchNormBackward(_ x: Buffer, _ dy: Buffer, weight: Buffer?, mean: Buffer, invstd: Buffer,
                           dx: Buffer?, dweight: Buffer?, dbias: Buffer?, geometry: BatchNormGeometry) throws {
        try cpu.batchNormBackward(x, dy, weight: weight, mean: mean, invstd: invstd, dx: dx, dweight: dweight, dbias: dbias,
                                  geometry: geometry)
    }
    func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws {
        try cpu.sgdUpdate(parameter, gradient: gradient, momentum: momentum, count: count, step: step)
    }
    func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws {
        try cpu.adamUpdate(parameter, gradient: gradient, m: m, v: v, count: count, step: step)
    }
}

@Suite("Self-test")
struct SelfTestTests {
    @Test("on a device that computes exp wrongly, the self-test names exp and the ops built on it, and passes the rest")
    func namesTheWrongOp() throws {
        let results = SelfTest.run(on: BrokenExpDevice(), seed: 5)
        let failed = Set(results.filter { !$0.passed }.map(\.op))
        #expect(failed.contains("exp"))
        #expect(!failed.contains("neg"))
        #expect(!failed.contains("matmul"))
        #expect(!failed.contains("sigmoid"))
        #expect(failed.count < results.count / 2)
        #expect(results.allSatisfy { $0.failure == nil })
    }
}
