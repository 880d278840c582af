import Testing
@testable import Tandem
@testable import TandemMTL

/// Tasks that share nothing but one parameter vector: Lᵢ = ½kᵢ(θᵢ − tᵢ)² + cᵢ, each task on its own
/// coordinate, with curvature kᵢ (no conflict, scales as different as wanted), target tᵢ (default 0)
/// and an irreducible part cᵢ (default 0; what label noise leaves), which moves the loss but not its
/// gradient. θ starts at `start` (default all 1).
final class SeparableModel: Module, MultiTaskModel {
    let tasks: [TaskSpec]
    let theta: Tensor
    let curvatures: [Float]
    let targets: [Float]
    let offsets: [Float]

    init(curvatures: [Float], start: [Float]? = nil, targets: [Float]? = nil, offsets: [Float]? = nil, on device: any Device) throws {
        let t = curvatures.count
        self.curvatures = curvatures
        self.targets = targets ?? [Float](repeating: 0, count: t)
        self.offsets = offsets ?? [Float](repeating: 0, count: t)
        tasks = curvatures.indices.map { TaskSpec("task\($0)", .regression) }
        theta = try Tensor(start ?? [Float](repeating: 1, count: t), shape: [1, t], on: device, requiresGrad: true)
        super.init()
    }

    func forward(_ x: Tensor) throws -> [Tensor] { try curvatures.map { _ in try theta.sum() } }
    var sharedParameters: [Tensor] { [theta] }

    func losses() throws -> [Tensor] {
        try curvatures.enumerated().map { i, k in
            try (theta.slice(axis: 1, i..<(i + 1)) - targets[i]).square().sum() * (0.5 * k) + offsets[i]
        }
    }
}

/// `expectClose` for float64 results (host solvers).
func expectCloseDouble(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-9,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (a, e) in zip(actual, expected) {
        #expect(abs(a - e) <= tolerance * max(1, abs(e)), "\(actual) vs \(expected)", sourceLocation: sourceLocation)
    }
}

/// The weightings of issue 18 (GLS, RLW, IMTL-L/G, FAMO, GradVac, CAGrad, Nash-MTL, FairGrad,
/// UPGrad, Aligned-MTL, DB-MTL, MoCo, GradDrop) and gradients at the shared representation:
/// hand-computed cases with two and three tasks, conflicting and aligned gradients and a zero
/// gradient; the device step against the host formula; and one training run per method on a toy
/// model in which it must show its paper's claim.
@Suite("Weightings of the methods issue: loss weightings, gradient methods, rep_grad")
struct GradientMethodTests {
    // MARK: Host solvers, hand-computed

