/// 2-D convolution over NCHW input: the shape rule and the gradient. The three passes are device
/// primitives (`FusedPrimitives.conv2dForward`, `conv2dInputGradient`, `conv2dWeightGradient`):
/// each backend owns its algorithm (the CPU works image by image in cache; OpenCL runs the
/// reference composition, im2col + GEMM + col2im, with its own im2col and col2im kernels).
extension Tensor {
    /// Convolution of this [N, C, H, W] tensor with `weight` [O, C/groups, kh, kw] and optional
    /// `bias` [O], giving [N, O, OH, OW] (PyTorch's `conv2d`, cross-correlation, zero padding).
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
        let geometry = try Tensor.convGeometry(self, weight, bias: bias, stride: stride, padding: padding,
                                               dilation: dilation, groups: groups)
        let y = try Tensor.empty([geometry.batch, geometry.outChannels, geometry.outHeight, geometry.outWidth], on: device)
        let keep = weight.requiresGrad && GradientMode.isEnabled
        let saved = try device.conv2dForward(storage, weight: weight.storage, bias: bias?.storage, y.storage, geometry: geometry,
                                             keep: keep)
        return record(y, op: "conv2d", inputs: [self, weight] + (bias.map { [$0] } ?? [])) { g in
            var grads: [Tensor?] = [nil, nil]
            if self.requiresGrad {
                let dx = try Tensor.empty(self.shape, on: self.device)
                try self.device.conv2dInputGradient(g.storage, weight: weight.storage, dx.storage, geometry: geometry)
                grads[0] = dx
            }
            if weight.requiresGrad {
                // The bias gradient comes from the same pass over dY.
                let db = try bias.flatMap { $0.requiresGrad ? try Tensor.empty($0.shape, on: self.device) : nil }
                let dw = try Tensor.empty(weight.shape, on: self.device)
                try self.device.conv2dWeightGradient(self.storage, g.storage, dw.storage, biasGradient: db?.storage,
                                                     geometry: geometry, saved: saved)
                grads[1] = dw
                if bias != nil { grads.append(db) }
            } else if let bias {
                grads.append(bias.requiresGrad ? try g.sum(axes: [0, 2, 3]) : nil)
            }
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
}
