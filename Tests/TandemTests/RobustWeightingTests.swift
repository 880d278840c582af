import Testing
@testable import Tandem
@testable import TandemMTL

/// STCH and ExcessMTL (the 2024 weightings of the methods issue): hand-computed steps on the
/// three-task toy (conflicting gradients, a zero gradient), their state, and one run each showing
/// the paper's claim.
@Suite("STCH, ExcessMTL and minimax")
struct RobustWeightingTests {
    @Test("STCH: Σ log L until the nadir epoch, then T·softmax(log(L/z)/μ)/Lᵢ; the nadir is epoch W's mean loss", arguments: allSelectors)
    func stchHand(selector: String) throws {
        let device = try Devices.select(selector)
        for mu in [1.0, 0.1] {
            let method = try STCH(mu: mu, warmup: 2)
            let nadir: [Float] = [0.9, 2.5, 0.4]
            for epoch in 0..<3 {
                let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
                try method.backward(losses: model.losses(), model: model)
                let l = model.lossValues
                let w = l.map { 1 / $0 }
                expectClose(try #require(model.theta.grad).values(), combine(w, model.taskGradients))
                for (i, h) in model.heads.enumerated() { expectClose(try #require(h.grad).values(), [w[i] * model.headValues[i]]) }
                expectClose(try method.currentWeights(), w)
                #expect(method.nadir == nil)
                try method.endEpoch(meanLosses: epoch == 2 ? nadir : [9, 9, 9])
            }
            #expect(method.nadir == nadir && method.epochs == 3)
            // After the nadir epoch; one task's gradient is zero (its loss is its head's alone).
            let model = try ToyModel(theta: toyTheta, gradients: [toyGradients[0], [0, 0, 0], toyGradients[2]], on: device)
            try method.backward(losses: model.losses(), model: model)
            let l = model.lossValues
            let s: [Double] = (0..<3).map { i in HostMath.log(l[i] / Double(nadir[i])) / mu }
            let top = s.max()!
            let e: [Double] = s.map { HostMath.exp($0 - top) }
            let total = e.reduce(0, +)
            let w: [Double] = (0..<3).map { i in 3 * e[i] / total / l[i] }
            expectClose(try #require(model.theta.grad).values(), combine(w, model.taskGradients))
            for (i, h) in model.heads.enumerated() { expectClose(try #require(h.grad).values(), [w[i] * model.headValues[i]]) }
            expectClose(try method.currentWeights(), w)
            // Smaller μ puts more of the weight on the task furthest above its nadir loss.
            let worst = s.indices.max { s[$0] < s[$1] }!
            let share = e[worst] / total
            #expect(share > (mu < 1 ? 0.9 : 0.4), "μ \(mu): softmax share \(share) of the worst task")
        }
        #expect(throws: TandemError.self) { try STCH(mu: 0) }
        #expect(throws: TandemError.self) { try STCH(mu: 1, warmup: -1) }
    }

    @Test("STCH: after the nadir epoch a run lowers the worst task's log(L/z) below what Σ log L reaches, the more so the smaller μ")
    func stchWorstTask() throws {
        // The paper's claim: the smooth Tchebycheff scalarisation optimises the worst (normalised)
        // objective, which a linear scalarisation (here of the log-losses, STCH's warm-up) does not.
        let cpu = CPUDevice.shared
        func run(_ method: STCH) throws -> [Double] {
            let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: cpu)
            let optimizer = try SGD(model.parameters, learningRate: 0.02)
            var sums = [Double](repeating: 0, count: 3)
            for step in 0..<300 {
                optimizer.zeroGrad()
                let losses = try model.losses()
                let values = try losses.map { Double(try $0.item()) }
                try method.backward(losses: losses, model: model)
                try optimizer.step()
                if step < 10 {
                    for i in 0..<3 { sums[i] += values[i] / 10 }
                    if step == 9 { try method.endEpoch(meanLosses: sums.map(Float.init)) }
                }
            }
            let nadir = sums
            return try model.losses().enumerated().map { i, l in HostMath.log(Double(try l.item()) / nadir[i]) }
        }
        let linear = try run(STCH(mu: 1, warmup: 1_000))
        let smooth = try run(STCH(mu: 1, warmup: 0))
        let sharp = try run(STCH(mu: 0.05, warmup: 0))
        print("STCH toy, log(L/z) at the end: Σ log L \(linear), μ = 1 \(smooth), μ = 0.05 \(sharp)")
        #expect(smooth.max()! < linear.max()! && sharp.max()! < smooth.max()!,
                "worst log(L/z): Σ log L \(linear.max()!), μ = 1 \(smooth.max()!), μ = 0.05 \(sharp.max()!)")
    }

    @Test("minimax: T on the largest loss (split on ties), or T·softmax(L/τ); the gradients by hand", arguments: allSelectors)
    func minimaxHand(selector: String) throws {
        let device = try Devices.select(selector)
        for temperature in [0.0, 0.5, 4.0] {
            let method = try Minimax(temperature: temperature)
            // One task's gradient is zero (its loss is its head's alone).
            let model = try ToyModel(theta: toyTheta, gradients: [toyGradients[0], [0, 0, 0], toyGradients[2]], on: device)
            try method.backward(losses: model.losses(), model: model)
            let l = model.lossValues
            let w: [Double]
            if temperature == 0 {
                let worst = l.indices.max { l[$0] < l[$1] }!
                w = l.indices.map { $0 == worst ? 3 : 0 }
            } else {
                let e = l.map { HostMath.exp($0 / temperature) }
                w = e.map { 3 * $0 / e.reduce(0, +) }
            }
            expectClose(try #require(model.theta.grad).values(), combine(w, model.taskGradients))
            for (i, h) in model.heads.enumerated() { expectClose(try #require(h.grad).values(), [w[i] * model.headValues[i]]) }
            expectClose(try method.currentWeights(), w)
            #expect(abs(w.reduce(0, +) - 3) < 1e-9)
        }
        // Ties share the weight; a huge temperature approaches equal weighting.
        #expect(Minimax.weights(losses: [2, 1, 2], temperature: 0) == [1.5, 0, 1.5])
        let flat = Minimax.weights(losses: [2, 1, 3], temperature: 1e6)
        #expect(flat.allSatisfy { abs($0 - 1) < 1e-5 }, "\(flat)")
        #expect(throws: TandemError.self) { try Minimax(temperature: -1) }
        #expect(throws: TandemError.self) { try Minimax(temperature: .infinity) }
    }

    @Test("minimax and its smooth version: a run ends with a lower worst-task loss than equal weighting, which keeps the lower sum")
    func minimaxWorstTask() throws {
        // The paper's claim: minimising the largest risk avoids the worst outcome that minimising
        // the mean accepts. Three tasks pull θ apart (the toy's conflicting gradients).
        let cpu = CPUDevice.shared
        func run(_ method: any LossWeighting) throws -> [Double] {
            let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: cpu)
            let optimizer = try SGD(model.parameters, learningRate: 0.01)
            for _ in 0..<400 {
                optimizer.zeroGrad()
                try method.backward(losses: model.losses(), model: model)
                try optimizer.step()
            }
            return try model.losses().map { Double(try $0.item()) }
        }
        let mean = try run(EqualWeighting())
        let smooth = try run(Minimax(temperature: 0.5))
        let hard = try run(Minimax(temperature: 0))
        print("minimax toy, losses at the end: EW \(mean), τ 0.5 \(smooth), τ 0 \(hard)")
        #expect(hard.max()! < mean.max()! && smooth.max()! < mean.max()!,
                "worst loss: EW \(mean.max()!), τ 0.5 \(smooth.max()!), τ 0 \(hard.max()!)")
        // The mean pays for it: equal weighting has the lower sum.
        #expect(mean.reduce(0, +) <= hard.reduce(0, +) + 1e-9, "sum: EW \(mean.reduce(0, +)), minimax \(hard.reduce(0, +))")
    }

    @Test("STCH: state holds the epoch count and the nadir point; states that contradict the warm-up are refused")
    func stchState() throws {
        let method = try STCH(mu: 0.5, warmup: 1)
        try method.endEpoch(meanLosses: [3, 4])
        try method.endEpoch(meanLosses: [1, 2])
        #expect(method.methodState() == ["stch.epochs": [2], "stch.nadir": [1, 2]])
        let resumed = try STCH(mu: 0.5, warmup: 1)
        try resumed.loadMethodState(method.methodState())
        #expect(resumed.nadir == [1, 2] && resumed.epochs == 2)
        #expect(throws: TandemError.self) { try resumed.loadMethodState(["stch.epochs": [1], "stch.nadir": [1, 2]]) }
        #expect(throws: TandemError.self) { try resumed.loadMethodState(["stch.epochs": [5]]) }
        #expect(throws: TandemError.self) { try resumed.loadMethodState(["stch.epochs": [5], "stch.nadir": [1, .nan]]) }
        #expect(resumed.nadir == [1, 2] && resumed.epochs == 2, "a refused state changes nothing")
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: CPUDevice.shared)
        #expect(throws: TandemError.self) { try method.backward(losses: model.losses(), model: model) }
    }

    @Test("two tasks with aligned gradients: STCH's and ExcessMTL's steps by hand", arguments: allSelectors)
    func alignedPair(selector: String) throws {
        let device = try Devices.select(selector)
        let aligned: [[Float]] = [[1, 2, -1], [0.5, 1, -0.5]]
        // STCH after its nadir epoch (W = 0), μ = 0.5.
        let stch = try STCH(mu: 0.5, warmup: 0)
        try stch.endEpoch(meanLosses: [2, 0.5])
        let model = try ToyModel(theta: toyTheta, gradients: aligned, heads: [0.2, 0.6], on: device)
        try stch.backward(losses: model.losses(), model: model)
        let l = model.lossValues
        let w = STCH.weights(losses: l, nadir: [2, 0.5], mu: 0.5)
        let s0 = HostMath.log(l[0] / 2) / 0.5, s1 = HostMath.log(l[1] / 0.5) / 0.5
        let p0 = 1 / (1 + HostMath.exp(s1 - s0))
        expectCloseDouble(w, [2 * p0 / l[0], 2 * (1 - p0) / l[1]], tolerance: 1e-12)
        expectClose(try #require(model.theta.grad).values(), combine(w, model.taskGradients))
        // ExcessMTL over two steps (η = 1): risks Σg²/√(Σₛg²) and w ∝ exp(E/E⁰), summing to 2.
        let excess = try ExcessMTL(taskCount: 2, step: 1)
        var sums = [[Double]](repeating: [0, 0, 0], count: 2)
        var first: [Double] = []
        for scale in [1.0, 0.5] {
            let m = try ToyModel(theta: toyTheta, gradients: aligned.map { g in g.map { $0 * Float(scale) } }, heads: [0.2, 0.6], on: device)
            try excess.backward(losses: m.losses(), model: m)
            let g = m.taskGradients
            var risks = [0.0, 0.0]
            for i in 0..<2 {
                for k in 0..<3 {
                    sums[i][k] += g[i][k] * g[i][k]
                    risks[i] += g[i][k] * g[i][k] / (sums[i][k] + 1e-7).squareRoot()
                }
            }
            expectCloseDouble(excess.lastRisks, risks, tolerance: 1e-5)
            if first.isEmpty {
                first = risks
                expectClose(try excess.currentWeights(), [1, 1])
            } else {
                let raw = [HostMath.exp(risks[0] / first[0]), HostMath.exp(risks[1] / first[1])]
                let expected = raw.map { 2 * $0 / (raw[0] + raw[1]) }
                expectClose(try excess.currentWeights(), expected)
                expectClose(try #require(m.theta.grad).values(), combine(expected, g))
            }
        }
    }

    @Test("ExcessMTL: AdaGrad-scaled risks, exponentiated weights summing to T, by hand over two steps; a zero gradient", arguments: allSelectors)
    func excessHand(selector: String) throws {
        let device = try Devices.select(selector)
        let method = try ExcessMTL(taskCount: 3, step: 1)
        let first: [[Float]] = [toyGradients[0], [0, 0, 0], toyGradients[2]]
        let second: [[Float]] = toyGradients.map { g in g.map { $0 * 0.5 } }
        // Step 1: w = 1; the risks Σg²/√(g² + 10⁻⁷) become the references (task 1 has none yet).
        let model1 = try ToyModel(theta: toyTheta, gradients: first, on: device)
        try method.backward(losses: model1.losses(), model: model1)
        let g1 = model1.taskGradients
        let risks1: [Double] = g1.map { g in g.reduce(0.0) { (s: Double, x: Double) -> Double in s + x * x / (x * x + 1e-7).squareRoot() } }
        expectCloseDouble(method.lastRisks, risks1, tolerance: 1e-5)
        expectCloseDouble(method.initialRisks, [risks1[0], 0, risks1[2]], tolerance: 1e-5)
        expectClose(try method.currentWeights(), [1, 1, 1])
        expectClose(try #require(model1.theta.grad).values(), combine([1, 1, 1], g1))
        // Step 2: the sums of squares grow; tasks 0 and 2 move by exp(η·E/E⁰); task 1 takes its first reference.
        let model2 = try ToyModel(theta: toyTheta, gradients: second, on: device)
        try method.backward(losses: model2.losses(), model: model2)
        let g2 = model2.taskGradients
        var risks2 = [Double](repeating: 0, count: 3)
        for i in 0..<3 {
            for k in 0..<3 {
                let sum: Double = g1[i][k] * g1[i][k] + g2[i][k] * g2[i][k] + 1e-7
                risks2[i] += g2[i][k] * g2[i][k] / sum.squareRoot()
            }
        }
        expectCloseDouble(method.lastRisks, risks2, tolerance: 1e-5)
        let raw: [Double] = [HostMath.exp(risks2[0] / risks1[0]), 1, HostMath.exp(risks2[2] / risks1[2])]
        let rawTotal = raw.reduce(0, +)
        let w: [Double] = raw.map { 3 * $0 / rawTotal }
        expectClose(try method.currentWeights(), w)
        expectClose(try #require(model2.theta.grad).values(), combine(w, g2))
        // Heads get the weights in force before the step's update (all 1 here).
        for (i, h) in model2.heads.enumerated() { expectClose(try #require(h.grad).values(), [model2.headValues[i]]) }
        expectCloseDouble(method.initialRisks, [risks1[0], risks2[1], risks1[2]], tolerance: 1e-5)
        #expect(throws: TandemError.self) { try ExcessMTL(taskCount: 2, step: -1) }
    }

    @Test("ExcessMTL: a task's irreducible loss does not change the run, and the task that keeps more of its excess risk gets more weight")
    func excessRobustness() throws {
        // The paper's claim: weights follow excess risk, not loss, so label noise (an irreducible loss)
        // does not draw weight to its task, as it does for a loss-based weighting (GLS, DWA, STCH).
        func run(offsets: [Float]) throws -> (theta: [Float], weights: [[Float]]) {
            let cpu = CPUDevice.shared
            let model = try SeparableModel(curvatures: [1, 0.1], start: [-3, -3], targets: [1, 1], offsets: offsets, on: cpu)
            let method = try ExcessMTL(taskCount: 2, step: 0.05)
            let optimizer = try SGD(model.parameters, learningRate: 0.05)
            var weights: [[Float]] = []
            for _ in 0..<60 {
                optimizer.zeroGrad()
                try method.backward(losses: model.losses(), model: model)
                try optimizer.step()
                weights.append(try method.currentWeights())
            }
            return (try model.theta.values(), weights)
        }
        let clean = try run(offsets: [0, 0])
        let noisy = try run(offsets: [0, 50])
        for (a, b) in zip(clean.weights, noisy.weights) { expectClose(a, b.map(Double.init), tolerance: 1e-5) }
        expectClose(clean.theta, noisy.theta.map(Double.init), tolerance: 1e-5)
        // Both start 4 from their optimum; task 1, ten times flatter, keeps more of its excess risk
        // (relative to its first) and its weight rises above task 0's.
        for w in clean.weights.dropFirst() { #expect(w[1] > w[0], "\(w)") }
        #expect(clean.weights.last![1] > 1.05, "\(clean.weights.last!)")
        // GLS, a loss-based weighting, is moved by the offset.
        let gls = GeometricLossStrategy()
        let model = try SeparableModel(curvatures: [1, 0.1], start: [-3, -3], targets: [1, 1], offsets: [0, 50], on: CPUDevice.shared)
        try gls.backward(losses: model.losses(), model: model)
        let w = try gls.currentWeights()
        #expect(w[1] < 0.2 * w[0], "GLS weights \(w): the noisy task's large loss shrinks its weight")
    }

    @Test("ExcessMTL with --rep-grad: risks of the representation's gradient summed over the batch; a smaller last batch keeps the sums' shape", arguments: allSelectors)
    func excessRepresentation(selector: String) throws {
        let device = try Devices.select(selector)
        let method = try ExcessMTL(taskCount: 2, step: 0.5)
        let (gradients, model) = try GradientMethodTests.stepGradients(method, representation: true, on: device)
        // The first step keeps w = 1: the same step as EW's.
        let ew = try GradientMethodTests.stepGradients(EqualWeighting(), representation: false, on: device).gradients
        for (a, b) in zip(gradients, ew) { expectClose(a, b.map(Double.init), tolerance: 1e-4) }
        // By hand: Lᵢ = mean (hᵢ(z) − y)², so Σₙ ∂Lᵢ/∂zₙ = (2/N)·Σₙ (hᵢ(zₙ) − yₙ)·wᵢ with wᵢ the head's weights
        // (at the weights before the step: rebuilt from the same seed).
        let fresh = try GradientMethodTests.smallHPS(seed: 4, on: device)
        let random = RandomSource(seed: 8)
        let x = try Tensor(random.uniform(6 * 5, low: -1, high: 1), shape: [6, 5], on: device)
        let targets = [random.uniform(6, low: -1, high: 1), random.uniform(6, low: 2, high: 3)]
        let outputs = try fresh.forward(x).map { try $0.values() }
        for t in 0..<2 {
            let head = try #require(fresh.heads[t] as? Linear)
            let w = try head.weight.values()
            let residual = (0..<6).reduce(0.0) { $0 + Double(outputs[t][$1] - targets[t][$1]) } * 2 / 6
            let r = w.map { Double($0) * residual }
            let risk = r.reduce(0.0) { $0 + $1 * $1 / ($1 * $1 + 1e-7).squareRoot() }
            #expect(abs(method.lastRisks[t] - risk) <= 1e-4 * max(1, risk), "task \(t): \(method.lastRisks[t]) vs \(risk)")
        }
        #expect(method.methodState()["excess-mtl.squares"]?.count == 2 * 4)
        // A batch of 4 (an epoch's last, smaller batch) goes through with the same [T, D] sums.
        let trainer = try Trainer(model: model, optimizer: try SGD(model.parameters, learningRate: 0.1), weighting: method, device: device)
        trainer.representationGradients = true
        let small = try TrainingBatch(input: Tensor(random.uniform(4 * 5, low: -1, high: 1), shape: [4, 5], on: device),
                                      targets: try (0..<2).map { _ in try Tensor(random.uniform(4, low: -1, high: 1), shape: [4], on: device) })
        try trainer.trainStep(small)
        #expect(method.methodState()["excess-mtl.squares"]?.count == 2 * 4)
        #expect(try method.currentWeights().allSatisfy { $0.isFinite && $0 > 0 })
    }

    @Test("ExcessMTL: state round trip, refused states change nothing")
    func excessState() throws {
        let cpu = CPUDevice.shared
        let method = try ExcessMTL(taskCount: 3, step: 0.5)
        for scale in [1.0, 0.7, 0.4] as [Float] {
            let model = try ToyModel(theta: toyTheta, gradients: toyGradients.map { g in g.map { $0 * scale } }, on: cpu)
            try method.backward(losses: model.losses(), model: model)
        }
        let state = method.methodState()
        #expect(state["excess-mtl.squares"]?.count == 9)
        let resumed = try ExcessMTL(taskCount: 3, step: 0.5)
        #expect(throws: TandemError.self) { try resumed.loadMethodState(["excess-mtl.weights": [1, 1], "excess-mtl.initial_risks": [0, 0, 0]]) }
        #expect(throws: TandemError.self) { try resumed.loadMethodState(state.merging(["excess-mtl.squares": [.nan]]) { $1 }) }
        try resumed.loadMethodState(state)
        var results: [[Float]] = []
        for m in [method, resumed] {
            let model = try ToyModel(theta: toyTheta, gradients: toyGradients.map { g in g.map { $0 * 0.2 } }, on: cpu)
            try m.backward(losses: model.losses(), model: model)
            results.append(try #require(model.theta.grad).values() + m.currentWeights())
        }
        #expect(results[0] == results[1])
        // A restored matrix of the wrong size is refused at the next step.
        let other = try ExcessMTL(taskCount: 3)
        try other.loadMethodState(state.merging(["excess-mtl.squares": [1, 2, 3]]) { $1 })
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: cpu)
        #expect(throws: TandemError.self) { try other.backward(losses: model.losses(), model: model) }
    }
}
