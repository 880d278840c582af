/// 2-D convolution over NCHW input. Devices with `ImageConvolution` (the CPU) run it image by
/// image; elsewhere it is im2col + GEMM. The forward multiplies each group's weights
/// with each image's block of im2col columns, writing NCHW directly (no permute), and adds the bias
/// as a rank-1 GEMM update. The gradients go through one permute of dY to [O, N·OH·OW], a grouped
/// GEMM each, and `col2im` (a gather) for the input; the bias gradient is the sum over N, H, W.
extension Tensor {
    /// Convolution of this [N, C, H, W] tensor with `weight` [O, C/groups, kh, kw] and optional
    /// `bias` [O], giving [N, O, OH, OW] (PyTorch's `conv2d`, cross-correlation, zero padding).
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
        let geometry = try Tensor.convGeometry(self, weight, bias: bias, stride: stride, padding: padding,
                                               dilation: dilation, groups: groups)
        if let device = self.device as? any ImageConvolution, geometry.batch > 0 {
            let y = try Tensor.empty([geometry.batch, geometry.outChannels, geometry.outHeight, geometry.outWidth], on: self.device)
            try device.conv2dForward(storage, weight: weight.storage, bias: bias?.storage, y.storage, geometry: geometry)
            return record(y, op: "conv2d", inputs: [self, weight] + (bias.map { [$0] } ?? [])) { g in
                var grads: [Tensor?] = [nil, nil]
                if self.requiresGrad {
                    let dx = try Tensor.empty(self.shape, on: self.device)
                    try device.conv2dInputGradient(g.storage, weight: weight.storage, dx.storage, geometry: geometry)
                    grads[0] = dx
                }
                if weight.requiresGrad {
                    // The bias gradient comes from the same pass over dY.
                    let db = try bias.flatMap { $0.requiresGrad ? try Tensor.empty($0.shape, on: self.device) : nil }
                    let dw = try Tensor.empty(weight.shape, on: self.device)
                    try device.conv2dWeightGradient(self.storage, g.storage, dw.storage, biasGradient: db?.storage, geometry: geometry)
                    grads[1] = dw
                    if bias != nil { grads.append(db) }
                } else if let bias {
                    grads.append(bias.requiresGrad ? try g.sum(axes: [0, 2, 3]) : nil)
                }
                return grads
            }
        }
        let (y, col) = try Tensor.convForward(self, weight, bias: bias, geometry)
        // The weight gradient needs the im2col matrix again: keep it when it is small, else recompute.
        let kept = weight.requiresGrad && GradientMode.isEnabled && col.count <= Tensor.keptColumnLimit ? col : nil
        return record(y, op: "conv2d", inputs: [self, weight] + (bias.map { [$0] } ?? [])) { g in
            let needsColumns = self.requiresGrad || weight.requiresGrad
            let dy = needsColumns ? try Tensor.convOutputToColumns(g, geometry) : g
            var grads = [self.requiresGrad ? try Tensor.convInputGradient(dy, weight, geometry) : nil,
                         weight.requiresGrad ? try Tensor.convWeightGradient(dy, self, geometry, keptColumns: kept) : nil]
            if let bias { grads.append(bias.requiresGrad ? try g.sum(axes: [0, 2, 3]) : nil) }
            return grads
        }
    }

    /// Checks shapes and hyper-parameters and returns the geometry, or throws naming every shape.
    static func convGeometry(_ x: Tensor, _ weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                             dilation: (Int, Int), groups: Int) throws -> ConvGeometry {
        func fail(_ why: String) -> TandemError {
            .invalidArgument(op: "conv2d", message: "input \(x.shape), weight \(weight.shape), bias \(bias?.shape.description ?? "none"), "
                + "stride \(stride), padding \(padding), dilation \(dilation), groups \(groups) on \(x.device.info.selector): \(why)")
        }
        try checkSameDevice("conv2d", x, weight)
        if let bias { try checkSameDevice("conv2d", x, bias) }
        guard x.rank == 4 else { throw fail("input must be [N, C, H, W]") }
        guard weight.rank == 4 else { throw fail("weight must be [O, C/groups, kh, kw]") }
        guard groups >= 1 else { throw fail("groups must be positive") }
        guard stride.0 >= 1, stride.1 >= 1 else { throw fail("stride must be positive") }
        guard dilation.0 >= 1, dilation.1 >= 1 else { throw fail("dilation must be positive") }
        guard padding.0 >= 0, padding.1 >= 0 else { throw fail("padding must be non-negative") }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        guard c % groups == 0 else { throw fail("\(c) input channels are not divisible by \(groups) groups") }
        guard o % groups == 0 else { throw fail("\(o) output channels are not divisible by \(groups) groups") }
        guard cg == c / groups else { throw fail("weight expects \(cg) channels per group, input has \(c / groups)") }
        guard kh >= 1, kw >= 1, o >= 1 else { throw fail("empty kernel") }
        if let bias, bias.shape != [o] { throw fail("bias must be [\(o)]") }
        let effectiveH = dilation.0 * (kh - 1) + 1, effectiveW = dilation.1 * (kw - 1) + 1
        guard effectiveH <= h + 2 * padding.0, effectiveW <= w + 2 * padding.1 else {
            throw fail("dilated kernel \(effectiveH)×\(effectiveW) is larger than the padded input \(h + 2 * padding.0)×\(w + 2 * padding.1)")
        }
        return ConvGeometry(batch: n, channels: c, height: h, width: w, outChannels: o, kernelH: kh, kernelW: kw,
                            strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1,
                            dilationH: dilation.0, dilationW: dilation.1, groups: groups)
    }

    /// The largest im2col matrix (elements, 16 MiB) a convolution keeps from its forward for the
    /// weight gradient; larger ones are recomputed in the backward, trading time for memory.
    static let keptColumnLimit = 1 << 22

    /// The per-group GEMM shape: weight rows per group, col rows per group.
    static func convGroupSizes(_ g: ConvGeometry) -> (outPerGroup: Int, depth: Int, columns: Int) {
        (g.outChannels / g.groups, g.colRows / g.groups, g.colCols)
    }

    /// The im2col matrix [C·kh·kw, N·OH·OW] of `x`.
    static func convColumns(_ x: Tensor, _ g: ConvGeometry) throws -> Tensor {
        let col = try empty([g.colRows, g.colCols], on: x.device)
        try x.device.im2col(x.storage, col.storage, geometry: g)
        return col
    }

    /// Forward without graph: per group and image, Y[n, group] = W[group]·col[group rows, image
    /// columns] as one strided-batched GEMM over the images, then Y += bias·1ᵀ.
    static func convForward(_ x: Tensor, _ weight: Tensor, bias: Tensor?, _ g: ConvGeometry) throws -> (Tensor, col: Tensor) {
        let (og, depth, columns) = convGroupSizes(g)
        let plane = g.outHeight * g.outWidth
        let col = try convColumns(x, g)
        let y = try empty([g.batch, g.outChannels, g.outHeight, g.outWidth], on: x.device)
        for group in 0..<g.groups {
            var gemm = GEMM(m: og, n: plane, k: depth, batchCount: g.batch)
            gemm.ldb = columns
            gemm.offsetA = group * og * depth
            gemm.strideA = 0
            gemm.offsetB = group * depth * columns
            gemm.strideB = plane
            gemm.offsetC = group * og * plane
            gemm.strideC = g.outChannels * plane
            try x.device.gemm(gemm, a: weight.storage, b: col.storage, c: y.storage)
        }
        if let bias {
            let ones = try full([plane], 1, on: x.device)
            var gemm = GEMM(m: g.outChannels, n: plane, k: 1, beta: 1, batchCount: g.batch)
            gemm.strideA = 0
            gemm.strideB = 0
            gemm.strideC = g.outChannels * plane
            try x.device.gemm(gemm, a: bias.storage, b: ones.storage, c: y.storage)
        }
        return (y, col)
    }

    /// The output gradient [N, O, OH, OW] as GEMM columns [O, N·OH·OW].
    static func convOutputToColumns(_ dy: Tensor, _ g: ConvGeometry) throws -> Tensor {
        try dy.detach().permute([1, 0, 2, 3])
    }

    /// dx = col2im(Wᵀ·dY') per group.
    static func convInputGradient(_ dy: Tensor, _ weight: Tensor, _ g: ConvGeometry) throws -> Tensor {
        let (og, depth, columns) = convGroupSizes(g)
        let dcol = try empty([g.colRows, g.colCols], on: dy.device)
        var gemm = GEMM(m: depth, n: columns, k: og, transposeA: true, batchCount: g.groups)
        gemm.strideA = og * depth
        gemm.strideB = og * columns
        gemm.strideC = depth * columns
        try dy.device.gemm(gemm, a: weight.storage, b: dy.storage, c: dcol.storage)
        let dx = try empty([g.batch, g.channels, g.height, g.width], on: dy.device)
        try dy.device.col2im(dcol.storage, dx.storage, geometry: g)
        return dx
    }

    /// dW = dY'·colᵀ per group, with the forward's col when it was kept, else recomputed.
    static func convWeightGradient(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry, keptColumns: Tensor? = nil) throws -> Tensor {
        let (og, depth, columns) = convGroupSizes(g)
        let col = try keptColumns ?? convColumns(x, g)
        let dw = try empty([g.outChannels, g.channels / g.groups, g.kernelH, g.kernelW], on: dy.device)
        var gemm = GEMM(m: og, n: depth, k: columns, transposeB: true, batchCount: g.groups)
        gemm.strideA = og * columns
        gemm.strideB = depth * columns
        gemm.strideC = og * depth
        try dy.device.gemm(gemm, a: dy.storage, b: col.storage, c: dw.storage)
        return dw
    }
}