    @Test("IMTL-G: equal projections onto every task direction, Σα = 1; a zero gradient gets 0")
    func imtlHand() throws {
        // g₁ = (1, 0), g₂ = (0, 2): projections α₁ and 2α₂ equal with α₁ + α₂ = 1 → (2/3, 1/3).
        expectCloseDouble(IMTL.equalProjectionWeights(gram: gramOf([[1, 0], [0, 2]])), [2.0 / 3, 1.0 / 3], tolerance: 1e-9)
        // A zero gradient drops out: (1,0,0), 0, (0,3,0) → α₁ = 3α₃, Σ = 1 → (3/4, 0, 1/4).
        expectCloseDouble(IMTL.equalProjectionWeights(gram: gramOf([[1, 0, 0], [0, 0, 0], [0, 3, 0]])), [0.75, 0, 0.25], tolerance: 1e-9)
        // Aligned gradients (one direction): any α projects equally; Σα = 1 and finite.
        let aligned = IMTL.equalProjectionWeights(gram: gramOf([[1, 0], [2, 0]]))
        #expect(aligned.allSatisfy(\.isFinite) && abs(aligned.reduce(0, +) - 1) < 1e-12, "\(aligned)")
        // Three conflicting tasks: the combined gradient projects equally onto each unit gradient.
        let g = toyGradients.map { $0.map(Double.init) }
        let alpha = IMTL.equalProjectionWeights(gram: gramOf(g))
        let d = combine(alpha, g)
        let projections = g.map { dot(d, $0) / dot($0, $0).squareRoot() }
        #expect(abs(alpha.reduce(0, +) - 1) < 1e-12)
        for p in projections { #expect(abs(p - projections[0]) < 1e-9, "\(projections)") }
        #expect(IMTL.equalProjectionWeights(gram: gramOf([[0, 0], [0, 0]])) == [0, 0])
    }

    @Test("CAGrad: symmetric and zero-gradient cases by hand; d maximises the worst improvement in its ball")
    func cagradHand() throws {
        // Orthogonal, equal norms: w = (½, ½), g_w = g₀, λ = c, d = (1 + c)g₀, /(1 + c²).
        let c = 0.4
        let symmetric = CAGrad.coefficients(gram: gramOf([[1, 0], [0, 1]]), c: c, rescale: 1)
        expectCloseDouble(symmetric, [(1 + c) / (2 * (1 + c * c)), (1 + c) / (2 * (1 + c * c))], tolerance: 1e-6)
        // A zero gradient: min(g₁ᵀd, 0) is 0 for any d with d₁ ≥ 0, so d = g₀ (w on the zero task).
        expectCloseDouble(CAGrad.coefficients(gram: gramOf([[1, 0], [0, 0]]), c: c, rescale: 0), [0.5, 0.5], tolerance: 1e-6)
        // c = 0 is the mean gradient.
        expectCloseDouble(CAGrad.coefficients(gram: gramOf(toyGradients.map { $0.map(Double.init) }), c: 0, rescale: 1),
                    [1.0 / 3, 1.0 / 3, 1.0 / 3], tolerance: 1e-12)
        // Eq. 2: no d in the ball ‖d − g₀‖ ≤ c‖g₀‖ improves the worst task more than CAGrad's.
        var random = SplitMix64(seed: 18)
        for (cases, radius) in [([[1.0, 0.2], [-0.8, 0.5]], 0.4), (toyGradients.map { $0.map(Double.init) }, 0.5), ([[1, 0, 0], [0, 1, 0], [-1, -1, 0.1]], 0.9)] {
            let g = cases
            let cf = CAGrad.coefficients(gram: gramOf(g), c: radius, rescale: 0)
            let d = combine(cf, g)
            let g0 = combine([Double](repeating: 1 / Double(g.count), count: g.count), g)
            let ball = radius * dot(g0, g0).squareRoot()
            #expect(dot(zip(d, g0).map { $0 - $1 }, zip(d, g0).map { $0 - $1 }).squareRoot() <= ball * (1 + 1e-6))
            let worst = g.map { dot($0, d) }.min()!
            for _ in 0..<20_000 {
                var u = g0.map { _ in Double(random.uniform(1)[0]) }
                let norm = dot(u, u).squareRoot()
                let r = ball * abs(Double(random.uniform(1)[0])).squareRoot()
                u = u.map { $0 / norm * r }
                let other = zip(g0, u).map { $0 + $1 }
                #expect(g.map { dot($0, other) }.min()! <= worst + 1e-6 * max(1, abs(worst)), "\(g): \(other) beats \(d)")
            }
        }
    }

    @Test("Nash-MTL and FairGrad: Gw = w^{−1/α}; orthogonal closed forms; scale invariance; zero gradient")
    func fairHand() throws {
        // Orthogonal: Gᵢᵢwᵢ = wᵢ^{−1/α} → wᵢ = Gᵢᵢ^{−α/(α+1)}; Nash (α = 1): 1/‖gᵢ‖.
        expectCloseDouble(FairGrad.weights(gram: gramOf([[2, 0], [0, 0.5]]), alpha: 1), [0.5, 2], tolerance: 1e-6)
        expectCloseDouble(FairGrad.weights(gram: gramOf([[2, 0], [0, 0.5]]), alpha: 2),
                    [HostMath.pow(4, -2.0 / 3), HostMath.pow(0.25, -2.0 / 3)], tolerance: 1e-6)
        let g = toyGradients.map { $0.map(Double.init) }
        for alpha in [0.5, 1, 2, 5] {
            let w = FairGrad.weights(gram: gramOf(g), alpha: alpha)
            let gw = SmallLinearAlgebra.multiply(gramOf(g), w)
            for i in 0..<3 { #expect(w[i] > 0 && abs(gw[i] - HostMath.pow(w[i], -1 / alpha)) < 1e-6 * gw[i], "α \(alpha): \(w)") }
        }
        // Nash: scaling g₀ by 10 divides w₀ by 10 and leaves d unchanged.
        let scaled = [g[0].map { $0 * 10 }, g[1], g[2]]
        let d = combine(FairGrad.weights(gram: gramOf(g), alpha: 1), g)
        let dScaled = combine(FairGrad.weights(gram: gramOf(scaled), alpha: 1), scaled)
        for (a, b) in zip(d, dScaled) { #expect(abs(a - b) < 1e-6 * max(1, abs(a)), "\(d) vs \(dScaled)") }
        // Zero gradient: no share; exact conflict: d = 0.
        #expect(FairGrad.weights(gram: gramOf([[1, 0], [0, 0]]), alpha: 1)[1] == 0)
        let conflict = FairGrad.weights(gram: gramOf([[1, 2], [-1, -2]]), alpha: 1)
        for x in combine(conflict, [[1, 2], [-1, -2]]) { #expect(abs(x) < 1e-6, "\(conflict)") }
    }

    @Test("UPGrad: projections onto the dual cone by hand; no conflict left; EW's mean when nothing conflicts")
    func upgradHand() throws {
        // g₁ = (1, 0), g₂ = (−1, 1): π(g₁) = g₁ + ½g₂ = (½, ½), π(g₂) = g₁ + g₂ = (0, 1); mean (1, ¾).
        expectCloseDouble(UPGrad.coefficients(gram: gramOf([[1, 0], [-1, 1]]), regularization: 0), [1, 0.75], tolerance: 1e-9)
        expectCloseDouble(UPGrad.coefficients(gram: gramOf([[1, 0, 0], [0, 2, 0], [0, 0, 3]]), regularization: 1e-4),
                    [1.0 / 3, 1.0 / 3, 1.0 / 3], tolerance: 1e-12)
        let g = toyGradients.map { $0.map(Double.init) }
        let d = combine(UPGrad.coefficients(gram: gramOf(g), regularization: 0), g)
        for gi in g { #expect(dot(gi, d) >= -1e-9, "\(d) conflicts with \(gi)") }
        #expect(g.contains { dot($0, combine([1, 1, 1], g)) < 0 }, "the toy's EW update must conflict for this test to mean anything")
        // A zero gradient changes nothing for the others.
        expectCloseDouble(UPGrad.coefficients(gram: gramOf([[1, 0], [0, 0]]), regularization: 0), [0.5, 0.5], tolerance: 1e-12)
    }

    @Test("Aligned-MTL: B by hand for orthogonal, rank-one and zero gradients; BGB = σ²_min·I")
    func alignedHand() throws {
        // G = diag(4, 1): σ_min = 1, B = diag(½, 1).
        let orthogonal = AlignedMTL.alignment(gram: gramOf([[2, 0], [0, 1]]))
        expectCloseDouble(orthogonal.flatMap { $0 }, [0.5, 0, 0, 1], tolerance: 1e-9)
        // Rank one, g₂ = 2g₁: B = vvᵀ with v = (1, 2)/√5.
        expectCloseDouble(AlignedMTL.alignment(gram: gramOf([[1, 0], [2, 0]])).flatMap { $0 }, [0.2, 0.4, 0.4, 0.8], tolerance: 1e-9)
        expectCloseDouble(AlignedMTL.alignment(gram: gramOf([[1, 0], [0, 0]])).flatMap { $0 }, [1, 0, 0, 0], tolerance: 1e-9)
        let gram = gramOf(toyGradients.map { $0.map(Double.init) })
        let b = AlignedMTL.alignment(gram: gram)
        let (values, _) = SmallLinearAlgebra.symmetricEigen(gram)
        let bgb = b.map { row in (0..<3).map { j in (0..<3).reduce(0) { $0 + row[$1] * SmallLinearAlgebra.multiply(gram, b.map { $0[j] })[$1] } } }
        for i in 0..<3 { for j in 0..<3 { #expect(abs(bgb[i][j] - (i == j ? values[0] : 0)) < 1e-9 * values[2], "\(bgb)") } }
    }

    @Test("the small solvers: Jacobi eigenpairs reconstruct G, Gaussian elimination, simplex projection")
    func smallLinearAlgebra() throws {
        var random = SplitMix64(seed: 5)
        for n in [1, 2, 3, 5, 8] {
            let rows = (0..<n).map { _ in random.uniform(n + 2).map { Double($0) - 0.5 } }
            let g = gramOf(rows)
            let (values, vectors) = SmallLinearAlgebra.symmetricEigen(g)
            #expect(values == values.sorted(), "seed 5, n \(n)")
            for i in 0..<n {
                for j in 0..<n {
                    let rebuilt = (0..<n).reduce(0) { $0 + values[$1] * vectors[$1][i] * vectors[$1][j] }
                    #expect(abs(rebuilt - g[i][j]) < 1e-10 * max(1, values.last!), "seed 5, n \(n)")
                }
            }
            let b = random.uniform(n).map(Double.init)
            let x = try #require(SmallLinearAlgebra.solve(g.enumerated().map { i, row in row.enumerated().map { $0.offset == i ? $0.element + 1 : $0.element } }, b))
            let back = SmallLinearAlgebra.multiply(g, x)
            for i in 0..<n { #expect(abs(back[i] + x[i] - b[i]) < 1e-9, "seed 5, n \(n)") }
            let p = SmallLinearAlgebra.projectToSimplex(b.map { $0 * 3 - 1 })
            #expect(abs(p.reduce(0, +) - 1) < 1e-12 && p.allSatisfy { $0 >= 0 })
        }
        #expect(SmallLinearAlgebra.solve([[1, 2], [2, 4]], [1, 1]) == nil)
        #expect(SmallLinearAlgebra.projectToSimplex([0.2, 0.3, 0.5]) == [0.2, 0.3, 0.5])
        #expect(SmallLinearAlgebra.projectToSimplex([5, 0, 0]) == [1, 0, 0])
    }

    // MARK: The step on the device

    /// The combination methods' coefficients from their host formula for the toy's gradients.
    static func hostCoefficients(_ name: String, _ g: [[Double]]) -> [Double] {
        let gram = gramOf(g)
        switch name {
        case "imtl-g": return IMTL.equalProjectionWeights(gram: gram)
        case "cagrad": return CAGrad.coefficients(gram: gram, c: 0.4, rescale: 1)
        case "nash-mtl": return FairGrad.weights(gram: gram, alpha: 1)
        case "fairgrad": return FairGrad.weights(gram: gram, alpha: 1)
        case "upgrad": return UPGrad.coefficients(gram: gram, regularization: 1e-4)
        case "aligned-mtl": return AlignedMTL.alignment(gram: gram).map { $0.reduce(0, +) }
        default: fatalError(name)
        }
    }

    @Test("gradient combinations on the device: θ gets Σcᵢgᵢ of the host formula, heads their own gradient",
          arguments: ["imtl-g", "cagrad", "nash-mtl", "fairgrad", "upgrad", "aligned-mtl"])
    func combinationOnDevices(name: String) throws {
        for selector in allSelectors {
            let device = try Devices.select(selector)
            for gradients in [toyGradients, [[1, 0.5, 0], [0.5, 1, 0]], [[1, 0, 0], [0, 0, 0], [-0.5, 2, 0]]] {
                let model = try ToyModel(theta: toyTheta, gradients: gradients, on: device)
                let method = try WeightingMethods.make(name, tasks: model.tasks, on: device)
                try method.backward(losses: model.losses(), model: model)
                let c = Self.hostCoefficients(name, model.taskGradients)
                expectClose(try method.currentWeights(), c, tolerance: 1e-3)
                expectClose(try #require(model.theta.grad).values(), combine(c, model.taskGradients), tolerance: 1e-3)
                for (h, v) in zip(model.heads, model.headValues) { expectClose(try #require(h.grad).values(), [v]) }
            }
        }
    }

    @Test("GLS: θ gets Σ L/(T·Lᵢ)·gᵢ and each head L/(T·Lᵢ)·hᵢ", arguments: allSelectors)
    func geometric(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
        let gls = try WeightingMethods.make("gls", tasks: model.tasks, on: device)
        try gls.backward(losses: model.losses(), model: model)
        let l = model.lossValues
        let geometric = HostMath.exp(l.reduce(0) { $0 + HostMath.log($1) } / 3)
        let w = l.map { geometric / (3 * $0) }
        expectClose(try #require(model.theta.grad).values(), combine(w, model.taskGradients))
        for (i, h) in model.heads.enumerated() { expectClose(try #require(h.grad).values(), [w[i] * model.headValues[i]]) }
        expectClose(try gls.currentWeights(), w)
    }

    @Test("RLW: softmax of normal draws, fixed by seed and step, mean 1/T; θ gets Σλᵢgᵢ", arguments: allSelectors)
    func randomWeighting(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
        let rlw = RandomLossWeighting(seed: 3)
        try rlw.backward(losses: model.losses(), model: model)
        let lambda = RandomLossWeighting.weights(count: 3, seed: 3, step: 0)
        #expect(try rlw.currentWeights() == lambda)
        expectClose(try #require(model.theta.grad).values(), combine(lambda.map(Double.init), model.taskGradients))
        #expect(RandomLossWeighting.weights(count: 3, seed: 3, step: 1) != lambda)
        var mean = [Double](repeating: 0, count: 3)
        let draws = 20_000
        for step in 0..<draws {
            let w = RandomLossWeighting.weights(count: 3, seed: 11, step: step)
            #expect(abs(w.reduce(0, +) - 1) < 1e-5 && w.allSatisfy { $0 > 0 })
            for i in 0..<3 { mean[i] += Double(w[i]) / Double(draws) }
        }
        for m in mean { #expect(abs(m - 1.0 / 3) < 0.01, "mean of 20,000 draws (seed 11): \(mean)") }
    }

    @Test("IMTL-L and the hybrid: e^{s}L − s; s gets e^{s}L − 1; the hybrid's θ gets Σαᵢe^{sᵢ}gᵢ", arguments: allSelectors)
    func imtlScaled(selector: String) throws {
        let device = try Devices.select(selector)
        let s: [Double] = [0.3, -0.2, 0.1]
        for mode in [IMTL.Mode.loss, .hybrid] {
            let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
            let method = try IMTL(mode: mode, taskCount: 3, on: device)
            try #require(method.logScales).assign(Tensor(s.map(Float.init), shape: [3], on: device))
            try method.backward(losses: model.losses(), model: model)
            let l = model.lossValues
            let e = s.map { HostMath.exp($0) }
            expectClose(try #require(method.logScales?.grad).values(), (0..<3).map { e[$0] * l[$0] - 1 })
            for (i, h) in model.heads.enumerated() { expectClose(try #require(h.grad).values(), [e[i] * model.headValues[i]]) }
            let scaled = (0..<3).map { i in model.taskGradients[i].map { $0 * e[i] } }
            let c = mode == .loss ? [1.0, 1, 1] : IMTL.equalProjectionWeights(gram: gramOf(scaled))
            expectClose(try #require(model.theta.grad).values(), combine(c, scaled), tolerance: 1e-3)
            expectClose(try method.currentWeights(), (0..<3).map { c[$0] * e[$0] }, tolerance: 1e-3)
        }
    }

    // MARK: One run each: the paper's claim

    /// A run of `steps` SGD steps of `method` on the conflicting three-task toy (task 0's loss times
    /// `scale0`); `check` sees the method and the host task gradients before each step.
    static func toyRun(_ method: any LossWeighting, steps: Int, learningRate: Float, scale0: Float = 1,
                       check: (any LossWeighting, [[Double]], Int) throws -> Void = { _, _, _ in }) throws -> (theta: [Float], losses: [Float]) {
        let cpu = CPUDevice.shared
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: cpu)
        let anchors = try model.anchors.map { try $0.values().map(Double.init) }
        let optimizer = try SGD(model.parameters + method.parameters, learningRate: learningRate, momentum: 0)
        var losses: [Float] = []
        for step in 0..<steps {
            optimizer.zeroGrad()
            var l = try model.losses()
            l[0] = try l[0] * scale0
            let theta = try model.theta.values().map(Double.init)
            try method.backward(losses: l, model: model)
            try check(method, anchors.map { a in zip(theta, a).map { $0 - $1 } }.enumerated().map { i, g in g.map { $0 * Double(i == 0 ? scale0 : 1) } }, step)
            try optimizer.step()
            losses = try model.losses().map { try $0.item() }
        }
        return (try model.theta.values(), losses)
    }

    @Test("Nash-MTL: a run is unchanged when one task's loss is multiplied by 100 (EW's is not)")
    func nashScaleInvariance() throws {
        let plain = try Self.toyRun(NashMTL(), steps: 40, learningRate: 0.02)
        let scaled = try Self.toyRun(NashMTL(), steps: 40, learningRate: 0.02, scale0: 100)
        #expect(plain.theta.allSatisfy(\.isFinite) && scaled.theta.allSatisfy(\.isFinite))
        for (a, b) in zip(plain.theta, scaled.theta) { #expect(abs(a - b) <= 1e-3 * max(1, abs(a)), "\(plain.theta) vs \(scaled.theta)") }
        let ew = try Self.toyRun(EqualWeighting(), steps: 40, learningRate: 0.001)
        let ewScaled = try Self.toyRun(EqualWeighting(), steps: 40, learningRate: 0.001, scale0: 100)
        #expect(zip(ew.theta, ewScaled.theta).contains { abs($0 - $1) > 0.01 }, "EW's run should depend on the scale")
    }

    @Test("GLS: one task's loss times 100 with the step divided by 100^{1/T} gives the same run")
    func glsScaleInvariance() throws {
        let plain = try Self.toyRun(GeometricLossStrategy(), steps: 40, learningRate: 0.05)
        let scaled = try Self.toyRun(GeometricLossStrategy(), steps: 40, learningRate: 0.05 / Float(HostMath.pow(100, 1.0 / 3)), scale0: 100)
        for (a, b) in zip(plain.theta, scaled.theta) { #expect(abs(a - b) <= 1e-3 * max(1, abs(a)), "\(plain.theta) vs \(scaled.theta)") }
    }

    @Test("CAGrad: every step of a run improves the worst task at least as much as the mean gradient")
    func cagradWorstTask() throws {
        let c = 0.4
        var steps = 0
        _ = try Self.toyRun(try CAGrad(c: c, rescale: 0), steps: 50, learningRate: 0.05) { method, g, _ in
            let coefficients = try method.currentWeights().map(Double.init)
            let d = combine(coefficients, g)
            let mean = combine([Double](repeating: 1.0 / 3, count: 3), g)
            let worst = g.map { dot($0, d) }.min()!, worstMean = g.map { dot($0, mean) }.min()!
            #expect(worst >= worstMean - 1e-4 * max(1, abs(worstMean)), "step \(steps): \(worst) < \(worstMean)")
            steps += 1
        }
        #expect(steps == 50)
    }

    @Test("UPGrad: no step of a run conflicts with any task, where EW's steps do")
    func upgradNoConflict() throws {
        var conflicts = 0
        _ = try Self.toyRun(EqualWeighting(), steps: 30, learningRate: 0.05) { _, g, _ in
            if g.contains(where: { dot($0, combine([1, 1, 1], g)) < 0 }) { conflicts += 1 }
        }
        #expect(conflicts > 0, "the toy must make EW conflict")
        _ = try Self.toyRun(try UPGrad(regularization: 0), steps: 30, learningRate: 0.05) { method, g, step in
            let d = combine(try method.currentWeights().map(Double.init), g)
            for gi in g { #expect(dot(gi, d) >= -1e-3 * dot(gi, gi).squareRoot() * dot(d, d).squareRoot(), "step \(step)") }
        }
    }

    @Test("IMTL-G: every step of a run projects equally onto the tasks' directions; IMTL-L drives e^{s}L to 1")
    func imtlClaims() throws {
        _ = try Self.toyRun(try IMTL(mode: .gradient, taskCount: 3, on: CPUDevice.shared), steps: 30, learningRate: 0.05) { method, g, step in
            let d = combine(try method.currentWeights().map(Double.init), g)
            let p = g.map { dot($0, d) / dot($0, $0).squareRoot() }
            for x in p { #expect(abs(x - p[0]) <= 1e-3 * max(1, abs(p[0])), "step \(step): \(p)") }
        }
        // IMTL-L's stationary point in s is e^{sᵢ}·Lᵢ = 1 for every task, whatever the losses' scales:
        // with the model held fixed (losses 0.1, 1 and 10), 300 SGD steps on s alone reach it.
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: CPUDevice.shared)
        let loss = try IMTL(mode: .loss, taskCount: 3, on: CPUDevice.shared)
        let scales: [Float] = [0.1, 1, 10]
        let optimizer = try SGD(loss.parameters, learningRate: 0.1)
        for _ in 0..<300 {
            optimizer.zeroGrad()
            for p in model.parameters { p.grad = nil }
            try loss.backward(losses: model.losses().enumerated().map { i, l in try l * (scales[i] / Float(model.lossValues[i])) }, model: model)
            try optimizer.step()
        }
        let scaled = zip(try loss.currentWeights(), scales).map { Double($0) * Double($1) }
        for x in scaled { #expect(abs(x - 1) < 1e-3, "e^{s}·L after 300 steps: \(scaled)") }
    }

    @Test("FairGrad: a larger α spreads the tasks' improvements less (towards max–min fairness)")
    func fairgradSpread() throws {
        var spreads: [Double] = []
        for alpha in [0.5, 1, 4] {
            _ = try Self.toyRun(try FairGrad(alpha: alpha), steps: 1, learningRate: 0.05) { method, g, _ in
                let d = combine(try method.currentWeights().map(Double.init), g)
                let improvements = g.map { dot($0, d) }
                #expect(improvements.allSatisfy { $0 > 0 }, "α \(alpha): \(improvements)")
                spreads.append(improvements.max()! / improvements.min()!)
            }
        }
        #expect(spreads[0] > spreads[1] && spreads[1] > spreads[2], "max/min improvement by α 0.5, 1, 4: \(spreads)")
    }

    @Test("Aligned-MTL: in every step of a run the aligned gradients are orthonormal up to σ_min (condition number 1)")
    func alignedConditioning() throws {
        _ = try Self.toyRun(AlignedMTL(), steps: 30, learningRate: 0.02) { method, g, step in
            let gram = try #require((method as? AlignedMTL)?.lastGram)
            let b = AlignedMTL.alignment(gram: gram)
            let aligned = b.map { combine($0, g) }
            let norms = aligned.map { dot($0, $0).squareRoot() }
            for i in 0..<3 {
                #expect(abs(norms[i] - norms[0]) <= 1e-3 * norms[0], "step \(step): \(norms)")
                for j in 0..<i { #expect(abs(dot(aligned[i], aligned[j])) <= 1e-3 * norms[0] * norms[0], "step \(step)") }
            }
            expectCloseDouble(try method.currentWeights().map(Double.init), b.map { $0.reduce(0, +) }, tolerance: 1e-4)
        }
    }

    @Test("RLW: a run ends where EW's does (EW's step divided by T, E[λ] = 1/T), within the noise of the draws")
    func rlwMatchesEW() throws {
        let ew = try Self.toyRun(EqualWeighting(), steps: 300, learningRate: 0.01)
        let rlw = try Self.toyRun(RandomLossWeighting(seed: 2), steps: 300, learningRate: 0.03)
        let distance = zip(ew.theta, rlw.theta).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
        #expect(distance < 0.1, "θ EW \(ew.theta), RLW \(rlw.theta)")
    }

    @Test("GradVac: by hand, a cosine below its target is raised to it exactly; zero targets are PCGrad; a zero gradient is skipped")
    func gradvacHand() throws {
        // g₁ = (1, 0), g₂ = (0, 1), targets ½: w = 0.5/√0.75; each target moves halfway to 0.
        let (rows, targets) = GradVac.vaccinate(gram: gramOf([[1, 0], [0, 1]]), targets: [[0, 0.5], [0.5, 0]], orders: [[1], [0]], beta: 0.5)
        expectCloseDouble(rows.flatMap { $0 }, [1, 0.5 / 0.75.squareRoot(), 0.5 / 0.75.squareRoot(), 1], tolerance: 1e-12)
        #expect(targets == [[0, 0.25], [0.25, 0]])
        let raised = combine(rows[0], [[1, 0], [0, 1]])
        #expect(abs(raised[1] / dot(raised, raised).squareRoot() - 0.5) < 1e-12)
        // Zero targets and a conflict: PCGrad's projection, g₁ + ½g₂ for g₁ = (1, 0), g₂ = (−1, 1).
        let conflict = gramOf([[1, 0], [-1, 1]])
        let pc = PCGrad.projectionCoefficients(gram: conflict, orders: [[1], [0]])
        expectCloseDouble(GradVac.vaccinate(gram: conflict, targets: [[0, 0], [0, 0]], orders: [[1], [0]], beta: 0.5).rows.flatMap { $0 }, pc.flatMap { $0 }, tolerance: 1e-12)
        // A zero gradient: nothing to align with, and a zero row stays zero.
        let zero = GradVac.vaccinate(gram: gramOf([[1, 0], [0, 0]]), targets: [[0, 0.9], [0.9, 0]], orders: [[1], [0]], beta: 0.5)
        #expect(zero.rows == [[1, 0], [0, 1]] && zero.targets[0][1] == 0.9)
    }

    @Test("GradVac: in every step of a two-task run the adjusted gradients reach the targets in force", arguments: allSelectors)
    func gradvacRun(selector: String) throws {
        let device = try Devices.select(selector)
        let method = try GradVac(beta: 0.3)
        let model = try ToyModel(theta: [0.5, -1, 2], gradients: [[-0.5, -1, 1], [1, 0.5, -0.5]], on: device)
        let optimizer = try SGD(model.parameters, learningRate: 0.05)
        var previous = [[0.0, 0], [0, 0]]
        for step in 0..<25 {
            optimizer.zeroGrad()
            try method.backward(losses: model.losses(), model: model)
            let gram = try #require(method.lastGram)
            let (rows, _) = GradVac.vaccinate(gram: gram, targets: previous, orders: [[1], [0]], beta: 0.3)
            expectClose(try method.currentWeights(), (0..<2).map { j in rows[0][j] + rows[1][j] }, tolerance: 1e-4)
            for (i, j) in [(0, 1), (1, 0)] {
                let gi = SmallLinearAlgebra.multiply(gram, rows[i])
                let cosine = gi[j] / (SmallLinearAlgebra.dot(rows[i], gi).squareRoot() * gram[j][j].squareRoot())
                #expect(cosine >= previous[i][j] - 1e-6, "step \(step): cos \(cosine) below its target \(previous[i][j])")
            }
            previous = method.targets
            try optimizer.step()
        }
        #expect(previous[0][1] != 0, "the targets moved")
    }

    @Test("FAMO: w = z/(c(L + ε)); one Adam step on ξ by hand; a run lowers the tasks' log-losses at closer rates than EW")
    func famo() throws {
        let cpu = CPUDevice.shared
        let model = try ToyModel(theta: [0.5, -1, 2], gradients: [[-0.5, -1, 1], [1, 0.5, -0.5]], heads: [0, 0], on: cpu)
        let method = try FAMO(taskCount: 2)
        try method.backward(losses: model.losses(), model: model)
        let l = model.lossValues
        let w = [(1 / l[0]) / (1 / l[0] + 1 / l[1]), (1 / l[1]) / (1 / l[0] + 1 / l[1])]
        expectClose(try method.currentWeights(), w)
        expectClose(try #require(model.theta.grad).values(), combine(w, model.taskGradients))
        // δ = (0.5, 0.1) at ξ = 0: ∂ = z(δ − zᵀδ) = (0.1, −0.1); Adam's first step moves each by the rate.
        method.updateLogits(decrease: [0.5, 0.1])
        expectCloseDouble(method.logits, [-0.025, 0.025], tolerance: 1e-7)
        // Two tasks that do not conflict but differ 100-fold in curvature, L₀ = 50θ₀², L₁ = ½θ₁²: with
        // the step EW can afford, L₀ collapses while L₁ hardly moves; FAMO lowers both log-losses at
        // nearly one rate (the paper's claim: balanced decrease).
        func rates(_ method: any LossWeighting, learningRate: Float) throws -> [Double] {
            let model = try SeparableModel(curvatures: [100, 1], on: cpu)
            let optimizer = try SGD(model.parameters, learningRate: learningRate)
            let start = try model.losses().map { Double(try $0.item()) }
            for _ in 0..<40 {
                optimizer.zeroGrad()
                try method.backward(losses: model.losses(), model: model)
                try optimizer.step()
            }
            let end = try model.losses().map { Double(try $0.item()) }
            return (0..<2).map { HostMath.log(start[$0] / end[$0]) }
        }
        let ew = try rates(EqualWeighting(), learningRate: 0.005)
        let balanced = try rates(try FAMO(taskCount: 2), learningRate: 0.005)
        #expect(ew[0] > 10 * ew[1] && ew[1] > 0, "EW's log-loss decreases \(ew)")
        #expect(balanced.allSatisfy { $0 > 0 } && max(balanced[0], balanced[1]) < 1.5 * min(balanced[0], balanced[1]),
                "FAMO's log-loss decreases \(balanced) should be within 1.5× of each other")
    }


    @Test("DB-MTL: log-losses, moving averages of their gradients, each scaled to the largest norm; by hand over two steps", arguments: allSelectors)
    func dbmtlHand(selector: String) throws {
        let device = try Devices.select(selector)
        let method = try DBMTL()
        var average: [[Double]]?
        for (step, theta) in [[Float(0.5), -1, 2], [0.3, -0.8, 1.5]].enumerated() {
            let model = try ToyModel(theta: theta, gradients: toyGradients.map { g in g.map { $0 * Float(step + 1) } }, on: device)
            try method.backward(losses: model.losses(), model: model)
            let l = model.lossValues
            let logGradients = (0..<3).map { i in model.taskGradients[i].map { $0 / (l[i] + 1e-8) } }
            var current: [[Double]] = logGradients.map { $0.map { $0 * 0.1 } }
            if let a = average {
                for i in 0..<3 { for k in 0..<3 { current[i][k] = logGradients[i][k] + 0.9 * (a[i][k] - logGradients[i][k]) } }
            }
            average = current
            let norms = current.map { dot($0, $0).squareRoot() }
            let alpha = norms.map { norms.max()! / ($0 + 1e-8) }
            expectClose(try method.currentWeights(), alpha, tolerance: 1e-3)
            expectClose(try #require(model.theta.grad).values(), combine(alpha, current), tolerance: 1e-3)
            for (i, h) in model.heads.enumerated() { expectClose(try #require(h.grad).values(), [model.headValues[i] / l[i]], tolerance: 1e-3) }
        }
        #expect(method.steps == 2)
    }

    @Test("DB-MTL: a run is unchanged when one loss is multiplied by 100, and every step gives each task the same gradient norm")
    func dbmtlRun() throws {
        let plain = try Self.toyRun(try DBMTL(), steps: 30, learningRate: 0.02) { method, _, step in
            let gram = try #require((method as? DBMTL)?.lastGram)
            let weights = try method.currentWeights().map(Double.init)
            let contributions = (0..<3).map { weights[$0] * gram[$0][$0].squareRoot() }
            for c in contributions { #expect(abs(c - contributions[0]) <= 1e-4 * contributions[0], "step \(step): \(contributions)") }
        }
        let scaled = try Self.toyRun(try DBMTL(), steps: 30, learningRate: 0.02, scale0: 100)
        for (a, b) in zip(plain.theta, scaled.theta) { #expect(abs(a - b) <= 1e-3 * max(1, abs(a)), "\(plain.theta) vs \(scaled.theta)") }
    }

    @Test("MoCo: scaled gradients, tracking variables and λ by hand over two steps", arguments: allSelectors)
    func mocoHand(selector: String) throws {
        let device = try Devices.select(selector)
        let method = try MoCo()
        var y = [[Double]](repeating: [0, 0, 0], count: 3)
        var lambda = [Double](repeating: 1.0 / 3, count: 3)
        for (step, theta) in [[Float(0.5), -1, 2], [0.3, -0.8, 1.5]].enumerated() {
            let model = try ToyModel(theta: theta, gradients: toyGradients.map { g in g.map { $0 * Float(step + 1) } }, on: device)
            try method.backward(losses: model.losses(), model: model)
            let l = model.lossValues
            let k = Double(step + 1)
            let betaK = 0.5 / k.squareRoot(), gammaK = 0.1 / k.squareRoot()
            for i in 0..<3 {
                let g = model.taskGradients[i]
                let scale = l[i] / (dot(g, g).squareRoot() + 1e-8)
                for j in 0..<3 { y[i][j] -= betaK * (y[i][j] - g[j] * scale) }
            }
            let pull = SmallLinearAlgebra.multiply(gramOf(y), lambda)
            let moved = (0..<3).map { lambda[$0] - gammaK * pull[$0] }
            let e = moved.map { HostMath.exp($0) }
            lambda = e.map { $0 / e.reduce(0, +) }
            expectClose(try method.currentWeights(), lambda, tolerance: 1e-4)
            let d = (0..<3).map { j in (0..<3).reduce(0) { $0 + lambda[$1] * y[$1][j] } }
            expectClose(try #require(model.theta.grad).values(), d, tolerance: 1e-3)
        }
    }

    @Test("MoCo: with the model held still, the tracking variables converge to the scaled gradients")
    func mocoTracking() throws {
        let cpu = CPUDevice.shared
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: cpu)
        let method = try MoCo()
        for _ in 0..<300 {
            model.zeroGrad()
            try method.backward(losses: model.losses(), model: model)
        }
        let y = try #require(method.tracked).values()
        let l = model.lossValues
        for i in 0..<3 {
            let g = model.taskGradients[i]
            let scale = l[i] / dot(g, g).squareRoot()
            for j in 0..<3 { #expect(abs(Double(y[i * 3 + j]) - g[j] * scale) < 1e-3, "task \(i): \(y)") }
        }
        #expect(abs(try method.currentWeights().reduce(0, +) - 1) < 1e-5)
    }

    // MARK: Gradients at the shared representation (rep_grad, MGDA-UB)

    /// A small hard-sharing model: trunk Linear(5→4)+ReLU, two heads Linear(4→1).
    static func smallHPS(seed: UInt64, on device: any Device) throws -> HardParameterSharing {
        let random = RandomSource(seed: seed)
        let trunk = Sequential(try Linear(5, 4, random: random, on: device), Activation.relu)
        return try HardParameterSharing(tasks: [TaskSpec("a", .regression), TaskSpec("b", .regression)], trunk: trunk,
                                        heads: try (0..<2).map { _ in try Linear(4, 1, random: random, on: device) })
    }

    /// One SGD step (lr 1) of `weighting` and the parameter changes it made (= the gradients).
    static func stepGradients(_ weighting: any LossWeighting, representation: Bool, on device: any Device) throws -> (gradients: [[Float]], model: HardParameterSharing) {
        let model = try smallHPS(seed: 4, on: device)
        let before = try model.parameters.map { try $0.values() }
        let trainer = try Trainer(model: model, optimizer: try SGD(model.parameters, learningRate: 1), weighting: weighting, device: device)
        trainer.representationGradients = representation
        let random = RandomSource(seed: 8)
        let batch = try TrainingBatch(input: Tensor(random.uniform(6 * 5, low: -1, high: 1), shape: [6, 5], on: device),
                                      targets: [try Tensor(random.uniform(6, low: -1, high: 1), shape: [6], on: device),
                                                try Tensor(random.uniform(6, low: 2, high: 3), shape: [6], on: device)])
        try trainer.trainStep(batch)
        let after = try model.parameters.map { try $0.values() }
        return (zip(before, after).map { zip($0, $1).map { $0 - $1 } }, model)
    }

    @Test("rep_grad: EW's step is unchanged by the cut (chain rule); MGDA-UB weighs the representation's gradients", arguments: allSelectors)
    func representationGradients(selector: String) throws {
        let device = try Devices.select(selector)
        let plain = try Self.stepGradients(EqualWeighting(), representation: false, on: device).gradients
        let cut = try Self.stepGradients(EqualWeighting(), representation: true, on: device).gradients
        for (a, b) in zip(plain, cut) { expectClose(b, a.map(Double.init), tolerance: 1e-4) }
        // MGDA-UB: α from the Gram matrix of ∇_z Lᵢ (z the trunk's output, [6, 4]), found by hand here.
        let mgda = MGDA()
        let upperBound = try Self.stepGradients(mgda, representation: true, on: device)
        let model = try Self.smallHPS(seed: 4, on: device)
        let random = RandomSource(seed: 8)
        let x = try Tensor(random.uniform(6 * 5, low: -1, high: 1), shape: [6, 5], on: device)
        let targets = [try Tensor(random.uniform(6, low: -1, high: 1), shape: [6], on: device),
                       try Tensor(random.uniform(6, low: 2, high: 3), shape: [6], on: device)]
        var repGradients: [[Double]] = []
        for t in 0..<2 {
            let z = try model.shared(x).detach().detachedLeaf()
            let loss = try model.tasks[t].loss(model.heads[t](z), targets[t])
            try loss.backward()
            repGradients.append(try #require(z.grad).values().map(Double.init))
        }
        let alpha = MGDA.minNormWeights(gram: gramOf(repGradients))
        expectClose(try mgda.currentWeights(), alpha, tolerance: 1e-3)
        let gram = try #require(mgda.lastGram)
        #expect(gram.count == 2 && abs(gram[0][1] - dot(repGradients[0], repGradients[1])) < 1e-3 * max(1, abs(gram[0][1])))
        // The trunk's update: backpropagating Σαᵢ∇_z Lᵢ from z.
        let z = try model.shared(x)
        let combined = try Tensor(zip(repGradients[0], repGradients[1]).map { Float(alpha[0] * $0 + alpha[1] * $1) }, shape: z.shape, on: device)
        for p in model.parameters { p.grad = nil }
        try z.backward(gradient: combined)
        let trunkParameters = (model.shared as! Module).parameters
        for (i, p) in trunkParameters.enumerated() {
            expectClose(upperBound.gradients[i], try #require(p.grad).values().map(Double.init), tolerance: 1e-3)
        }
    }

    @Test("rep_grad is refused with gradnorm and for models without one shared representation")
    func representationRefusals() throws {
        var recipe = TrainingRecipe()
        recipe.weighting = "gradnorm"
        recipe.representationGradients = true
        #expect(throws: TandemError.self) { try recipe.validate() }
        recipe.weighting = "mgda"
        try recipe.validate()
        recipe.model = "cross-stitch"
        do {
            _ = try TrainingSetup(recipe: recipe, tasks: [TaskSpec("a", .regression), TaskSpec("b", .regression)], inputShape: [6],
                                  labelCounts: nil, stepsPerEpoch: 1, device: CPUDevice.shared)
            Issue.record("cross-stitch accepted rep_grad")
        } catch {
            #expect("\(error)".contains("rep_grad") && "\(error)".contains("cross-stitch"), "\(error)")
        }
        recipe.model = "hps"
        let again = try TrainingRecipe(json: recipe.json, source: "t")
        #expect(again.representationGradients)
    }

    @Test("GradDrop: sign purity and masks by hand; through the cut, each feature passes the tasks of one sign", arguments: allSelectors)
    func graddrop(selector: String) throws {
        let device = try Devices.select(selector)
        // Two tasks, one sample with positive activations, three features: ∇₁ = (1, −2, 3),
        // ∇₂ = (1, 2, −1); P = (1, ½, ¾).
        let g = try Tensor([1, -2, 3, 1, 2, -1], shape: [2, 1, 3], on: device)
        let plus = try Tensor([1, 1, 1], shape: [1, 3], on: device)
        for (u, expected) in [([Float](arrayLiteral: 0.5, 0.4, 0.9), [Float](arrayLiteral: 1, 0, 0, 1, 1, 1)),
                              ([0.99, 0.6, 0.5], [1, 1, 1, 1, 0, 0])] {
            // P = 1 keeps both positives; P = ½ against U 0.4 keeps the positive (task 2), against 0.6 the
            // negative (task 1); P = ¾ against 0.9 keeps the negative (task 2), against 0.5 the positive.
            let mask = try GradDrop.masks(g, signs: plus, uniform: Tensor(u, shape: [3], on: device)).values()
            #expect(mask == expected, "U \(u): \(mask)")
        }
        // A negative activation flips its gradient's vote: with A = −1 at feature 0, ∇ votes (−1, −1): P = 0.
        let minus = try Tensor([-1, 1, 1], shape: [1, 3], on: device)
        let flipped = try GradDrop.masks(g, signs: minus, uniform: Tensor([0.5, 0.4, 0.9], shape: [3], on: device)).values()
        #expect(flipped[0] == 1 && flipped[3] == 1, "\(flipped)")
        // Through a cut: losses (z⊙cᵢ).sum() have ∇ᵢ = cᵢ at the representation z [4, 3].
        let random = RandomSource(seed: 12)
        let c = try (0..<3).map { _ in try Tensor(random.uniform(12, low: -1, high: 1), shape: [4, 3], on: device) }
        let values = random.uniform(12, low: -1, high: 1)
        let toy = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
        let method = try GradDrop(seed: 4)
        let per = try c.map { try $0.values() }
        // ĝᵢ per feature: Σ over samples of cᵢ·sign(z).
        var votes = [[Float]](repeating: [0, 0, 0], count: 3)
        for i in 0..<3 {
            for k in 0..<3 {
                for n in 0..<4 { votes[i][k] += per[i][n * 3 + k] * (values[n * 3 + k] > 0 ? 1 : -1) }
            }
        }
        for step in 0..<5 {
            let leaf = try Tensor(values, shape: [4, 3], on: device).detachedLeaf()
            let losses = try c.map { try (leaf * $0).sum() }
            try method.backward(losses: losses, model: try RepresentationCut(toy, leaf: leaf))
            let passed = try #require(leaf.grad).values()
            for k in 0..<3 {
                let positive = (0..<3).filter { votes[$0][k] > 0 }, negative = (0..<3).filter { votes[$0][k] < 0 }
                func passes(_ tasks: [Int]) -> Bool {
                    (0..<4).allSatisfy { n in
                        let sum = tasks.reduce(Float(0)) { $0 + per[$1][n * 3 + k] }
                        return abs(sum - passed[n * 3 + k]) < 1e-5
                    }
                }
                let viaPositive = passes(positive), viaNegative = passes(negative)
                #expect(viaPositive || viaNegative, "step \(step), feature \(k): passed \((0..<4).map { passed[$0 * 3 + k] }), votes \(votes.map { $0[k] })")
            }
        }
        #expect(method.steps == 5)
        // Without the cut it says what it needs.
        do {
            try method.backward(losses: toy.losses(), model: toy)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("--rep-grad"), "\(error)")
        }
        var recipe = TrainingRecipe()
        recipe.weighting = "graddrop"
        #expect(throws: TandemError.self) { try recipe.validate() }
    }

    // MARK: Settings

    @Test("settings: defaults, key=value parsing, unknown keys, ranges; recipes and the factory check them")
    func settings() throws {
        #expect(try WeightingSettings(method: "cagrad", arguments: [:]).number("c") == 0.4)
        #expect(try WeightingSettings(method: "cagrad", arguments: ["c": "0.7"]).number("c") == 0.7)
        #expect(try WeightingSettings(method: "mgda", arguments: ["normalization": "loss+"]).choice("normalization") == "loss+")
        for (method, arguments, fragment) in [("cagrad", ["k": "1"], "unknown setting 'k'"), ("cagrad", ["c": "x"], "'c' must be a number"),
                                              ("cagrad", ["c": "-1"], "'c' must be a number in"), ("ew", ["c": "1"], "takes no settings"),
                                              ("mgda", ["normalization": "l3"], "one of none, l2, loss, loss+"), ("dwa", ["temperature": "nan"], "temperature")] {
            do {
                _ = try WeightingSettings(method: method, arguments: arguments)
                Issue.record("\(method) \(arguments) accepted")
            } catch {
                #expect("\(error)".contains(fragment) && "\(error)".contains(method), "\(error)")
            }
        }
        #expect(try WeightingSettings.parse(["c=0.5", "rescale=2"]) == ["c": "0.5", "rescale": "2"])
        #expect(throws: TandemError.self) { try WeightingSettings.parse(["c"]) }
        #expect(throws: TandemError.self) { try WeightingSettings.parse(["c=1", "c=2"]) }
        let tasks = [TaskSpec("a", .regression), TaskSpec("b", .regression)]
        let cagrad = try #require(try WeightingMethods.make("cagrad", tasks: tasks, on: CPUDevice.shared,
                                                             options: WeightingOptions(arguments: ["c": "0.8", "rescale": "0"])) as? CAGrad)
        #expect(cagrad.c == 0.8 && cagrad.rescale == 0)
        let dwa = try #require(try WeightingMethods.make("dwa", tasks: tasks, on: CPUDevice.shared, options: WeightingOptions(arguments: ["temperature": "5"])) as? DynamicWeightAverage)
        #expect(dwa.temperature == 5)
        // The recipe carries them through JSON (and so through checkpoints), and checks them.
        var recipe = TrainingRecipe()
        recipe.weighting = "fairgrad"
        recipe.weightingArguments = ["alpha": "2"]
        let again = try TrainingRecipe(json: recipe.json, source: "test")
        #expect(again == recipe)
        #expect(try TrainingRecipe(json: JSON.parse(#"{"weighting": "cagrad", "weighting_args": {"c": 0.5, "rescale": 2}}"#), source: "t").weightingArguments == ["c": "0.5", "rescale": "2"])
        #expect(throws: TandemError.self) { try TrainingRecipe(json: JSON.parse(#"{"weighting": "ew", "weighting_args": {"c": 0.5}}"#), source: "t") }
        #expect(throws: TandemError.self) { try TrainingRecipe(json: JSON.parse(#"{"weighting": "cagrad", "weighting_args": [1]}"#), source: "t") }
        var other = recipe
        other.weightingArguments = ["alpha": "3"]
        #expect(other.differences(from: recipe).map(\.key) == ["weighting_args"])
    }
}
