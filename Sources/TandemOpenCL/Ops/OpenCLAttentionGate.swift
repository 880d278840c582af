import TandemCore

extension OpenCLDevice {
    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws {
        try launch("attention_gate_f32", program: "attention_gate", global: [count],
                   [.buffer(z), .buffer(f), .buffer(y), .int(count)])
    }

    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws {
        try launch("attention_gate_backward_f32", program: "attention_gate", global: [count],
                   [.buffer(z), .buffer(f), .buffer(dy), .buffer(dz), .buffer(df), .int(count)])
    }
}
