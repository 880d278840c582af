import TandemCore

/// Class gathers of the classification losses on OpenCL (`Kernels/losses.cl`).
extension OpenCLDevice {
    public func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws {
        try gather_class_f32(global: [batch * inner], x: x, target: target, y: y, batch: batch, classes: classes, inner: inner)
    }

    public func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws {
        try scatter_class_f32(global: [batch * classes * inner], dy: dy, target: target, dx: dx, batch: batch, classes: classes,
                              inner: inner)
    }
}
