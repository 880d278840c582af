// GEMM throughput on every device, next to the library it wraps called directly.
//
//   swift run -c release GemmBench [--sizes 256,512,1024] [--repeats 20] [--devices cpu,opencl:0]
//
// For each device and square size n: checks the result against a float64 reference first, then
// times `device.gemm` and the direct call (cblas_sgemm on the CPU, CLBlastSgemm on OpenCL) on the
// same buffers, alternating, each run waiting for completion. Prints medians and the wrapper's cost.
// On the CPU the direct call runs on one thread: Tandem sets OpenBLAS to one thread and splits each
// GEMM over its own workers, so there the "wrapper cost" is the gain (negative) of that split.
//
//   swift run -c release GemmBench --shapes 10x147456x25,20x250x16384:NT [--devices cpu]
//
// times `device.gemm` on the given shapes (m×n×k, optional :TA TB flags such as :NT) instead: the
// shapes of a workload's convolutions, to see which GEMMs a step's time goes to.

import CBLAS
import CCLBlast
import COpenCL
import Tandem

typealias Support = BenchmarkSupport

let sizes = (Support.option("--sizes") ?? "256,512,1024").split(separator: ",").compactMap { Int($0) }
let repeats = Support.integerOption("--repeats", default: 20)
let selectors = Support.deviceSelectors()

if let shapes = Support.option("--shapes") {
    print("GEMM shapes, median of \(repeats) runs after warm-up")
    print("device    shape                    ms        GFLOP/s")
    for selector in selectors {
        let device = try Devices.select(selector)
        for shape in shapes.split(separator: ",") {
            let parts = shape.split(separator: ":")
            let dims = parts[0].split(separator: "x").compactMap { Int($0) }
            let flags = parts.count > 1 ? Array(parts[1]) : ["N", "N"]
            guard dims.count == 3, flags.count == 2 else { fatalError("shape '\(shape)': write MxNxK or MxNxK:TN") }
            let g = GEMM(m: dims[0], n: dims[1], k: dims[2], transposeA: flags[0] == "T", transposeB: flags[1] == "T")
            var random = SplitMix64(seed: 1)
            let a = try device.buffer(random.uniform(g.m * g.k)), b = try device.buffer(random.uniform(g.k * g.n))
            let c = try device.allocate(g.m * g.n)
            for _ in 0..<3 { try device.gemm(g, a: a, b: b, c: c) }
            try device.synchronize()
            var times: [Double] = []
            for _ in 0..<repeats {
                let t = Support.now()
                try device.gemm(g, a: a, b: b, c: c)
                try device.synchronize()
                times.append(Support.now() - t)
            }
            let median = Support.median(times)
            print(Support.pad(selector, 10) + Support.pad(String(shape), 25) + Support.pad(Support.fixed(median * 1e3, 3), 10)
                  + Support.fixed(g.flops / median / 1e9, 1))
        }
    }
    exit(0)
}

print("GEMM benchmark, row-major C = A·B (float32), median of \(repeats) runs after warm-up")
print("device    n      tandem GFLOP/s  direct GFLOP/s  wrapper cost  max rel err")
for selector in selectors {
    let device: any Device
    do { device = try Devices.select(selector) } catch {
        print("\(selector): \(error)")
        continue
    }
    for n in sizes {
        let g = GEMM(m: n, n: n, k: n)
        var random = SplitMix64(seed: UInt64(n))
        let a = random.uniform(n * n), b = random.uniform(n * n)
        let ba = try device.buffer(a), bb = try device.buffer(b), bc = try device.allocate(n * n)

        // Correctness first (a sampled row set keeps the float64 reference cheap at n = 1024).
        try device.gemm(g, a: ba, b: bb, c: bc)
        let c = try device.download(bc)
        var worst = 0.0
        for i in stride(from: 0, to: n, by: max(1, n / 16)) {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<n { sum += Double(a[i * n + p]) * Double(b[p * n + j]) }
                worst = max(worst, abs(Double(c[i * n + j]) - sum) / max(1, abs(sum)))
            }
        }

        let direct: () throws -> Void
        if let cl = device as? OpenCLDevice {
            let ma = (ba as! OpenCLBuffer).memory, mb = (bb as! OpenCLBuffer).memory, mc = (bc as! OpenCLBuffer).memory
            direct = {
                var queue: cl_command_queue? = cl.commandQueue
                let status = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n, 1,
                                          ma, 0, n, mb, 0, n, 0, mc, 0, n, &queue, nil)
                precondition(status == CLBlastSuccess, "CLBlast status \(status.rawValue)")
            }
        } else {
            let pa = (ba as! CPUBuffer).pointer, pb = (bb as! CPUBuffer).pointer, pc = (bc as! CPUBuffer).pointer
            direct = {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                            pa, Int32(n), pb, Int32(n), 0, pc, Int32(n))
            }
        }
        let wrapped: () throws -> Void = { try device.gemm(g, a: ba, b: bb, c: bc) }
        for _ in 0..<3 { try wrapped(); try direct() }
        try device.synchronize()
        var wrappedTimes: [Double] = [], directTimes: [Double] = []
        for _ in 0..<repeats {
            var t = Support.now()
            try wrapped()
            try device.synchronize()
            wrappedTimes.append(Support.now() - t)
            t = Support.now()
            try direct()
            try device.synchronize()
            directTimes.append(Support.now() - t)
        }
        let flops = g.flops
        let tandem = flops / Support.median(wrappedTimes) / 1e9, library = flops / Support.median(directTimes) / 1e9
        let cost = (Support.median(wrappedTimes) / Support.median(directTimes) - 1) * 100
        print(Support.pad(selector, 10) + Support.pad(String(n), 7) + Support.pad(Support.fixed(tandem, 1), 16)
              + Support.pad(Support.fixed(library, 1), 16) + Support.pad(Support.fixed(cost, 1) + "%", 14) + "\(worst)")
    }
}
