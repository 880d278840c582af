/// MTAN attention gating as one fused op: `sigmoid(logits) ⊙ features` and its gradient, each a
/// single pass over memory (`Primitives.attentionGate`, `attentionGateBackward`; `Kernels/mtl.cl`).
extension Tensor {
    /// MTAN attention gating with `self` as the mask logits (the attention block's output before its
    /// sigmoid): returns `sigmoid(self) ⊙ features` without materialising the mask. Both tensors must
    /// have the same shape and device; the gradient reaches both in one fused kernel.
    public func attentionGate(features: Tensor) throws -> Tensor {
        let op = "attentionGate"
        try Tensor.checkSameDevice(op, self, features)
        guard shape == features.shape else {
            throw TandemError.invalidArgument(
                op: op, message: "mask logits \(shape) and features \(features.shape) must have the same shape (on \(device.info.selector))")
        }
        let logits = self
        let y = try Tensor.empty(shape, on: device)
        try device.attentionGate(logits.storage, features.storage, y.storage, count: count)
        return record(y, inputs: [logits, features]) { g in
            let dz = try Tensor.empty(logits.shape, on: logits.device), df = try Tensor.empty(logits.shape, on: logits.device)
            try logits.device.attentionGateBackward(logits.storage, features.storage, g.storage, dz: dz.storage, df: df.storage,
                                                    count: logits.count)
            return [dz, df]
        }
    }
}
