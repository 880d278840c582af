import Testing
@testable import Tandem

#if canImport(Glibc)
import Glibc
#endif

/// Optimizers, learning-rate schedules and gradient clipping on every device, against float64 loops.
@Suite("Optimizers")
struct OptimizerTests {
    enum Kind: String, CaseIterable, Sendable { case sgd, sgdMomentum, nesterov, adam, adamL2, adamW }

    /// Several steps of `kind` on loss Σ ½·c·p² (gradient c·p, so it changes every step) through
    /// `backward()`, against the same loop in float64.
    @Test("several steps through backward() match a float64 loop", arguments: Kind.allCases, allSelectors)
    func steps(kind: Kind, selector: String) throws {
        let device = try Devices.select(selector)
        var random = SplitMix64(seed: 7)
        let start = random.uniform(37), c = random.uniform(37).map { 1 + $0 }
        let p = try Tensor(start, shape: [37], on: device, requiresGrad: true)
        let coefficients = try Tensor(c, shape: [37], on: device)
        let optimizer: any Optimizer
        switch kind {
        case .sgd: optimizer = try SGD([p], learningRate: 0.1, weightDecay: 0.01)
        case .sgdMomentum: optimizer = try SGD([p], learningRate: 0.05, momentum: 0.9, dampening: 0.2, weightDecay: 0.01)
        case .nesterov: optimizer = try SGD([p], learningRate: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true)
        case .adam: optimizer = try Adam([p], learningRate: 0.01)
        case .adamL2: optimizer = try Adam([p], learningRate: 0.01, beta1: 0.8, beta2: 0.99, weightDecay: 0.1)
        case .adamW: optimizer = try AdamW([p], learningRate: 0.01, weightDecay: 0.1)
        }
        let steps = 6
        for _ in 0..<steps {
            optimizer.zeroGrad()
            try (p.square() * coefficients * 0.5).sum().backward()
            try optimizer.step()
        }
        #expect(p.isLeaf && p.requiresGrad)

        var x = start.map(Double.init), m = [Double](repeating: 0, count: 37), v = m, buffer = m
        let cd = c.map(Double.init)
        for k in 0..<steps {
            for i in x.indices {
                var g = cd[i] * x[i]
                switch kind {
                case .sgd: x[i] -= 0.1 * (g + 0.01 * x[i])
                case .sgdMomentum, .nesterov:
                    g += 0.01 * x[i]
                    let dampening = kind == .nesterov ? 0 : 0.2
                    buffer[i] = k == 0 ? g : 0.9 * buffer[i] + (1 - dampening) * g
                    x[i] -= 0.05 * (kind == .nesterov ? g + 0.9 * buffer[i] : buffer[i])
                case .adam, .adamL2, .adamW:
                    let (b1, b2, wd) = kind == .adamL2 ? (0.8, 0.99, 0.1) : (0.9, 0.999, kind == .adamW ? 0.1 : 0)
                    if kind == .adamW { x[i] *= 1 - 0.01 * wd } else { g += wd * x[i] }
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    let t = Double(k + 1)
                    x[i] -= 0.01 / (1 - Glibc.pow(b1, t)) * m[i] / (v[i].squareRoot() / (1 - Glibc.pow(b2, t)).squareRoot() + 1e-8)
                }
            }
        }
        let error = Reference.maxRelativeError(try p.values(), x)
        #expect(error < 1e-5, "\(kind) on \(selector): max relative error \(error)")
    }

    @Test("parameters without a gradient are skipped; groups scale the learning rate", arguments: allSelectors)
    func groups(selector: String) throws {
        let device = try Devices.select(selector)
        let a = try Tensor([1, 2], shape: [2], on: device, requiresGrad: true)
        let b = try Tensor([3], shape: [1], on: device, requiresGrad: true)
        let idle = try Tensor([5], shape: [1], on: device, requiresGrad: true)
        let sgd = try SGD([ParameterGroup([a, idle]), ParameterGroup([b], learningRateMultiplier: 10)], learningRate: 0.1)
        a.grad = try Tensor([1, -1], shape: [2], on: device)
        b.grad = try Tensor([2], shape: [1], on: device)
        try sgd.step()
        #expect(try a.values() == [0.9, 2.1])
        #expect(try b.values() == [1])
        #expect(try idle.values() == [5])
        sgd.zeroGrad()
        #expect(a.grad == nil && b.grad == nil)
    }

