// TEMPORARY scaffolding while this op family is written: the primitives below throw until a device
// implements them. Delete this file when the family is done.
extension Device {
    public func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws { throw missing("gatherClass") }
    public func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws { throw missing("scatterClass") }
    public func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws { throw missing("uniform") }
}
