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
        for n in 0..<g.batch {
            for c in 0..<g.channels {
                let plane = px + (n * g.channels + c) * g.height * g.width
                for h in 0..<g.height {
                    for w in 0..<g.width {
                        var sum: Float = 0
                        for i in 0..<g.kernelH {
                            let dh = h + g.padH - i * g.dilationH
                            guard dh >= 0, dh % g.strideH == 0, dh / g.strideH < oh else { continue }
                            let y = dh / g.strideH
                            for j in 0..<g.kernelW {
                                let dw = w + g.padW - j * g.dilationW
                                guard dw >= 0, dw % g.strideW == 0, dw / g.strideW < ow else { continue }
                                let row = (c * g.kernelH + i) * g.kernelW + j
                                sum += pc[row * cols + (n * oh + y) * ow + dw / g.strideW]
                            }
                        }
                        plane[h * g.width + w] = sum
                    }
                }
            }
        }
    }
}
