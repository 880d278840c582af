/// Matrix products on the device's GEMM: `matmul` with NumPy batch broadcasting, and `linear`.
extension Tensor {
    /// `op(a)·op(b)` for a [..., m, k] and b [..., k, n] (before the transposes), batch dimensions
    /// broadcast. No graph; `matmul` records the gradient.
    static func product(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        try checkSameDevice("matmul", a, b)
        guard a.rank >= 2, b.rank >= 2 else {
            throw TandemError.invalidArgument(op: "matmul", message: "needs rank ≥ 2, got \(a.shape) and \(b.shape)")
        }
        let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        guard k == kb, let batch = Shapes.broadcast(batchA, batchB) else {
            throw TandemError.invalidArgument(
                op: "matmul", message: "shapes \(a.shape)\(transposeA ? "ᵀ" : "") and \(b.shape)\(transposeB ? "ᵀ" : "") do not multiply (on \(a.device.info.selector))")
        }
        let batchCount = Shapes.count(batch)
        // Operands without batch dimensions are reused for every batch (stride 0); others are
        // materialised to the full batch shape when they broadcast partially.
        func operand(_ t: Tensor, _ own: [Int]) throws -> (Tensor, Int) {
            let matrix = t.shape[(t.rank - 2)...].reduce(1, *)
            if Shapes.count(own) == 1 { return (t, 0) }
            if own == batch { return (t, matrix) }
            return (try t.expand(batch + t.shape.suffix(2)), matrix)
        }
        let (ea, strideA) = try operand(a, batchA), (eb, strideB) = try operand(b, batchB)
        let y = try empty(batch + [m, n], on: a.device, op: "matmul")
        var g = GEMM(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, batchCount: batchCount)
        g.strideA = strideA
        g.strideB = strideB
        try a.device.gemm(g, a: ea.storage, b: eb.storage, c: y.storage)
        return y
    }

    /// Matrix product with batch broadcasting: [..., m, k] × [..., k, n] → [..., m, n].
    public func matmul(_ other: Tensor) throws -> Tensor {
        let y = try Tensor.product(self, other)
        return record(y, op: "matmul", inputs: [self, other]) { g in
            [self.requiresGrad ? try Tensor.product(g, other, transposeB: true).sum(to: self.shape) : nil,
             other.requiresGrad ? try Tensor.product(self, g, transposeA: true).sum(to: other.shape) : nil]
        }
    }

    /// `self · otherᵀ` (transposing `other`'s last two axes) without materialising the transpose.
    public func matmul(_ other: Tensor, transposeOther: Bool) throws -> Tensor {
        guard transposeOther else { return try matmul(other) }
        let y = try Tensor.product(self, other, transposeB: true)
        return record(y, op: "matmul", inputs: [self, other]) { g in
            [self.requiresGrad ? try Tensor.product(g, other).sum(to: self.shape) : nil,
             other.requiresGrad ? try Tensor.product(g, self, transposeA: true).sum(to: other.shape) : nil]
        }
    }

    /// `x·Wᵀ + b` for x [..., in], weight [out, in] and bias [out] (PyTorch's layout); with `relu`,
    /// `max(x·Wᵀ + b, 0)`, the bias and the ReLU in one pass and, in the backward, ReLU's gate
    /// and the bias gradient in one pass (`addChannelBias`, `gatedChannelSums`).
    public func linear(weight: Tensor, bias: Tensor? = nil, relu: Bool = false) throws -> Tensor {
        guard weight.rank == 2, rank >= 1, shape[rank - 1] == weight.shape[1], bias.map({ $0.shape == [weight.shape[0]] }) ?? true else {
            throw TandemError.invalidArgument(
                op: "linear", message: "input \(shape), weight \(weight.shape), bias \(bias?.shape.description ?? "none") do not fit")
        }
        try Tensor.checkSameDevice("linear", self, weight, bias ?? weight)
        let x2 = try reshape([-1, weight.shape[1]])
        let outShape = Array(shape.dropLast()) + [weight.shape[0]]
        if relu, let bias {
            let (rows, outputs) = (x2.shape[0], weight.shape[0])
            let y = try Tensor.product(x2, weight, transposeB: true)
            try device.addChannelBias(y.storage, bias: bias.storage, batch: rows, channels: outputs, inner: 1, relu: true)
            let fused = x2.record(y, op: "linear", inputs: [x2, weight, bias]) { g in
                let dz = try Tensor.empty(y.shape, on: y.device), db = try Tensor.empty([outputs], on: y.device)
                try y.device.gatedChannelSums(g.storage, gate: y.storage, dz.storage, sums: db.storage, batch: rows, channels: outputs,
                                              inner: 1)
                return [x2.requiresGrad ? try Tensor.product(dz, weight) : nil,
                        weight.requiresGrad ? try Tensor.product(dz, x2, transposeA: true) : nil, db]
            }
            return try fused.reshape(outShape)
        }
        var y = try Tensor.product(x2, weight, transposeB: true)
        let weightGrad = { (g: Tensor) in try Tensor.product(g, x2, transposeA: true) }
        y = x2.record(y, op: "linear", inputs: [x2, weight]) { g in
            [x2.requiresGrad ? try Tensor.product(g, weight) : nil, weight.requiresGrad ? try weightGrad(g) : nil]
        }
        if let bias { y = try y + bias }
        if relu { y = try y.relu() }
        return try y.reshape(outShape)
    }
}
