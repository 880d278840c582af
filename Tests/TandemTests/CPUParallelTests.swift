import Testing
@testable import Tandem
@testable import TandemCore
@testable import TandemCPU

#if canImport(Glibc)
import Glibc
#endif

/// The CPU primitives that split their work over the cores once it is large enough: the catalog's
/// small cases stay on one thread, so these run sizes past the split against float64 formulas,
/// with every output poisoned (NaN) first.
@Suite("CPU primitives split over the workers")
struct CPUParallelTests {
    let cpu = CPUDevice.shared

    /// A buffer of `count` NaNs.
    func poisoned(_ count: Int) throws -> any DeviceBuffer {
        let b = try cpu.allocate(count)
        try cpu.fill(b, value: .nan, offset: 0, count: count)
        return b
    }

    func read(_ b: any DeviceBuffer) throws -> [Float] { try cpu.download(b, offset: 0, count: b.count) }

    /// Largest |got − want| / max(1, |want|); NaN in `got` counts as infinite.
    func error(_ got: [Float], _ want: [Double]) -> Double {
        zip(got, want).reduce(0) { worst, pair in
            pair.0.isNaN ? .infinity : max(worst, abs(Double(pair.0) - pair.1) / max(1, abs(pair.1)))
        }
    }

    @Test("attention gate and its gradient")
    func attentionGate() throws {
        let seed = TestSeed()
        var random = seed.generator
        let count = 40_001
        let z = random.uniform(count).map { $0 * 6 }, f = random.uniform(count), g = random.uniform(count)
        let y = try poisoned(count), dz = try poisoned(count), df = try poisoned(count)
        let zb = try cpu.buffer(z), fb = try cpu.buffer(f), gb = try cpu.buffer(g)
        try cpu.attentionGate(zb, fb, y, count: count)
        try cpu.attentionGateBackward(zb, fb, gb, dz: dz, df: df, count: count)
        let s = z.map { 1 / (1 + exp(-Double($0))) }
        #expect(error(try read(y), (0..<count).map { s[$0] * Double(f[$0]) }) < 1e-6, "\(seed)")
        #expect(error(try read(dz), (0..<count).map { Double(g[$0]) * Double(f[$0]) * s[$0] * (1 - s[$0]) }) < 1e-6, "\(seed)")
        #expect(error(try read(df), (0..<count).map { Double(g[$0]) * s[$0] }) < 1e-6, "\(seed)")
    }

    @Test("the vectorised exp and sigmoid against float64, NaN and the ends of the float range")
    func vectorExp() throws {
        var worstExp = 0.0, worstSigmoid = 0.0
        for start in stride(from: -87.0, to: 88.0, by: 0.37) {
            let x = SIMD8<Float>((0..<8).map { Float(start + Double($0) * 0.0461) })
            let e = CPUDevice.exp(x), s = CPUDevice.sigmoid(x)
            for l in 0..<8 {
                let v = Double(x[l])
                let want: Double = Glibc.exp(v), wantSigmoid: Double = 1 / (1 + Glibc.exp(-v))
                worstExp = max(worstExp, abs(Double(e[l]) - want) / want)
                worstSigmoid = max(worstSigmoid, abs(Double(s[l]) - wantSigmoid))
            }
        }
        #expect(worstExp < 5e-7)
        #expect(worstSigmoid < 2e-7)
        let ends = CPUDevice.sigmoid(SIMD8<Float>(-1000, 1000, .nan, -.infinity, .infinity, 0, -20, 20))
        #expect(ends[0] < 1e-30 && ends[1] == 1 && ends[2].isNaN && ends[3] < 1e-30 && ends[4] == 1 && ends[5] == 0.5)
    }

