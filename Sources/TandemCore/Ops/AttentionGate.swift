/// MTAN attention gating as one fused op: `sigmoid(logits) ⊙ features` and its gradient, each a
/// single pass over memory (`Primitives.attentionGate`, `attentionGateBackward`; `Kernels/attention_gate.cl`).
extension Tensor {
    /// MTAN attention gating with `self` as the mask logits (the attention block's output before its
    /// sigmoid): returns `sigmoid(self) ⊙ features` without materialising the mask. Both tensors must
    /// have the same shape and device; the gradient reaches both in one fused kernel.
    public func attentionGate(features: Tensor) throws -> Tensor {
        try checkGate("attentionGate", features)
        let logits = self
        let y = try logits.gated(features)
        return record(y, op: "attentionGate", inputs: [logits, features]) { g in
            let (dz, df) = try logits.gateGradients(features, g)
            return [dz, df]
        }
    }

    /// MTAN's attention mask end to end: `sigmoid(batchNorm(self)) ⊙ features`, with the batch norm's
    /// arguments as in `batchNorm`. The normalised logits are not kept for the backward, which
    /// recomputes them from the saved statistics in one pass: each attention saves one activation
    /// (the size of `features`) fewer.
    public func batchNormAttentionGate(features: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                                       bias: Tensor?, training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5) throws -> Tensor {
        try checkGate("batchNormAttentionGate", features)
        let x = self
        let (logits, saved) = try normalized(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                             training: training, momentum: momentum, epsilon: epsilon, relu: false)
        let y = try logits.gated(features)
        let inputs = [x, features] + [weight, bias].compactMap { $0 }
        return record(y, op: "batchNormAttentionGate", inputs: inputs) { g in
            let (dz, df) = try x.renormalized(saved, weight: weight, bias: bias).gateGradients(features, g)
            let normGrads = try x.batchNormGradients(dz, saved, weight: weight, bias: bias)
            return [normGrads[0], df] + normGrads.dropFirst()
        }
    }

    /// Throws unless `features` has this tensor's shape and device.
    private func checkGate(_ op: String, _ features: Tensor) throws {
        try Tensor.checkSameDevice(op, self, features)
        guard shape == features.shape else {
            throw TandemError.invalidArgument(
                op: op, message: "mask input \(shape) and features \(features.shape) must have the same shape (on \(device.info.selector))")
        }
    }

    /// `sigmoid(self) ⊙ features` (no graph).
    private func gated(_ features: Tensor) throws -> Tensor {
        let y = try Tensor.empty(shape, on: device, op: "attentionGate")
        try device.attentionGate(storage, features.storage, y.storage, count: count)
        return y
    }

    /// The gradients of the logits (self) and the features for the output gradient `g`.
    private func gateGradients(_ features: Tensor, _ g: Tensor) throws -> (Tensor, Tensor) {
        let dz = try Tensor.empty(shape, on: device), df = try Tensor.empty(shape, on: device)
        try device.attentionGateBackward(storage, features.storage, g.storage, dz: dz.storage, df: df.storage, count: count)
        return (dz, df)
    }
}
