/// Gradient clipping by global norm, computed on the device: no host read, so a training step
/// stays asynchronous (`torch.nn.utils.clip_grad_norm_`).
extension Tensor {
    /// Scales the gradients of `parameters` together so their global L2 norm is at most `maxNorm`:
    /// each gradient is multiplied by min(1, maxNorm / (norm + 1e-6)), a device scalar, so small
    /// gradients are left unchanged (up to that factor being exactly 1). Parameters without a
    /// gradient are skipped. Returns the norm before clipping, a one-element tensor on the device
    /// (read it only when you need it: that read waits for the device).
    @discardableResult
    public static func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) throws -> Tensor {
        let op = "clipGradientNorm"
        guard maxNorm > 0 else {
            throw TandemError.invalidArgument(op: op, message: "maxNorm must be positive, got \(maxNorm)")
        }
        guard let first = parameters.first else {
            throw TandemError.invalidArgument(op: op, message: "no parameters given")
        }
        return try withoutGradient {
            let grads = parameters.compactMap(\.grad)
            guard let firstGrad = grads.first else { return try Tensor.zeros([], on: first.device) }
            try checkOneDevice(op, grads)
            var total: Tensor? = nil
            for grad in grads {
                let squares = try grad.reshape([grad.count]).square().sum()
                total = try total.map { try $0 + squares } ?? squares
            }
            guard let total else { return try Tensor.zeros([], on: firstGrad.device) }
            let norm = try total.sqrt()
            let scale = try ((norm + 1e-6).reciprocal() * maxNorm).clamp(max: 1)
            for parameter in parameters {
                guard let grad = parameter.grad else { continue }
                parameter.grad = try grad * scale
            }
            return norm
        }
    }

    /// Throws unless every tensor of the array lives on one device.
    static func checkOneDevice(_ op: String, _ tensors: [Tensor]) throws {
        guard let first = tensors.first else { return }
        for t in tensors.dropFirst() where t.device !== first.device {
            throw TandemError.invalidArgument(
                op: op, message: "tensors on different devices: \(first) and \(t); move one with .to(device)")
        }
    }
}
