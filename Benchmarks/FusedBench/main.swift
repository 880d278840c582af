// Fused multi-task kernels in GB/s, next to a plain copy of the same number of bytes.
//
//   swift run -c release FusedBench [--repeats 20] [--devices cpu,opencl:0]
//
// For each device: MTAN attention gating (y = sigmoid(z)·f and its fused gradient) at 8×64×32×32,
// and cross-stitch mixing at the W3 size (T = 2 columns of 256×10×12×12; forward, and backward =
// input gradient + alpha gradient). Each result is checked against float64 first; then the median
// of the timed runs (each waiting for completion) gives GB/s = bytes read and written / time.
// The baselines are `copy` and a unary `mulScalar` over as many elements as the op moves, the
// bandwidth a memory-bound kernel can hope for on that device.

import Tandem

#if canImport(Glibc)
import Glibc
#endif

typealias Support = BenchmarkSupport

let repeats = Support.integerOption("--repeats", default: 20)
let selectors = Support.deviceSelectors()

/// Median seconds of `body` (after two warm-up runs), waiting for the device each time.
func time(_ device: any Device, _ body: () throws -> Void) throws -> Double {
    for _ in 0..<2 { try body() }
    try device.synchronize()
    var times: [Double] = []
    for _ in 0..<repeats {
        let t = Support.now()
        try body()
        try device.synchronize()
        times.append(Support.now() - t)
    }
    return Support.median(times)
}

func worst(_ got: [Float], _ want: [Double]) -> Double { Reference.maxRelativeError(got, want) }

print("Fused multi-task kernels, float32, median of \(repeats) runs after warm-up; GB/s = bytes read + written / time")
print("device    op                                    elements    ms        GB/s     copy GB/s  mulScalar GB/s  max rel err")

