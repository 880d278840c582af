/// Float64 references of the image ops (convolution, pooling, resampling) over flat row-major
/// NCHW arrays, written as direct loops over the definitions.
extension Reference {
    /// PyTorch's `conv2d`: y[n, o, r, c] = b[o] + Σ x[n, g·C/G + k, r·s − p + i·d, c·s − p + j·d] · w[o, k, i, j].
    public static func conv2d(_ x: [Double], _ xShape: [Int], _ w: [Double], _ wShape: [Int], bias: [Double]?,
                              stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                              groups: Int = 1) -> [Double] {
        let (n, c, h, wd) = (xShape[0], xShape[1], xShape[2], xShape[3])
        let (o, cg, kh, kw) = (wShape[0], wShape[1], wShape[2], wShape[3])
        let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
        let ow = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
        let og = o / groups
        var y = [Double](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n {
            for oc in 0..<o {
                let group = oc / og
                for r in 0..<oh {
                    for col in 0..<ow {
                        var sum = bias?[oc] ?? 0
                        for k in 0..<cg {
                            let ic = group * cg + k
                            for i in 0..<kh {
                                let hi = r * stride.0 - padding.0 + i * dilation.0
                                guard hi >= 0, hi < h else { continue }
                                for j in 0..<kw {
                                    let wi = col * stride.1 - padding.1 + j * dilation.1
                                    guard wi >= 0, wi < wd else { continue }
                                    sum += x[((b * c + ic) * h + hi) * wd + wi] * w[((oc * cg + k) * kh + i) * kw + j]
                                }
                            }
                        }
                        y[((b * o + oc) * oh + r) * ow + col] = sum
                    }
                }
            }
        }
        return y
    }

    /// Max or average pooling over [planes, h, w]; padding is −∞ for max and 0 for the average,
    /// which always divides by kh·kw (count_include_pad). Also returns the argmax flat indices.
    public static func pool2d(_ x: [Double], planes: Int, _ h: Int, _ w: Int, kernel: (Int, Int), stride: (Int, Int),
                              padding: (Int, Int), max: Bool) -> (values: [Double], indices: [Double]) {
        let oh = (h + 2 * padding.0 - kernel.0) / stride.0 + 1, ow = (w + 2 * padding.1 - kernel.1) / stride.1 + 1
        var values: [Double] = [], indices: [Double] = []
        for p in 0..<planes {
            for r in 0..<oh {
                for c in 0..<ow {
                    var best = -Double.infinity, bestIndex = -1, sum = 0.0
                    for i in 0..<kernel.0 {
                        for j in 0..<kernel.1 {
                            let hi = r * stride.0 - padding.0 + i, wi = c * stride.1 - padding.1 + j
                            guard hi >= 0, hi < h, wi >= 0, wi < w else { continue }
                            let v = x[(p * h + hi) * w + wi]
                            sum += v
                            if v > best { best = v; bestIndex = hi * w + wi }
                        }
                    }
                    values.append(max ? best : sum / Double(kernel.0 * kernel.1))
                    indices.append(Double(bestIndex))
                }
            }
        }
        return (values, indices)
    }

    /// y[p, index[p, i]] = x[p, i] in a zero [planes, outputSize].
    public static func unpool(_ x: [Double], _ indices: [Double], planes: Int, inputSize: Int, outputSize: Int) -> [Double] {
        var y = [Double](repeating: 0, count: planes * outputSize)
        for p in 0..<planes {
            for i in 0..<inputSize { y[p * outputSize + Int(indices[p * inputSize + i])] = x[p * inputSize + i] }
        }
        return y
    }

    /// PyTorch's bilinear interpolation of [planes, h, w] to [planes, oh, ow], in float64.
    public static func bilinear(_ x: [Double], planes: Int, _ h: Int, _ w: Int, _ oh: Int, _ ow: Int, alignCorners: Bool) -> [Double] {
        func taps(_ o: Int, _ input: Int, _ output: Int) -> (Int, Int, Double) {
            let source: Double
            if alignCorners {
                source = output > 1 ? Double(o) * Double(input - 1) / Double(output - 1) : 0
            } else {
                source = Swift.max(0, (Double(o) + 0.5) * Double(input) / Double(output) - 0.5)
            }
            let i0 = Swift.min(Int(source), input - 1)
            return (i0, Swift.min(i0 + 1, input - 1), source - Double(i0))
        }
        var y: [Double] = []
        for p in 0..<planes {
            for r in 0..<oh {
                let (h0, h1, ly) = taps(r, h, oh)
                for c in 0..<ow {
                    let (w0, w1, lx) = taps(c, w, ow)
                    func at(_ a: Int, _ b: Int) -> Double { x[(p * h + a) * w + b] }
                    y.append((1 - ly) * ((1 - lx) * at(h0, w0) + lx * at(h0, w1)) + ly * ((1 - lx) * at(h1, w0) + lx * at(h1, w1)))
                }
            }
        }
        return y
    }

    /// Nearest-neighbour resize: output (r, c) reads (⌊r·h/oh⌋, ⌊c·w/ow⌋).
    public static func nearest(_ x: [Double], planes: Int, _ h: Int, _ w: Int, _ oh: Int, _ ow: Int) -> [Double] {
        var y: [Double] = []
        for p in 0..<planes {
            for r in 0..<oh {
                for c in 0..<ow { y.append(x[(p * h + r * h / oh) * w + c * w / ow]) }
            }
        }
        return y
    }
}
