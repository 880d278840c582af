/// Convolution primitives on the CPU: im2col and its adjoint col2im (a gather, so each input pixel
/// is written once). The GEMM between them goes to OpenBLAS through `gemm`.
extension CPUDevice {
    public func im2col(_ x: Buffer, _ col: Buffer, geometry g: ConvGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "im2col") }
        let px = SharedPointer(host(x).pointer), pc = SharedPointer(host(col).pointer)
        let oh = g.outHeight, ow = g.outWidth, cols = g.colCols
        // Rows of the column matrix are independent: split them over the cores.
        Parallel.chunks(g.colRows, cost: cols) { rows in
            for row in rows {
                let j = row % g.kernelW, i = (row / g.kernelW) % g.kernelH, c = row / (g.kernelW * g.kernelH)
                // Output columns xo whose input column xo·stride − pad + j·dilation lies inside the image.
                let shift = j * g.dilationW - g.padW
                var first = 0, last = ow
                if g.strideW == 1 {
                    first = min(ow, max(0, -shift))
                    last = max(first, min(ow, g.width - shift))
                }
                for n in 0..<g.batch {
                    let plane = px.base + (n * g.channels + c) * g.height * g.width
                    for y in 0..<oh {
                        let target = pc.base + row * cols + (n * oh + y) * ow
                        let h = y * g.strideH - g.padH + i * g.dilationH
                        guard h >= 0, h < g.height else {
                            target.update(repeating: 0, count: ow)
                            continue
                        }
                        let line = plane + h * g.width
                        if g.strideW == 1 {
                            // Zeros left and right of the image, one contiguous copy in between (plain
                            // loops: the lines are short, and a library call per line costs more).
                            for xo in 0..<first { target[xo] = 0 }
                            let source = line + shift
                            for xo in first..<last { target[xo] = source[xo] }
                            for xo in last..<ow { target[xo] = 0 }
                        } else {
                            var w = shift
                            for xo in 0..<ow {
                                target[xo] = w >= 0 && w < g.width ? line[w] : 0
                                w += g.strideW
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: every pixel sums the column entries that read it. Each worker owns a
    /// range of images and adds the column rows in (channel, kernel row, kernel column) order, so a
    /// pixel's terms are summed in the same order as a per-pixel gather would.
    public func col2im(_ col: Buffer, _ x: Buffer, geometry g: ConvGeometry) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "col2im") }
        let pc = SharedPointer(host(col).pointer), px = SharedPointer(host(x).pointer)
        let oh = g.outHeight, ow = g.outWidth, cols = g.colCols
        let imageSize = g.channels * g.height * g.width
        Parallel.chunks(g.batch, cost: g.colRows * oh * ow) { images in
            for n in images {
                let image = px.base + n * imageSize
                image.update(repeating: 0, count: imageSize)
                for c in 0..<g.channels {
                    let plane = image + c * g.height * g.width
                    for i in 0..<g.kernelH {
                        for j in 0..<g.kernelW {
                            let row = (c * g.kernelH + i) * g.kernelW + j
                            let shift = j * g.dilationW - g.padW
                            var first = 0, last = ow
                            if g.strideW == 1 {
                                first = min(ow, max(0, -shift))
                                last = max(first, min(ow, g.width - shift))
                            }
                            for y in 0..<oh {
                                let h = y * g.strideH - g.padH + i * g.dilationH
                                guard h >= 0, h < g.height else { continue }
                                let source = pc.base + row * cols + (n * oh + y) * ow
                                let line = plane + h * g.width
                                if g.strideW == 1 {
                                    let target = line + shift
                                    for xo in first..<last { target[xo] += source[xo] }
                                } else {
                                    var w = shift
                                    for xo in 0..<ow {
                                        if w >= 0 && w < g.width { line[w] += source[xo] }
                                        w += g.strideW
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
