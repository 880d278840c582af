// TEMPORARY scaffolding while this op family is written: the primitives below throw until a device
// implements them. Delete this file when the family is done.
extension Device {
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
}
