// TEMPORARY scaffolding while the op families are written: every primitive not yet implemented by a
// device throws. This file must be empty of methods before the op-set issue is called done.
extension Device {
    func missing(_ name: String) -> TandemError {
        .backend(op: name, device: info.selector, message: "not implemented yet")
    }
    public func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws { throw missing("im2col") }
    public func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws { throw missing("col2im") }
    public func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry: PoolGeometry) throws { throw missing("maxPool2d") }
    public func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws { throw missing("maxPool2dBackward") }
    public func avgPool2d(_ x: Buffer, _ y: Buffer, geometry: PoolGeometry) throws { throw missing("avgPool2d") }
    public func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws { throw missing("avgPool2dBackward") }
    public func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws { throw missing("scatterPlanes") }
    public func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws { throw missing("gatherPlanes") }
    public func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                               alignCorners: Bool, backward: Bool) throws { throw missing("resizeBilinear") }
    public func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                              backward: Bool) throws { throw missing("resizeNearest") }
    public func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws { throw missing("gatherClass") }
    public func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws { throw missing("scatterClass") }
    public func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws { throw missing("uniform") }
    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws { throw missing("attentionGate") }
    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws { throw missing("attentionGateBackward") }
    public func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int,
                            transposed: Bool) throws { throw missing("crossStitch") }
    public func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int,
                                         inner: Int) throws { throw missing("crossStitchAlphaGradient") }
    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws { throw missing("sgdUpdate") }
    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws { throw missing("adamUpdate") }
}