    /// Eleven tensors of odd sizes in two groups, one of them without a gradient on alternate steps
    /// (so the tensors' Adam step counts differ): a step batches their updates (one launch per
    /// eight tensors on OpenCL), and must give exactly what updating them one at a time gives.
    @Test("batched updates of many tensors equal one update at a time", arguments: Kind.allCases, openCLSelectors)
    func batched(kind: Kind, selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        var random = seed.generator
        let sizes = [1, 7, 3, 33, 129, 2, 5, 17, 64, 9, 1]
        let starts = sizes.map { random.uniform($0) }
        /// The optimizer of `kind` over `groups`.
        func optimizer(_ groups: [ParameterGroup]) throws -> any Optimizer {
            switch kind {
            case .sgd: return try SGD(groups, learningRate: 0.1, weightDecay: 0.01)
            case .sgdMomentum: return try SGD(groups, learningRate: 0.05, momentum: 0.9, dampening: 0.2, weightDecay: 0.01)
            case .nesterov: return try SGD(groups, learningRate: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true)
            case .adam: return try Adam(groups, learningRate: 0.01)
            case .adamL2: return try Adam(groups, learningRate: 0.01, beta1: 0.8, beta2: 0.99, weightDecay: 0.1)
            case .adamW: return try AdamW(groups, learningRate: 0.01, weightDecay: 0.1)
            }
        }
        /// The first six tensors use the base settings, the rest half the rate and no weight decay.
        func group(_ parameters: [Tensor], first: Bool) -> ParameterGroup {
            first ? ParameterGroup(parameters) : ParameterGroup(parameters, learningRateMultiplier: 0.5, weightDecay: 0)
        }
        let batched = try zip(starts, sizes).map { try Tensor($0, shape: [$1], on: device, requiresGrad: true) }
        let single = try zip(starts, sizes).map { try Tensor($0, shape: [$1], on: device, requiresGrad: true) }
        let together = try optimizer([group(Array(batched[..<6]), first: true), group(Array(batched[6...]), first: false)])
        let apart = try single.enumerated().map { index, q in try optimizer([group([q], first: index < 6)]) }
        for step in 0..<4 {
            for (index, (p, q)) in zip(batched, single).enumerated() {
                let idle = index == 4 && step % 2 == 1
                p.grad = idle ? nil : try Tensor(random.uniform(sizes[index]), shape: [sizes[index]], on: device)
                q.grad = p.grad
            }
            try together.step()
            for one in apart { try one.step() }
        }
        for (index, (p, q)) in zip(batched, single).enumerated() {
            #expect(try p.values() == q.values(), "\(kind) on \(selector): tensor \(index) of \(sizes[index]); \(seed)")
        }
    }

    @Test("invalid settings and non-leaf parameters are reported")
    func errors() throws {
        let cpu = CPUDevice.shared
        let p = try Tensor([1], shape: [1], on: cpu, requiresGrad: true)
        #expect(throws: TandemError.self) { try SGD([p], learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true) }
        #expect(throws: TandemError.self) { try SGD([p, p], learningRate: 0.1) }
        #expect(throws: TandemError.self) { try Adam([p], beta1: 1) }
        let computed = try p * 2
        #expect(throws: TandemError.self) { try AdamW([computed]) }
        p.grad = try Tensor([1, 2], shape: [2], on: cpu)
        #expect(throws: TandemError.self) { try SGD([p], learningRate: 0.1).step() }
        #expect(throws: TandemError.self) { try p.attentionGate(features: Tensor.zeros([2], on: cpu)) }
        let columns = try Tensor.zeros([2, 3, 4], on: cpu)
        #expect(throws: TandemError.self) { try columns.crossStitch(alpha: Tensor.zeros([4, 3, 3], on: cpu)) }
    }

