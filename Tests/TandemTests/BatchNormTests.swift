import Testing
@testable import Tandem
@testable import TandemOpenCL

/// The fused batch-norm primitives beyond the catalog's small cases: long channels, both ways an
/// OpenCL device sums a channel, and the op's validation.
@Suite("Batch norm")
struct BatchNormTests {
    /// Values of one call of the primitives: outputs of the forward and the backward.
    struct Run: Equatable {
        var y: [Float], mean: [Float], invstd: [Float], runningMean: [Float], runningVar: [Float]
        var dx: [Float], dweight: [Float], dbias: [Float]
    }

    /// Runs forward and backward on `device`; `sums` picks the OpenCL summing (nil: the device's own).
    static func run(_ device: any Device, x: [Float], dy: [Float], weight: [Float]?, bias: [Float]?,
                    geometry g: BatchNormGeometry, workGroupSums sums: Bool? = nil) throws -> Run {
        let c = g.channels
        let xb = try device.buffer(x), dyb = try device.buffer(dy), y = try device.allocate(g.elements)
        let wb = try weight.map { try device.buffer($0) }, bb = try bias.map { try device.buffer($0) }
        let mean = try device.allocate(c), invstd = try device.allocate(c)
        let runningMean = try device.buffer((0..<c).map { Float($0) * 0.1 })
        let runningVar = try device.buffer((0..<c).map { 0.5 + Float($0) * 0.25 })
        let dx = try device.allocate(g.elements), dw = try device.allocate(c), db = try device.allocate(c)
        for b in [y, mean, invstd, dx, dw, db] { try device.fill(b, value: .nan, offset: 0, count: b.count) }
        if let sums, let cl = device as? OpenCLDevice {
            try cl.batchNormForward(xb, y, weight: wb, bias: bb, mean: mean, invstd: invstd, runningMean: runningMean,
                                    runningVar: runningVar, geometry: g, workGroupSums: sums)
            try cl.batchNormBackward(xb, dyb, weight: wb, mean: mean, invstd: invstd, dx: dx, dweight: dw, dbias: db,
                                     geometry: g, workGroupSums: sums)
        } else {
            try device.batchNormForward(xb, y, weight: wb, bias: bb, mean: mean, invstd: invstd, runningMean: runningMean,
                                        runningVar: runningVar, geometry: g)
            try device.batchNormBackward(xb, dyb, weight: wb, mean: mean, invstd: invstd, dx: dx, dweight: dw, dbias: db, geometry: g)
        }
        func read(_ b: any DeviceBuffer) throws -> [Float] { try device.download(b, offset: 0, count: b.count) }
        return Run(y: try read(y), mean: try read(mean), invstd: try read(invstd), runningMean: try read(runningMean),
                   runningVar: try read(runningVar), dx: try read(dx), dweight: try read(dw), dbias: try read(db))
    }

    /// Largest difference relative to the largest magnitude of `want` (NaN counts as infinite).
    static func error(_ got: [Float], _ want: [Float]) -> Double {
        let scale = Swift.max(want.map { Double(Swift.abs($0)) }.max() ?? 0, 1e-6)
        return zip(got, want).map { Double(Swift.abs($0 - $1)).isNaN ? .infinity : Double(Swift.abs($0 - $1)) / scale }.max() ?? 0
    }

    static func values(_ count: Int, seed: UInt64, offset: Float = 0, scale: Float = 1) -> [Float] {
        var random = SplitMix64(seed: seed)
        return random.uniform(count).map { offset + scale * $0 }
    }

