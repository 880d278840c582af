// TEMPORARY scaffolding while this op family is written: the primitives below throw until a device
// implements them. Delete this file when the family is done.
extension Device {
    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws { throw missing("sgdUpdate") }
    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws { throw missing("adamUpdate") }
}
