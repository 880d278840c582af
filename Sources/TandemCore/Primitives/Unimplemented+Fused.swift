// TEMPORARY scaffolding while this op family is written: the primitives below throw until a device
// implements them. Delete this file when the family is done.
extension Device {
    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws { throw missing("attentionGate") }
    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws { throw missing("attentionGateBackward") }
    public func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int,
                            transposed: Bool) throws { throw missing("crossStitch") }
    public func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int,
                                         inner: Int) throws { throw missing("crossStitchAlphaGradient") }
}
