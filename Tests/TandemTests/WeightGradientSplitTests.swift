import Testing
@testable import Tandem

/// The convolution weight gradient with its inner dimension (images × pixels) split into slices
/// (`Composed.weightGradientSplits`), checked against a float64 reference at the shapes of the
/// standard workloads where the split matters most: W2's two convolutions at batch 256 and W4's
/// widest full-resolution ones at batch 8.
@Suite("Split weight gradient")
struct WeightGradientSplitTests {
    /// (name, geometry) of the layers checked.
    static let layers: [(String, ConvGeometry)] = [
        ("W2 conv1 (1→10, 5×5, 28×28, batch 256)", geometry(batch: 256, channels: 1, size: 28, out: 10, kernel: 5, pad: 0)),
        ("W2 conv2 (10→20, 5×5, 12×12, batch 256)", geometry(batch: 256, channels: 10, size: 12, out: 20, kernel: 5, pad: 0)),
        ("W4 encoder conv 0 (3→16, 3×3 pad 1, 64×64, batch 8)", geometry(batch: 8, channels: 3, size: 64, out: 16, kernel: 3, pad: 1)),
        ("W4 full-resolution conv (16→16, 3×3 pad 1, 64×64, batch 8)",
         geometry(batch: 8, channels: 16, size: 64, out: 16, kernel: 3, pad: 1)),
    ]

    static func geometry(batch: Int, channels: Int, size: Int, out: Int, kernel: Int, pad: Int) -> ConvGeometry {
        ConvGeometry(batch: batch, channels: channels, height: size, width: size, outChannels: out, kernelH: kernel,
                     kernelW: kernel, strideH: 1, strideW: 1, padH: pad, padW: pad, dilationH: 1, dilationW: 1, groups: 1)
    }

    /// The splits a 132-multiprocessor GPU (an H100/H200) gets: what the checks below force on
    /// every device, so the GPU's path runs here too.
    static func gpuSplits(_ g: ConvGeometry) -> Int {
        Composed.weightGradientSplits(m: g.outChannels / g.groups, n: g.colRows / g.groups, k: g.colCols, target: 2 * 132)
    }

    @Test("the rule splits tiny-output, long GEMMs into equal slices and leaves the others alone")
    func rule() {
        // W2 conv1: one 32×32 block, k = 147,456: as many slices as allowed (64).
        #expect(Composed.weightGradientSplits(m: 10, n: 25, k: 147_456, target: 264) == 64)
        // W2 conv2: 8 blocks, k = 16,384: at most 33 slices (264 / 8), k / 1024 = 16 → 16.
        #expect(Composed.weightGradientSplits(m: 20, n: 250, k: 16_384, target: 264) == 16)
        // Enough blocks already, or too short an inner dimension: no split.
        #expect(Composed.weightGradientSplits(m: 512, n: 1024, k: 1 << 20, target: 264) == 1)
        #expect(Composed.weightGradientSplits(m: 10, n: 25, k: 2047, target: 264) == 1)
        // Only divisors of k: a prime k is never split; 3 × 1024 splits in 3.
        #expect(Composed.weightGradientSplits(m: 10, n: 25, k: 65_537, target: 264) == 1)
        #expect(Composed.weightGradientSplits(m: 10, n: 25, k: 3 * 1024, target: 264) == 3)
        for (_, g) in Self.layers {
            let splits = Self.gpuSplits(g)
            #expect(splits > 1 && g.colCols % splits == 0, "\(g): \(splits) splits")
        }
    }

    @Test("the split weight and bias gradients match the float64 reference at W2 and W4 shapes",
          arguments: allSelectors)
    func matchesReference(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        for (index, (name, g)) in Self.layers.enumerated() {
            var random = SplitMix64(seed: seed.derived(index))
            let xCount = g.batch * g.channels * g.height * g.width
            let plane = g.outHeight * g.outWidth, dyCount = g.batch * g.outChannels * plane
            let xs = random.uniform(xCount).map { 2 * $0 - 1 }, dys = random.uniform(dyCount).map { 2 * $0 - 1 }
            let (reference, magnitude) = Self.reference(xs, dys, g)
            let biasReference = (0..<g.outChannels).map { o in
                (0..<g.batch).reduce(0.0) { sum, n in sum + (0..<plane).reduce(0.0) { $0 + Double(dys[(n * g.outChannels + o) * plane + $1]) } }
            }
            let x = try device.buffer(xs), dy = try device.buffer(dys)
            let weights = g.outChannels * g.colRows / g.groups
            // The forced GPU split, and whatever the device picks for itself.
            for splits in [Self.gpuSplits(g), 0] {
                let dw = try device.buffer([Float](repeating: .nan, count: weights))
                let db = try device.buffer([Float](repeating: .nan, count: g.outChannels))
                if splits > 0 {
                    try Composed.conv2dWeightGradient(on: device, x, dy, dw, biasGradient: db, geometry: g, saved: nil, splits: splits)
                } else {
                    try device.conv2dWeightGradient(x, dy, dw, biasGradient: db, geometry: g, saved: nil)
                }
                let got = try device.download(dw), gotBias = try device.download(db)
                let label = "\(name) on \(selector), \(splits > 0 ? "\(splits) splits" : "the device's choice") (\(seed))"
                // Each element's error against the sum of its terms' magnitudes. One float32
                // accumulator over W2 conv1's 147,456 terms (a CPU device's unsplit GEMM) has been
                // seen at 1.1e-5 of that; a lost or doubled slice would be of the order 1/splits.
                let worst = zip(got, zip(reference, magnitude)).map { abs(Double($0) - $1.0) / max($1.1, 1e-30) }.max() ?? .nan
                #expect(worst <= 1e-4, "\(label): worst relative error \(worst)")
                let biasWorst = zip(gotBias, biasReference).map { abs(Double($0) - $1) / Double(g.batch * plane) }.max() ?? .nan
                #expect(biasWorst <= 1e-5, "\(label): bias gradient error \(biasWorst)")
            }
        }
    }

    /// dW[o, c, i, j] = Σ_{n, p} dy[n, o, p] · x[n, c, p + tap] in float64, and Σ |terms| per element.
    static func reference(_ x: [Float], _ dy: [Float], _ g: ConvGeometry) -> ([Double], [Double]) {
        let (oh, ow) = (g.outHeight, g.outWidth)
        var dw = [Double](repeating: 0, count: g.outChannels * g.colRows)
        var magnitude = dw
        for o in 0..<g.outChannels {
            for c in 0..<g.channels {
                for i in 0..<g.kernelH {
                    for j in 0..<g.kernelW {
                        var sum = 0.0, size = 0.0
                        for n in 0..<g.batch {
                            let dyBase = (n * g.outChannels + o) * oh * ow, xBase = (n * g.channels + c) * g.height * g.width
                            for r in 0..<oh {
                                let h = r * g.strideH - g.padH + i * g.dilationH
                                guard h >= 0, h < g.height else { continue }
                                for q in 0..<ow {
                                    let w = q * g.strideW - g.padW + j * g.dilationW
                                    guard w >= 0, w < g.width else { continue }
                                    let term = Double(dy[dyBase + r * ow + q]) * Double(x[xBase + h * g.width + w])
                                    sum += term
                                    size += abs(term)
                                }
                            }
                        }
                        let index = ((o * g.channels + c) * g.kernelH + i) * g.kernelW + j
                        dw[index] = sum
                        magnitude[index] = size
                    }
                }
            }
        }
        return (dw, magnitude)
    }
}