    @Test("schedules give the documented rates")
    func schedules() {
        let step = StepDecay(base: 0.1, stepSize: 3, gamma: 0.5)
        #expect([0, 2, 3, 5, 6, 9].map { step.learningRate(at: $0) } == [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125])
        let cosine = CosineAnnealing(base: 1, totalSteps: 10, minimum: 0.1)
        #expect(abs(cosine.learningRate(at: 0) - 1) < 1e-6)
        #expect(abs(cosine.learningRate(at: 5) - 0.55) < 1e-6)
        #expect(abs(cosine.learningRate(at: 10) - 0.1) < 1e-6)
        #expect(abs(cosine.learningRate(at: 25) - 0.1) < 1e-6)
        #expect(abs(cosine.learningRate(at: 2) - Float(0.1 + 0.9 * (1 + cos(Double.pi * 0.2)) / 2)) < 1e-6)
        let warm = cosine.withWarmup(steps: 4)
        #expect([0, 1, 2, 3].map { warm.learningRate(at: $0) } == [0, 0.25, 0.5, 0.75])
        #expect(warm.learningRate(at: 4) == cosine.learningRate(at: 0))
        #expect(warm.learningRate(at: 9) == cosine.learningRate(at: 5))
        let stepped = StepDecay(base: 0.2, stepSize: 2).withWarmup(steps: 2, startFactor: 0.5)
        #expect(zip([0, 1, 2, 4].map { stepped.learningRate(at: $0) }, [0.1, 0.15, 0.2, 0.02]).allSatisfy { abs($0 - $1) < 1e-7 })

        let p = try? Tensor([0], shape: [1], on: CPUDevice.shared)
        if let p, let sgd = try? SGD([p], learningRate: 1) {
            sgd.setLearningRate(warm, at: 2)
            #expect(sgd.learningRate == 0.5)
        }
    }

    @Test("clipping scales to the max norm and leaves small gradients alone", arguments: allSelectors)
    func clipping(selector: String) throws {
        let device = try Devices.select(selector)
        let a = try Tensor.zeros([2, 2], on: device), b = try Tensor.zeros([1], on: device), none = try Tensor.zeros([3], on: device)
        a.grad = try Tensor([3, 0, 0, 4], shape: [2, 2], on: device)
        b.grad = try Tensor([12], shape: [1], on: device)  // Global norm √(9 + 16 + 144) = 13.
        let norm = try Tensor.clipGradientNorm([a, b, none], maxNorm: 6.5)
        #expect(abs(try norm.item() - 13) < 1e-5)
        let clipped = try (a.grad?.values() ?? []) + (b.grad?.values() ?? [])
        #expect(Reference.maxRelativeError(clipped, [3, 0, 0, 4, 12].map { $0 * 6.5 / (13 + 1e-6) }) < 1e-5)
        let clippedNorm = clipped.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
        #expect(abs(clippedNorm - 6.5) < 1e-4)
        #expect(none.grad == nil)

        let small = try Tensor.zeros([3], on: device)
        small.grad = try Tensor([0.1, -0.2, 0.3], shape: [3], on: device)
        let smallNorm = try Tensor.clipGradientNorm([small], maxNorm: 1)
        #expect(abs(try smallNorm.item() - Float(0.14.squareRoot())) < 1e-6)
        #expect(try small.grad?.values() == [0.1, -0.2, 0.3])
    }

    @Test("clipping reads nothing back from an OpenCL device", arguments: openCLSelectors)
    func clippingStaysOnDevice(selector: String) throws {
        let device = try privateOpenCL(selector)
        let parameters = try (0..<3).map { k in
            let p = try Tensor.zeros([5 + k, 3], on: device, requiresGrad: true)
            p.grad = try Tensor.uniform([5 + k, 3], low: -2, high: 2, seed: UInt64(k + 1), on: device)
            return p
        }
        let before = device.transferStatistics
        let norm = try Tensor.clipGradientNorm(parameters, maxNorm: 0.5)
        let sgd = try SGD(parameters, learningRate: 0.1, momentum: 0.9)
        try sgd.step()
        try device.synchronize()
        #expect(device.transferStatistics.downloads == before.downloads)
        #expect(device.transferStatistics.uploads == before.uploads)
        #expect(norm.shape == [])
        #expect(try norm.item() > 0.5)
    }
}
