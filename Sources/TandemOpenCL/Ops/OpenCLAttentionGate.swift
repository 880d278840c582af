import TandemCore

/// MTAN attention gating on OpenCL (`Kernels/attention_gate.cl`).
extension OpenCLDevice {
    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws {
        try attention_gate_f32(global: [count], z: z, f: f, y: y, n: count)
    }

    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws {
        try attention_gate_backward_f32(global: [count], z: z, f: f, dy: dy, dz: dz, df: df, n: count)
    }
}
