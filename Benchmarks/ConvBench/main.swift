// conv2d throughput on every device: forward, grad-input and grad-weight at the LeNet shapes of W2
// and a few W4 shapes, next to a bare GEMM of the same M×N×K on the same device.
//
//   swift run -c release ConvBench [--repeats 10] [--devices cpu,opencl:0] [--seconds 1]
//
// Each shape is checked against the CPU first (forward and both gradients; MISMATCH past 1e-3 relative,
// which float32 sums over up to 147,456 products stay well inside). Times are medians of
// runs that each wait for completion; GFLOP/s counts 2·O·(N·OH·OW)·(C/groups·kh·kw) per pass.

import Tandem

typealias Support = BenchmarkSupport

struct Shape {
    var name: String
    var batch, channels, height, width, out, kernel, padding: Int
    var outHeight: Int { height + 2 * padding - kernel + 1 }
    var outWidth: Int { width + 2 * padding - kernel + 1 }
    /// GEMM sizes of the forward pass: M = O, N = batch·OH·OW, K = C·k·k.
    var m: Int { out }
    var n: Int { batch * outHeight * outWidth }
    var k: Int { channels * kernel * kernel }
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

let shapes = [
    Shape(name: "W2 conv1 256×1×28² →10 5×5", batch: 256, channels: 1, height: 28, width: 28, out: 10, kernel: 5, padding: 0),
    Shape(name: "W2 conv2 256×10×12² →20 5×5", batch: 256, channels: 10, height: 12, width: 12, out: 20, kernel: 5, padding: 0),
    Shape(name: "W4 8×3×64² →16 3×3 p1", batch: 8, channels: 3, height: 64, width: 64, out: 16, kernel: 3, padding: 1),
    Shape(name: "W4 8×16×64² →16 3×3 p1", batch: 8, channels: 16, height: 64, width: 64, out: 16, kernel: 3, padding: 1),
    Shape(name: "W4 8×32×32² →64 3×3 p1", batch: 8, channels: 32, height: 32, width: 32, out: 64, kernel: 3, padding: 1),
    Shape(name: "W4 8×64×16² →64 3×3 p1", batch: 8, channels: 64, height: 16, width: 16, out: 64, kernel: 3, padding: 1),
    Shape(name: "W4 8×128×4² →128 3×3 p1", batch: 8, channels: 128, height: 4, width: 4, out: 128, kernel: 3, padding: 1),
]

let maxRepeats = Support.integerOption("--repeats", default: 10)
let budget = Support.numberOption("--seconds", default: 1)
let selectors = Support.deviceSelectors()

/// Median seconds of `body` (each run synchronised), after one warm-up; stops early past `budget`.
func time(_ device: any Device, _ body: () throws -> Void) throws -> Double {
    try body()
    try device.synchronize()
    var times: [Double] = []
    let start = Support.now()
    while times.count < maxRepeats && (times.count < 3 || Support.now() - start < budget) {
        let t = Support.now()
        try body()
        try device.synchronize()
        times.append(Support.now() - t)
    }
    return Support.median(times)
}

/// A small error in a readable form (no Foundation formatting).
func scientific(_ value: Double) -> String {
    guard value > 0 else { return "0" }
    var exponent = 0, mantissa = value
    while mantissa < 1 { mantissa *= 10; exponent -= 1 }
    return "\((mantissa * 10).rounded() / 10)e\(exponent)"
}

func maxRelativeError(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0) { max($0, Double(abs($1.0 - $1.1)) / max(1, Double(abs($1.1)))) }
}

/// Forward output, grad-input and grad-weight on `device` for fixed inputs.
func results(_ s: Shape, on device: any Device, x: [Float], w: [Float], b: [Float], g: [Float]) throws -> [[Float]] {
    let xt = try Tensor(x, shape: [s.batch, s.channels, s.height, s.width], on: device, requiresGrad: true)
    let wt = try Tensor(w, shape: [s.out, s.channels, s.kernel, s.kernel], on: device, requiresGrad: true)
    let bt = try Tensor(b, shape: [s.out], on: device)
    let y = try xt.conv2d(weight: wt, bias: bt, padding: (s.padding, s.padding))
    try y.backward(gradient: try Tensor(g, shape: y.shape, on: device))
    return [try y.values(), try xt.grad?.values() ?? [], try wt.grad?.values() ?? []]
}

print("conv2d benchmark (float32), median of up to \(maxRepeats) runs after warm-up; GEMM = bare device.gemm of the same M×N×K")
print(Support.pad("device", 10) + Support.pad("shape", 32) + Support.pad("pass", 13) + Support.pad("M×N×K", 18)
      + Support.pad("ms", 10) + Support.pad("GFLOP/s", 10) + Support.pad("GEMM GFLOP/s", 14) + "max rel err vs cpu")
