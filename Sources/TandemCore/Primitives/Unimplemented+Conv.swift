// TEMPORARY scaffolding while this op family is written: the primitives below throw until a device
// implements them. Delete this file when the family is done.
extension Device {
    public func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws { throw missing("im2col") }
    public func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws { throw missing("col2im") }
}