for selector in selectors {
    let device: any Device
    do { device = try Devices.select(selector) } catch {
        print("\(selector): \(error)")
        continue
    }
    /// Times the two baselines over `elements` in and `elements` out (2·elements·4 bytes).
    func baselines(_ elements: Int) throws -> (copy: Double, mul: Double) {
        let x = try device.buffer(SplitMix64(seed: 3).uniformArray(elements)), y = try device.allocate(elements)
        let layout = StridedLayout(shape: [elements], strides: [[1], [1]])
        let copy = try time(device) { try device.copy(x, y, layout: layout) }
        let mul = try time(device) { try device.unary(.mulScalar, x, y, count: elements, scalar: 1.5) }
        let bytes = Double(2 * elements * 4)
        return (bytes / copy / 1e9, bytes / mul / 1e9)
    }
    func report(_ op: String, elements: Int, bytes: Int, seconds: Double, baselineElements: Int, error: Double) throws {
        let base = try baselines(baselineElements)
        print(Support.pad(selector, 10) + Support.pad(op, 38) + Support.pad(String(elements), 12)
              + Support.pad(Support.fixed(seconds * 1e3, 3), 10) + Support.pad(Support.fixed(Double(bytes) / seconds / 1e9, 2), 9)
              + Support.pad(Support.fixed(base.copy, 2), 11) + Support.pad(Support.fixed(base.mul, 2), 16)
              + String(error))
    }

    // MTAN gating at 8×64×32×32.
    do {
        let n = 8 * 64 * 32 * 32
        var random = SplitMix64(seed: 1)
        let z = random.uniform(n), f = random.uniform(n), g = random.uniform(n)
        let bz = try device.buffer(z), bf = try device.buffer(f), bg = try device.buffer(g)
        let y = try device.allocate(n), dz = try device.allocate(n), df = try device.allocate(n)
        try device.attentionGate(bz, bf, y, count: n)
        try device.attentionGateBackward(bz, bf, bg, dz: dz, df: df, count: n)
        let s = z.map { 1 / (1 + exp(-Double($0))) }
        let forwardError = worst(try device.download(y), (0..<n).map { s[$0] * Double(f[$0]) })
        let backwardError = max(worst(try device.download(dz), (0..<n).map { Double(g[$0]) * Double(f[$0]) * s[$0] * (1 - s[$0]) }),
                                worst(try device.download(df), (0..<n).map { Double(g[$0]) * s[$0] }))
        let forward = try time(device) { try device.attentionGate(bz, bf, y, count: n) }
        try report("attention gate forward 8x64x32x32", elements: n, bytes: 3 * n * 4, seconds: forward,
                   baselineElements: 3 * n / 2, error: forwardError)
        let backward = try time(device) { try device.attentionGateBackward(bz, bf, bg, dz: dz, df: df, count: n) }
        try report("attention gate backward", elements: n, bytes: 5 * n * 4, seconds: backward,
                   baselineElements: 5 * n / 2, error: backwardError)
    }

    // Cross-stitch at W3's first unit: T = 2, N = 256, C = 10, 12×12.
    do {
        let (tasks, batch, channels, inner) = (2, 256, 10, 144)
        let n = tasks * batch * channels * inner, column = batch * channels * inner
        var random = SplitMix64(seed: 2)
        let x = random.uniform(n), g = random.uniform(n), alpha = random.uniform(channels * tasks * tasks)
        let bx = try device.buffer(x), bg = try device.buffer(g), ba = try device.buffer(alpha)
        let y = try device.allocate(n), dx = try device.allocate(n), da = try device.allocate(alpha.count)
        try device.crossStitch(bx, alpha: ba, y, tasks: tasks, batch: batch, channels: channels, inner: inner, transposed: false)
        try device.crossStitch(bg, alpha: ba, dx, tasks: tasks, batch: batch, channels: channels, inner: inner, transposed: true)
        try device.crossStitchAlphaGradient(bx, bg, dalpha: da, tasks: tasks, batch: batch, channels: channels, inner: inner)
        func mix(_ v: [Float], transposed: Bool) -> [Double] {
            (0..<n).map { i in
                let t = i / column, within = i % column, c = (within / inner) % channels
                return (0..<tasks).reduce(0.0) { sum, s in
                    sum + Double(alpha[c * tasks * tasks + (transposed ? s * tasks + t : t * tasks + s)]) * Double(v[s * column + within])
                }
            }
        }
        var dalpha = [Double](repeating: 0, count: alpha.count)
        for c in 0..<channels {
            for t in 0..<tasks {
                for s in 0..<tasks {
                    var sum = 0.0
                    for b in 0..<batch {
                        for p in 0..<inner {
                            let o = (b * channels + c) * inner + p
                            sum += Double(g[t * column + o]) * Double(x[s * column + o])
                        }
                    }
                    dalpha[(c * tasks + t) * tasks + s] = sum
                }
            }
        }
        let forwardError = worst(try device.download(y), mix(x, transposed: false))
        let backwardError = max(worst(try device.download(dx), mix(g, transposed: true)),
                                worst(try device.download(da), dalpha))
        let forward = try time(device) {
            try device.crossStitch(bx, alpha: ba, y, tasks: tasks, batch: batch, channels: channels, inner: inner, transposed: false)
        }
        try report("cross-stitch forward T2 256x10x12x12", elements: n, bytes: 2 * n * 4, seconds: forward,
                   baselineElements: n, error: forwardError)
        let backward = try time(device) {
            try device.crossStitch(bg, alpha: ba, dx, tasks: tasks, batch: batch, channels: channels, inner: inner, transposed: true)
            try device.crossStitchAlphaGradient(bx, bg, dalpha: da, tasks: tasks, batch: batch, channels: channels, inner: inner)
        }
        try report("cross-stitch backward (dx + dalpha)", elements: n, bytes: 4 * n * 4, seconds: backward,
                   baselineElements: 2 * n, error: backwardError)
        let alphaOnly = try time(device) {
            try device.crossStitchAlphaGradient(bx, bg, dalpha: da, tasks: tasks, batch: batch, channels: channels, inner: inner)
        }
        try report("  of which dalpha (reduction)", elements: n, bytes: 2 * n * 4, seconds: alphaOnly,
                   baselineElements: n, error: backwardError)
    }
}

extension SplitMix64 {
    /// `count` floats uniform in [-1, 1) from a fresh stream.
    func uniformArray(_ count: Int) -> [Float] {
        var copy = self
        return copy.uniform(count)
    }
}
