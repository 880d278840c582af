import TandemCore

extension OpenCLDevice {
    public func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws {
        try launch("gather_class_f32", program: "losses", global: [batch * inner],
                   [.buffer(x), .buffer(target), .buffer(y), .int(batch), .int(classes), .int(inner)])
    }

    public func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws {
        try launch("scatter_class_f32", program: "losses", global: [batch * classes * inner],
                   [.buffer(dy), .buffer(target), .buffer(dx), .int(batch), .int(classes), .int(inner)])
    }
}