for selector in selectors {
    let device: any Device
    do { device = try Devices.select(selector) } catch {
        print("\(selector): \(error)")
        continue
    }
    for s in shapes {
        var random = SplitMix64(seed: UInt64(s.n * 31 + s.k))
        let xShape = [s.batch, s.channels, s.height, s.width], wShape = [s.out, s.channels, s.kernel, s.kernel]
        let x = random.uniform(xShape.reduce(1, *)), w = random.uniform(wShape.reduce(1, *)), b = random.uniform(s.out)
        let g = random.uniform(s.batch * s.out * s.outHeight * s.outWidth)

        // Correctness against the CPU on the same inputs.
        let mine = try results(s, on: device, x: x, w: w, b: b, g: g)
        let reference = device === CPUDevice.shared ? mine : try results(s, on: CPUDevice.shared, x: x, w: w, b: b, g: g)
        let errors = zip(mine, reference).map { maxRelativeError($0, $1) }

        let xt = try Tensor(x, shape: xShape, on: device), wt = try Tensor(w, shape: wShape, on: device)
        let bt = try Tensor(b, shape: [s.out], on: device)
        let gt = try Tensor(g, shape: [s.batch, s.out, s.outHeight, s.outWidth], on: device)
        let padding = (s.padding, s.padding)

        let forward = try time(device) { _ = try xt.conv2d(weight: wt, bias: bt, padding: padding) }
        let xg = xt.requiringGrad()
        let yx = try xg.conv2d(weight: wt, padding: padding)
        let gradInput = try time(device) { xg.grad = nil; try yx.backward(gradient: gt) }
        let wg = wt.requiringGrad()
        let yw = try xt.conv2d(weight: wg, padding: padding)
        let gradWeight = try time(device) { wg.grad = nil; try yw.backward(gradient: gt) }

        // Bare GEMMs of the same sizes: forward O×P×K, grad-input K×P×O (Aᵀ), grad-weight O×K×P (Bᵀ).
        let gemms = [GEMM(m: s.m, n: s.n, k: s.k), GEMM(m: s.k, n: s.n, k: s.m, transposeA: true),
                     GEMM(m: s.m, n: s.k, k: s.n, transposeB: true)]
        let passes = [("forward", forward, errors[0]), ("grad-input", gradInput, errors[1]), ("grad-weight", gradWeight, errors[2])]
        for (gemm, (pass, seconds, error)) in zip(gemms, passes) {
            let a = try device.buffer(random.uniform(gemm.m * gemm.k))
            let bb = try device.buffer(random.uniform(gemm.k * gemm.n))
            let c = try device.allocate(gemm.m * gemm.n)
            let gemmSeconds = try time(device) { try device.gemm(gemm, a: a, b: bb, c: c) }
            print(Support.pad(selector, 10) + Support.pad(s.name, 32) + Support.pad(pass, 13)
                  + Support.pad("\(gemm.m)×\(gemm.n)×\(gemm.k)", 18) + Support.pad(Support.fixed(seconds * 1e3, 2), 10)
                  + Support.pad(Support.fixed(s.flops / seconds / 1e9, 1), 10)
                  + Support.pad(Support.fixed(gemm.flops / gemmSeconds / 1e9, 1), 14)
                  + scientific(error) + (error > 1e-3 ? "  MISMATCH" : ""))
        }
    }
}


// 2×2 max pooling at W2's shapes: forward (values and indices) and backward, GB/s over the bytes
// read and written once.
print("\nmax-pool 2×2 (float32), median ms")
for selector in selectors {
    guard let device = try? Devices.select(selector) else { continue }
    for (name, shape) in [("W2 pool1 256×10×24²", [256, 10, 24, 24]), ("W2 pool2 256×20×8²", [256, 20, 8, 8])] {
        var random = SplitMix64(seed: 7)
        let count = shape.reduce(1, *)
        let x = try Tensor(random.uniform(count), shape: shape, on: device, requiresGrad: true)
        let forward = try time(device) { _ = try Tensor.withoutGradient { try x.maxPool2d(kernel: (2, 2)) } }
        let y = try x.maxPool2d(kernel: (2, 2)).values
        let g = try Tensor(random.uniform(y.count), shape: y.shape, on: device)
        let backward = try time(device) { x.grad = nil; try y.backward(gradient: g) }
        let bytes = Double(count + 2 * count / 4) * 4
        print(Support.pad(selector, 10) + Support.pad(name, 24) + "forward " + Support.fixed(forward * 1e3, 3) + " ms ("
              + Support.fixed(bytes / forward / 1e9, 1) + " GB/s), backward " + Support.fixed(backward * 1e3, 3) + " ms")
    }
}
