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

/// The fused classification losses on OpenCL (`Kernels/losses.cl`).
extension OpenCLDevice {
    public func logSoftmax(_ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {
        try log_softmax_f32(global: [outer * inner], x: x, y: y, outer: outer, extent: extent, inner: inner)
    }

    public func logSoftmaxBackward(_ y: Buffer, _ dy: Buffer, _ dx: Buffer, outer: Int, extent: Int, inner: Int) throws {
        try log_softmax_backward_f32(global: [outer * inner], y: y, dy: dy, dx: dx, outer: outer, extent: extent, inner: inner)
    }

    public func nllLoss(_ x: Buffer, target: Buffer, mask: Buffer?, loss: Buffer, weight: Buffer, geometry: ClassLossGeometry) throws {
        let group = reductionGroupSize
        try nll_loss_f32(global: [group], local: [group], x: x, target: target, mask: mask ?? target, loss: loss, weight: weight,
                         p: try ClassLossParameters(geometry, masked: mask != nil, op: "nllLoss", device: info.selector),
                         sums: .floats(group), weights: .floats(group))
    }

    public func nllLossBackward(target: Buffer, mask: Buffer?, weight: Buffer, _ dloss: Buffer, _ dx: Buffer,
                                geometry: ClassLossGeometry) throws {
        try nll_loss_backward_f32(global: [geometry.batch * geometry.classes * geometry.inner], target: target, mask: mask ?? target,
                                  weight: weight, dloss: dloss, dx: dx,
                                  p: try ClassLossParameters(geometry, masked: mask != nil, op: "nllLossBackward", device: info.selector))
    }

    /// The work-group size of single-group reductions: the largest power of two up to 256 the
    /// device allows.
    var reductionGroupSize: Int {
        var size = 256
        while size > 1 && size > info.maxWorkGroupSize { size /= 2 }
        return size
    }
}
