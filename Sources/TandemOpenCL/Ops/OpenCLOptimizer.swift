import TandemCore

extension OpenCLDevice {
    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws {
        try launch("sgd_update_f32", program: "optimizer", global: [count],
                   [.buffer(parameter), .buffer(gradient), .buffer(momentum), .int(count), .float(step.lr),
                    .float(step.momentum), .float(step.dampening), .float(step.weightDecay),
                    .int(step.nesterov ? 1 : 0), .int(step.first ? 1 : 0)])
    }

    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws {
        let s = step.scalars
        try launch("adam_update_f32", program: "optimizer", global: [count],
                   [.buffer(parameter), .buffer(gradient), .buffer(m), .buffer(v), .int(count), .float(step.beta1),
                    .float(step.beta2), .float(step.epsilon), .float(step.weightDecay), .int(step.decoupled ? 1 : 0),
                    .float(s.stepSize), .float(s.correction2), .float(s.decay)])
    }
}
