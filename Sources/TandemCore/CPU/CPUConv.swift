/// Convolution primitives on the CPU: im2col and its adjoint col2im (a gather, so each input pixel
/// is written once). The GEMM between them goes to OpenBLAS through `gemm`.
extension CPUDevice {
    public func im2col(_ x: Buffer, _ col: Buffer, geometry g: ConvGeometry) throws {
        let px = host(x).pointer, pc = host(col).pointer
        let oh = g.outHeight, ow = g.outWidth, cols = g.colCols
        for c in 0..<g.channels {
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let row = (c * g.kernelH + i) * g.kernelW + j
                    for n in 0..<g.batch {
                        let plane = px + (n * g.channels + c) * g.height * g.width
                        for y in 0..<oh {
                            let target = pc + row * cols + (n * oh + y) * ow
                            let h = y * g.strideH - g.padH + i * g.dilationH
                            guard h >= 0, h < g.height else {
                                target.update(repeating: 0, count: ow)
                                continue
                            }
                            let line = plane + h * g.width
                            var w = j * g.dilationW - g.padW
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

    public func col2im(_ col: Buffer, _ x: Buffer, geometry g: ConvGeometry) throws {
        let pc = host(col).pointer, px = host(x).pointer
        let oh = g.outHeight, ow = g.outWidth, cols = g.colCols
        // For each input row h, the col offsets (kernel row i, output row y) that read it, and the
        // same per input column; a pixel then sums every pairing, with no division in the loop.
        func taps(_ size: Int, kernel: Int, stride: Int, pad: Int, dilation: Int, outputs: Int, weight: Int, step: Int) -> (start: [Int], entries: [Int]) {
            var start = [0], entries: [Int] = []
            for position in 0..<size {
                for k in 0..<kernel {
                    let d = position + pad - k * dilation
                    if d >= 0 && d % stride == 0 && d / stride < outputs { entries.append(k * weight + (d / stride) * step) }
                }
                start.append(entries.count)
            }
            return (start, entries)
        }
        let rows = taps(g.height, kernel: g.kernelH, stride: g.strideH, pad: g.padH, dilation: g.dilationH, outputs: oh,
                        weight: g.kernelW * cols, step: ow)
        let columns = taps(g.width, kernel: g.kernelW, stride: g.strideW, pad: g.padW, dilation: g.dilationW, outputs: ow,
                           weight: cols, step: 1)
        rows.entries.withUnsafeBufferPointer { rowEntries in
            columns.entries.withUnsafeBufferPointer { columnEntries in
                for n in 0..<g.batch {
                    for c in 0..<g.channels {
                        let plane = px + (n * g.channels + c) * g.height * g.width
                        let base = pc + c * g.kernelH * g.kernelW * cols + n * oh * ow
                        for h in 0..<g.height {
                            for w in 0..<g.width {
                                var sum: Float = 0
                                for r in rows.start[h]..<rows.start[h + 1] {
                                    let line = base + rowEntries[r]
                                    for q in columns.start[w]..<columns.start[w + 1] { sum += line[columnEntries[q]] }
                                }
                                plane[h * g.width + w] = sum
                            }
                        }
                    }
                }
            }
        }
    }
}
