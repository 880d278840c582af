import TandemCore

/// The kernels' parameter blocks (Sources/TandemABI) filled from TandemCore's geometry types, each
/// field checked to fit the kernels' 32-bit `int`.
func kernelInt(_ value: Int, _ field: String, op: String, device: String) throws -> Int32 {
    guard let narrow = Int32(exactly: value) else {
        throw TandemError.invalidArgument(op: op, message: "\(field) = \(value) exceeds the kernels' 32-bit int on \(device)")
    }
    return narrow
}

extension ConvolutionParameters {
    init(_ g: ConvGeometry, op: String, device: String) throws {
        self.init()
        func int(_ v: Int, _ field: String) throws -> Int32 { try kernelInt(v, field, op: op, device: device) }
        (batch, channels, height, width) = (try int(g.batch, "batch"), try int(g.channels, "channels"),
                                            try int(g.height, "height"), try int(g.width, "width"))
        (outChannels, kernelH, kernelW, groups) = (try int(g.outChannels, "outChannels"), try int(g.kernelH, "kernelH"),
                                                   try int(g.kernelW, "kernelW"), try int(g.groups, "groups"))
        (strideH, strideW, padH, padW) = (try int(g.strideH, "strideH"), try int(g.strideW, "strideW"),
                                          try int(g.padH, "padH"), try int(g.padW, "padW"))
        (dilationH, dilationW, outHeight, outWidth) = (try int(g.dilationH, "dilationH"), try int(g.dilationW, "dilationW"),
                                                       try int(g.outHeight, "outHeight"), try int(g.outWidth, "outWidth"))
    }
}

extension PoolingParameters {
    init(_ g: PoolGeometry, op: String, device: String) throws {
        self.init()
        func int(_ v: Int, _ field: String) throws -> Int32 { try kernelInt(v, field, op: op, device: device) }
        (planes, height, width) = (try int(g.planes, "planes"), try int(g.height, "height"), try int(g.width, "width"))
        (outHeight, outWidth) = (try int(g.outHeight, "outHeight"), try int(g.outWidth, "outWidth"))
        (kernelH, kernelW, strideH, strideW) = (try int(g.kernelH, "kernelH"), try int(g.kernelW, "kernelW"),
                                                try int(g.strideH, "strideH"), try int(g.strideW, "strideW"))
        (padH, padW) = (try int(g.padH, "padH"), try int(g.padW, "padW"))
    }
}

extension ResizeParameters {
    init(planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int, alignCorners: Bool, op: String,
         device: String) throws {
        self.init()
        func int(_ v: Int, _ field: String) throws -> Int32 { try kernelInt(v, field, op: op, device: device) }
        (self.planes, self.height, self.width) = (try int(planes, "planes"), try int(height, "height"), try int(width, "width"))
        (self.outHeight, self.outWidth) = (try int(outHeight, "outHeight"), try int(outWidth, "outWidth"))
        self.alignCorners = alignCorners ? 1 : 0
    }
}

extension GEMMParameters {
    init(_ g: GEMM, device: String) throws {
        self.init()
        func int(_ v: Int, _ field: String) throws -> Int32 { try kernelInt(v, field, op: "gemm", device: device) }
        (m, n, k) = (try int(g.m, "m"), try int(g.n, "n"), try int(g.k, "k"))
        (transposeA, transposeB) = (g.transposeA ? 1 : 0, g.transposeB ? 1 : 0)
        (lda, ldb, ldc) = (try int(g.lda, "lda"), try int(g.ldb, "ldb"), try int(g.ldc, "ldc"))
        (offsetA, offsetB, offsetC) = (try int(g.offsetA, "offsetA"), try int(g.offsetB, "offsetB"), try int(g.offsetC, "offsetC"))
        (strideA, strideB, strideC) = (try int(g.strideA, "strideA"), try int(g.strideB, "strideB"), try int(g.strideC, "strideC"))
        (alpha, beta) = (g.alpha, g.beta)
    }
}

extension SGDParameters {
    init(_ step: SGDStep) {
        self.init()
        (lr, momentum, dampening, weightDecay) = (step.lr, step.momentum, step.dampening, step.weightDecay)
        (nesterov, first) = (step.nesterov ? 1 : 0, step.first ? 1 : 0)
    }
}

extension AdamParameters {
    init(_ step: AdamStep) {
        self.init()
        let s = step.scalars
        (beta1, beta2, epsilon, weightDecay) = (step.beta1, step.beta2, step.epsilon, step.weightDecay)
        (stepSize, correction2, decay) = (s.stepSize, s.correction2, s.decay)
        decoupled = step.decoupled ? 1 : 0
    }
}

extension ClassLossParameters {
    init(_ g: ClassLossGeometry, masked: Bool, op: String, device: String) throws {
        self.init()
        func int(_ v: Int, _ field: String) throws -> Int32 { try kernelInt(v, field, op: op, device: device) }
        (batch, classes, inner) = (try int(g.batch, "batch"), try int(g.classes, "classes"), try int(g.inner, "inner"))
        _ = try int(g.batch * g.classes * g.inner, "batch·classes·inner")
        // An ignored index outside 0..<classes never matches a class: any such value will do.
        ignoreIndex = (0..<g.classes).contains(g.ignoreIndex) ? Int32(g.ignoreIndex) : -1
        maskKind = masked ? (g.maskPerSample ? 1 : 2) : 0
    }
}