    @Test("CPU statistics of a 65,536-value channel with mean 100 and spread 0.5 match float64")
    func longChannelAccuracy() throws {
        let g = BatchNormGeometry(batch: 16, channels: 2, inner: 64 * 64, training: true, momentum: 0.5)
        let x = Self.values(g.elements, seed: 3, offset: 100, scale: 0.5)
        let dy = Self.values(g.elements, seed: 4)
        let result = try Self.run(CPUDevice.shared, x: x, dy: dy, weight: nil, bias: nil, geometry: g)
        for c in 0..<2 {
            var values: [Double] = []
            for n in 0..<g.batch { values += x[(n * 2 + c) * g.inner..<(n * 2 + c + 1) * g.inner].map(Double.init) }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            #expect(Swift.abs(Double(result.mean[c]) - mean) <= 1e-7 * mean)
            let invstd = 1 / (variance + Double(Float(1e-5))).squareRoot()
            #expect(Swift.abs(Double(result.invstd[c]) - invstd) <= 1e-5 * invstd, "channel \(c): \(result.invstd[c]) vs \(invstd)")
            let unbiased = variance * Double(values.count) / Double(values.count - 1)
            let runningVar = 0.5 * Double(0.5 + Float(c) * 0.25) + 0.5 * unbiased
            #expect(Swift.abs(Double(result.runningVar[c]) - runningVar) <= 1e-5 * runningVar)
            // Σ dy·x̂ through the saved statistics, against float64.
            var dweight = 0.0
            for n in 0..<g.batch {
                for p in 0..<g.inner {
                    let i = (n * 2 + c) * g.inner + p
                    dweight += Double(dy[i]) * (Double(x[i]) - mean) * invstd
                }
            }
            #expect(Swift.abs(Double(result.dweight[c]) - dweight) <= 1e-3 * Swift.max(1, Swift.abs(dweight)),
                    "channel \(c): \(result.dweight[c]) vs \(dweight)")
        }
    }

    static let geometries: [(Int, Int, Int)] = [(9, 4, 1), (5, 3, 1), (3, 5, 99), (4, 3, 300), (1, 2, 517), (8, 3, 64)]

    @Test("OpenCL forward and backward match the CPU, summing by work-groups and by planes", arguments: openCLSelectors)
    func openCLMatchesCPU(selector: String) throws {
        let device = try openCL(selector)
        for (index, (n, c, s)) in Self.geometries.enumerated() {
            for training in [true, false] {
                for affine in [true, false] {
                    let g = BatchNormGeometry(batch: n, channels: c, inner: s, training: training, momentum: 0.3)
                    let x = Self.values(g.elements, seed: UInt64(index + 1), offset: 3, scale: 2)
                    let dy = Self.values(g.elements, seed: UInt64(index + 101))
                    let weight = affine ? Self.values(c, seed: 7, offset: 1) : nil, bias = affine ? Self.values(c, seed: 8) : nil
                    let want = try Self.run(CPUDevice.shared, x: x, dy: dy, weight: weight, bias: bias, geometry: g)
                    for workGroups in [true, false] {
                        let got = try Self.run(device, x: x, dy: dy, weight: weight, bias: bias, geometry: g, workGroupSums: workGroups)
                        let label = "\(n)×\(c)×\(s) training \(training) affine \(affine) work-groups \(workGroups)"
                        for (name, a, b) in [("y", got.y, want.y), ("mean", got.mean, want.mean), ("invstd", got.invstd, want.invstd),
                                             ("runningMean", got.runningMean, want.runningMean),
                                             ("runningVar", got.runningVar, want.runningVar), ("dx", got.dx, want.dx),
                                             ("dweight", got.dweight, want.dweight), ("dbias", got.dbias, want.dbias)] {
                            #expect(Self.error(a, b) <= 1e-4, "\(label): \(name) error \(Self.error(a, b))")
                        }
                    }
                }
            }
        }
    }

    @Test("gradients of x, weight and bias each on their own equal those of all three together", arguments: allSelectors)
    func independentGradients(selector: String) throws {
        let device = try Devices.select(selector)
        let shape = [3, 4, 5, 3]
        let x = Self.values(180, seed: 11), w = Self.values(4, seed: 12, offset: 1), b = Self.values(4, seed: 13)
        let seed = try Tensor(Self.values(180, seed: 14), shape: shape, on: device)
        func gradients(_ flags: [Bool]) throws -> [[Float]?] {
            let tx = try Tensor(x, shape: shape, on: device, requiresGrad: flags[0])
            let tw = try Tensor(w, shape: [4], on: device, requiresGrad: flags[1])
            let tb = try Tensor(b, shape: [4], on: device, requiresGrad: flags[2])
            try tx.batchNorm(runningMean: nil, runningVar: nil, weight: tw, bias: tb, training: true).backward(gradient: seed)
            return try [tx, tw, tb].map { try $0.grad?.values() }
        }
        let all = try gradients([true, true, true])
        for k in 0..<3 {
            let one = try gradients((0..<3).map { $0 == k })
            for j in 0..<3 { #expect((one[j] != nil) == (j == k)) }
            #expect(Self.error(try #require(one[k]), try #require(all[k])) <= 1e-6)
        }
    }

    @Test("invalid calls throw errors naming batchNorm and the shapes")
    func validation() throws {
        let device = CPUDevice.shared
        let x = try Tensor.zeros([2, 3, 4, 4], on: device)
        #expect(throws: TandemError.self) { try x.batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: false) }
        do {
            _ = try x.batchNorm(runningMean: nil, runningVar: nil, weight: try Tensor.ones([4], on: device), bias: nil, training: true)
            Issue.record("weight of the wrong shape was accepted")
        } catch {
            #expect("\(error)".contains("batchNorm") && "\(error)".contains("[4]"))
        }
        let single = try Tensor.zeros([1, 3], on: device)
        #expect(throws: TandemError.self) { try single.batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true) }
        #expect(throws: TandemError.self) { try Tensor.zeros([2, 3, 4], on: device).batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true) }
    }
}