    @Test("cross-stitch mixing, its transpose and the α gradient")
    func crossStitch() throws {
        let seed = TestSeed()
        var random = seed.generator
        let (tasks, batch, channels, inner) = (3, 17, 9, 61)
        let size = batch * channels * inner, count = tasks * size
        let x = random.uniform(count), g = random.uniform(count), alpha = random.uniform(channels * tasks * tasks)
        let xb = try cpu.buffer(x), gb = try cpu.buffer(g), ab = try cpu.buffer(alpha)
        let y = try poisoned(count), dx = try poisoned(count), dalpha = try poisoned(alpha.count)
        try cpu.crossStitch(xb, alpha: ab, y, tasks: tasks, batch: batch, channels: channels, inner: inner, transposed: false)
        try cpu.crossStitch(gb, alpha: ab, dx, tasks: tasks, batch: batch, channels: channels, inner: inner, transposed: true)
        try cpu.crossStitchAlphaGradient(xb, gb, dalpha: dalpha, tasks: tasks, batch: batch, channels: channels, inner: inner)
        func a(_ c: Int, _ t: Int, _ s: Int) -> Double { Double(alpha[(c * tasks + t) * tasks + s]) }
        var wantY = [Double](repeating: 0, count: count), wantDX = wantY
        var wantDAlpha = [Double](repeating: 0, count: alpha.count)
        for t in 0..<tasks {
            for n in 0..<batch {
                for c in 0..<channels {
                    for p in 0..<inner {
                        let i = t * size + (n * channels + c) * inner + p
                        for s in 0..<tasks {
                            let j = s * size + (n * channels + c) * inner + p
                            wantY[i] += a(c, t, s) * Double(x[j])
                            wantDX[i] += a(c, s, t) * Double(g[j])
                            wantDAlpha[(c * tasks + t) * tasks + s] += Double(g[i]) * Double(x[j])
                        }
                    }
                }
            }
        }
        #expect(error(try read(y), wantY) < 1e-5, "\(seed)")
        #expect(error(try read(dx), wantDX) < 1e-5, "\(seed)")
        #expect(error(try read(dalpha), wantDAlpha) < 1e-4, "\(seed)")
    }

    @Test("SGD with momentum and Adam updates")
    func optimizers() throws {
        let seed = TestSeed()
        var random = seed.generator
        let count = 30_011
        let p = random.uniform(count), g = random.uniform(count), m = random.uniform(count)
        // Second moments as Adam keeps them (v ≥ m²-ish): independent tiny v against large m would make
        // m/√v huge and the comparison a test of float32 rounding rather than of the update.
        let v = zip(m, random.uniform(count)).map { $0 * $0 + 0.01 * Swift.abs($1) }
        // SGD, momentum 0.9, weight decay 0.01, a later step.
        let sgd = SGDStep(lr: 0.1, momentum: 0.9, weightDecay: 0.01, first: false)
        let sp = try cpu.buffer(p), sb = try cpu.buffer(m)
        try cpu.sgdUpdate(sp, gradient: try cpu.buffer(g), momentum: sb, count: count, step: sgd)
        var wantP = [Double](), wantB = [Double]()
        for i in 0..<count {
            let d = Double(g[i]) + 0.01 * Double(p[i]), b = 0.9 * Double(m[i]) + d
            wantB.append(b)
            wantP.append(Double(p[i]) - 0.1 * b)
        }
        #expect(error(try read(sp), wantP) < 1e-6, "\(seed)")
        #expect(error(try read(sb), wantB) < 1e-6, "\(seed)")

        // Adam, step 3.
        let adam = AdamStep(lr: 0.01, step: 3)
        let ap = try cpu.buffer(p), am = try cpu.buffer(m), av = try cpu.buffer(v)
        try cpu.adamUpdate(ap, gradient: try cpu.buffer(g), m: am, v: av, count: count, step: adam)
        wantP = []
        var wantM = [Double](), wantV = [Double]()
        for i in 0..<count {
            let d = Double(g[i])
            let mi = 0.9 * Double(m[i]) + 0.1 * d, vi = 0.999 * Double(v[i]) + 0.001 * d * d
            let mHat = mi / (1 - pow(0.9, 3)), vHat = vi / (1 - pow(0.999, 3))
            wantM.append(mi)
            wantV.append(vi)
            wantP.append(Double(p[i]) - 0.01 * mHat / (vHat.squareRoot() + 1e-8))
        }
        #expect(error(try read(am), wantM) < 1e-6, "\(seed)")
        #expect(error(try read(av), wantV) < 1e-6, "\(seed)")
        #expect(error(try read(ap), wantP) < 1e-5, "\(seed)")
    }

    @Test("ReLU's gradient gate passes the gradient where the input is positive, and nothing else", arguments: allSelectors)
    func reluGate(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        var random = seed.generator
        let count = 50_003
        var x = random.uniform(count)
        x[7] = 0
        x[8] = .nan
        var g = random.uniform(count)
        for i in stride(from: 0, to: count, by: 101) { g[i] = x[i] > 0 ? g[i] : .nan }  // NaN only where the unit is off
        let input = try Tensor(x, shape: [count], on: device, requiresGrad: true)
        try input.relu().backward(gradient: try Tensor(g, shape: [count], on: device))
        let got = try #require(input.grad).values()
        #expect(got == (0..<count).map { x[$0] > 0 ? g[$0] : 0 }, "\(seed)")
    }
}
