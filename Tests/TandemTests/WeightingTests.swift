#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import Tandem
@testable import TandemMTL

/// A model whose per-task gradients are known in closed form: a shared θ [1, P] and one scalar head
/// hᵢ per task, with Lᵢ = ½‖θ − aᵢ‖² + ½hᵢ², so ∇_θLᵢ = θ − aᵢ and ∇_{hᵢ}Lᵢ = hᵢ.
final class ToyModel: Module, MultiTaskModel {
    let tasks: [TaskSpec]
    let theta: Tensor
    let heads: [Tensor]
    let anchors: [Tensor]
    /// θ − aᵢ of each task, as given.
    let taskGradients: [[Double]]
    let thetaValues: [Double]
    let headValues: [Double]

    /// θ, and the wanted gradient gᵢ = θ − aᵢ of each task.
    init(theta: [Float], gradients: [[Float]], heads: [Float]? = nil, kinds: [TaskKind]? = nil, on device: any Device) throws {
        let t = gradients.count
        tasks = (0..<t).map { TaskSpec("task\($0)", kinds?[$0] ?? .regression) }
        self.theta = try Tensor(theta, shape: [1, theta.count], on: device, requiresGrad: true)
        let h = heads ?? (0..<t).map { Float($0) * 0.4 + 0.3 }
        self.heads = try h.map { try Tensor([$0], shape: [1], on: device, requiresGrad: true) }
        anchors = try gradients.map { g in try Tensor(zip(theta, g).map { $0 - $1 }, shape: [1, theta.count], on: device) }
        taskGradients = gradients.map { $0.map(Double.init) }
        thetaValues = theta.map(Double.init)
        headValues = h.map(Double.init)
        super.init()
    }

    func zeroGrad() { for p in parameters { p.grad = nil } }

    func forward(_ x: Tensor) throws -> [Tensor] { try heads.map { try theta.sum() + $0.sum() } }
    var sharedParameters: [Tensor] { [theta] }

    func losses() throws -> [Tensor] {
        try zip(anchors, heads).map { a, h in try (theta - a).square().sum() * 0.5 + h.square().sum() * 0.5 }
    }

    /// Lᵢ at the construction-time θ, on the host.
    var lossValues: [Double] {
        zip(taskGradients, headValues).map { g, h in 0.5 * dot(g, g) + 0.5 * h * h }
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
func gramOf(_ g: [[Double]]) -> [[Double]] { g.map { a in g.map { dot(a, $0) } } }
func combine(_ c: [Double], _ g: [[Double]]) -> [Double] {
    (0..<g[0].count).map { k in (0..<g.count).reduce(0) { $0 + c[$1] * g[$1][k] } }
}

func expectClose(_ actual: [Float], _ expected: [Double], tolerance: Double = 1e-4,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (a, e) in zip(actual, expected) {
        #expect(abs(Double(a) - e) <= tolerance * max(1, abs(e)), "\(actual) vs \(expected)", sourceLocation: sourceLocation)
    }
}

func expD(_ x: Double) -> Double { exp(x) }

/// Three tasks in R³: g₀ and g₁ conflict, g₂ is mixed.
let toyTheta: [Float] = [0.5, -1, 2]
let toyGradients: [[Float]] = [[-0.5, -1, 1], [1, 0.5, -0.5], [0.2, -1, 0.3]]

@Suite("Loss weighting and gradient combination")
struct WeightingTests {
    @Test("EW sums the losses; fixed weights scale them", arguments: allSelectors)
    func equalAndFixed(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
        let ew = try WeightingMethods.make("ew", tasks: model.tasks, on: device)
        try ew.backward(losses: model.losses(), model: model)
        expectClose(try #require(model.theta.grad).values(), combine([1, 1, 1], model.taskGradients))
        for (h, v) in zip(model.heads, model.headValues) { expectClose(try #require(h.grad).values(), [v]) }
        #expect(try ew.currentWeights() == [1, 1, 1])

        model.zeroGrad()
        let fixed = try WeightingMethods.make("fixed", tasks: model.tasks, on: device, options: WeightingOptions(fixedWeights: [2, 0.5, 0]))
        try fixed.backward(losses: model.losses(), model: model)
        expectClose(try #require(model.theta.grad).values(), combine([2, 0.5, 0], model.taskGradients))
        expectClose(try #require(model.heads[1].grad).values(), [0.5 * model.headValues[1]])
    }

    @Test("UW: ½e^{−s}L + ½s for regression, e^{−s}L + ½s for classification; gradients of θ and s", arguments: allSelectors)
    func uncertainty(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try ToyModel(theta: toyTheta, gradients: Array(toyGradients.prefix(2)),
                                 kinds: [.regression, .classification(classes: 3)], on: device)
        let uw = try UncertaintyWeighting(tasks: model.tasks, on: device)
        #expect(try uw.logVariances.values() == [0, 0])
        expectClose(try uw.currentWeights(), [0.5, 1])
        let s: [Double] = [0.5, -0.3]
        try uw.logVariances.assign(Tensor(s.map(Float.init), shape: [2], on: device))
        try uw.backward(losses: model.losses(), model: model)
        let c = [0.5 * expD(-s[0]), expD(-s[1])]
        expectClose(try #require(model.theta.grad).values(), combine(c, model.taskGradients))
        let l = model.lossValues
        expectClose(try #require(uw.logVariances.grad).values(), [-c[0] * l[0] + 0.5, -c[1] * l[1] + 0.5])
        expectClose(try uw.currentWeights(), c)
        #expect(uw.parameters.count == 1)
    }

    @Test("DWA: equal weights for two epochs, then T·softmax(r/2) of the last two epoch-mean losses")
    func dynamicWeightAverage() throws {
        let cpu = CPUDevice.shared
        let model = try ToyModel(theta: toyTheta, gradients: Array(toyGradients.prefix(2)), on: cpu)
        let dwa = try DynamicWeightAverage()
        try dwa.backward(losses: model.losses(), model: model)
        #expect(try dwa.currentWeights() == [1, 1])
        try dwa.endEpoch(meanLosses: [2, 4])
        #expect(try dwa.currentWeights() == [1, 1])
        try dwa.endEpoch(meanLosses: [1, 3])
        // r = [1/2, 3/4]; w = 2·exp(r/2)/Σexp(r/2).
        let e = [expD(0.25), expD(0.375)]
        let w = e.map { 2 * $0 / (e[0] + e[1]) }
        expectClose(try dwa.currentWeights(), w)
        #expect(abs(try dwa.currentWeights().reduce(0, +) - 2) < 1e-5)
        model.zeroGrad()
        try dwa.backward(losses: model.losses(), model: model)
        expectClose(try #require(model.theta.grad).values(), combine(w, model.taskGradients))
        try dwa.endEpoch(meanLosses: [1, 1.5])
        let e2 = [expD(0.5), expD(0.25)]
        expectClose(try dwa.currentWeights(), e2.map { 2 * $0 / (e2[0] + e2[1]) })
    }

    /// GradNorm's expected weight gradient, from the task gradients, weights and losses.
    static func gradNormExpected(gradients: [[Double]], weights: [Double], losses: [Double], initial: [Double],
                                 alpha: Double) -> [Double] {
        let n = gradients.map { dot($0, $0).squareRoot() }
        let g = zip(weights, n).map { $0 * $1 }
        let mean = g.reduce(0, +) / Double(g.count)
        let ratios = zip(losses, initial).map { $0 / $1 }
        let meanRatio = ratios.reduce(0, +) / Double(ratios.count)
        return (0..<g.count).map { i in
            let target = mean * pow(ratios[i] / meanRatio, alpha)
            return (g[i] > target ? 1 : -1) * n[i]
        }
    }

    @Test("GradNorm: weight gradients from the per-task norms at W, weighted model gradients, renormalisation",
          arguments: allSelectors)
    func gradNorm(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
        let method = try GradNorm(taskCount: 3, alpha: 1.5, on: device)
        #expect(model.lastSharedWeight === model.theta)
        // Step 1: w = 1, L(0) = L, every rᵢ = 1, so the target is the mean norm.
        try method.backward(losses: model.losses(), model: model)
        let l0 = model.lossValues
        #expect(method.initialLosses.map { $0.map(Double.init) }.map { zip($0, l0).allSatisfy { abs($0 - $1) < 1e-5 } } == true)
        let norms = model.taskGradients.map { dot($0, $0).squareRoot() }
        let mean = norms.reduce(0, +) / 3
        expectClose(try #require(method.weights.grad).values(), norms.map { ($0 > mean ? 1 : -1) * $0 })
        expectClose(method.lastNorms, norms)
        expectClose(try #require(model.theta.grad).values(), combine([1, 1, 1], model.taskGradients))
        expectClose(try #require(model.heads[2].grad).values(), [model.headValues[2]])

        // Step 2 at a new θ with the same anchors, after an "optimizer step" left w = [3, 1, 2]:
        // the weights are renormalised to sum to 3 first.
        let model2 = try ToyModel(theta: [0.1, -0.5, 1.5], gradients: toyGradients.map { g in zip(g, [-0.4, 0.5, -0.5]).map { $0 + $1 } },
                                  on: device)
        try method.weights.assign(Tensor([3, 1, 2], shape: [3], on: device))
        method.weights.grad = nil
        try method.backward(losses: model2.losses(), model: model2)
        let w: [Double] = [1.5, 0.5, 1]
        expectClose(try method.weights.values(), w)
        expectClose(try method.currentWeights(), w)
        let expected = Self.gradNormExpected(gradients: model2.taskGradients, weights: w, losses: model2.lossValues, initial: l0, alpha: 1.5)
        expectClose(try #require(method.weights.grad).values(), expected)
        expectClose(try #require(model2.theta.grad).values(), combine(w, model2.taskGradients))
        expectClose(try #require(model2.heads[0].grad).values(), [w[0] * model2.headValues[0]])
    }

    @Test("GradNorm's weights stay positive and sum to T over SGD steps")
    func gradNormTrains() throws {
        let cpu = CPUDevice.shared
        let model = try ToyModel(theta: toyTheta, gradients: Array(toyGradients.prefix(2)), on: cpu)
        let method = try GradNorm(taskCount: 2, alpha: 1.5, on: cpu)
        let optimizer = try SGD([ParameterGroup(model.parameters), ParameterGroup(method.parameters)], learningRate: 0.05)
        for _ in 0..<5 {
            optimizer.zeroGrad()
            try method.backward(losses: model.losses(), model: model)
            try optimizer.step()
        }
        let w = try method.currentWeights()
        #expect(abs(w.reduce(0, +) - 2) < 1e-5)
        #expect(w.allSatisfy { $0 > 0 })
    }

    @Test("PCGrad: closed-form projections of two conflicting gradients; heads keep their own", arguments: allSelectors)
    func pcgradTwoTasks(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try ToyModel(theta: toyTheta, gradients: Array(toyGradients.prefix(2)), on: device)
        let method = try WeightingMethods.make("pcgrad", tasks: model.tasks, on: device, options: WeightingOptions(seed: 7))
        try method.backward(losses: model.losses(), model: model)
        let g = model.taskGradients
        let d = dot(g[0], g[1])
        #expect(d < 0)
        let p0 = zip(g[0], g[1]).map { $0 - d / dot(g[1], g[1]) * $1 }
        let p1 = zip(g[1], g[0]).map { $0 - d / dot(g[0], g[0]) * $1 }
        expectClose(try #require(model.theta.grad).values(), zip(p0, p1).map { $0 + $1 })
        #expect(dot(p0, p1) >= -1e-12)
        for (h, v) in zip(model.heads, model.headValues) { expectClose(try #require(h.grad).values(), [v]) }
        let gram = try #require((method as? PCGrad)?.lastGram)
        #expect(abs(gram[0][1] - d) < 1e-4)
    }

    @Test("PCGrad projection property: two tasks never conflict after projection; with more, no conflict with the last one checked")
    func pcgradProperty() throws {
        var random = SplitMix64(seed: 3)
        for trial in 0..<200 {
            let t = trial < 100 ? 2 : 2 + trial % 4
            let g = (0..<t).map { _ in random.uniform(5).map(Double.init) }
            let gram = gramOf(g)
            let orders = (0..<t).map { i in
                var o = (0..<t).filter { $0 != i }
                o.shuffle(using: &random)
                return o
            }
            let c = PCGrad.projectionCoefficients(gram: gram, orders: orders)
            let projected = c.map { combine($0, g) }
            if t == 2 {
                #expect(dot(projected[0], projected[1]) >= -1e-9)
            }
            for i in 0..<t {
                let last = try #require(orders[i].last)
                #expect(dot(projected[i], g[last]) >= -1e-9)
                if (0..<t).allSatisfy({ $0 == i || gram[i][$0] >= 0 }) {
                    #expect(c[i] == (0..<t).map { $0 == i ? 1 : 0 })
                }
            }
        }
        // Without any conflict PCGrad is EW.
        let g: [[Double]] = [[1, 0.2, 0], [0.5, 1, 0], [0, 0.1, 1]]
        let c = PCGrad.projectionCoefficients(gram: gramOf(g), orders: [[1, 2], [2, 0], [0, 1]])
        #expect(c == [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    }

    @Test("MGDA: two-task closed form on the device, min-norm weights on the simplex", arguments: allSelectors)
    func mgdaTwoTasks(selector: String) throws {
        let device = try Devices.select(selector)
        let model = try ToyModel(theta: [1, 2, 3], gradients: [[1, 0, 0], [0, 2, 0]], on: device)
        let method = try WeightingMethods.make("mgda", tasks: model.tasks, on: device)
        try method.backward(losses: model.losses(), model: model)
        // α₀ = (G₁₁ − G₀₁)/(G₀₀ + G₁₁ − 2G₀₁) = 4/5.
        expectClose(try method.currentWeights(), [0.8, 0.2])
        expectClose(try #require(model.theta.grad).values(), [0.8, 0.4, 0])
        for (h, v) in zip(model.heads, model.headValues) { expectClose(try #require(h.grad).values(), [v]) }
        // One gradient inside the other's half-space beyond it: all weight on the smaller one.
        #expect(MGDA.minNormWeights(gram: gramOf([[1, 0], [2, 0.1]])) == [1, 0])
        // Normalised: ‖g‖ scaling gives equal weights for orthogonal gradients.
        let l2 = try ToyModel(theta: [1, 2, 3], gradients: [[1, 0, 0], [0, 2, 0]], on: device)
        let normalised = MGDA(normalization: .l2)
        try normalised.backward(losses: l2.losses(), model: l2)
        expectClose(try normalised.currentWeights(), [0.5, 0.5])
        expectClose(try #require(l2.theta.grad).values(), [0.5, 1, 0])
    }

    @Test("MGDA: Frank–Wolfe on three or more tasks matches a brute-force search of the simplex")
    func mgdaFrankWolfe() throws {
        var random = SplitMix64(seed: 21)
        for trial in 0..<10 {
            let g = (0..<3).map { _ in random.uniform(4).map(Double.init) }
            let gram = gramOf(g)
            let alpha = MGDA.minNormWeights(gram: gram, maxIterations: 5000, tolerance: 1e-12)
            #expect(abs(alpha.reduce(0, +) - 1) < 1e-9)
            #expect(alpha.allSatisfy { $0 >= -1e-12 })
            func cost(_ a: [Double]) -> Double { let v = combine(a, g); return dot(v, v) }
            var best = Double.infinity, bestAlpha: [Double] = []
            let n = 200
            for i in 0...n {
                for j in 0...(n - i) {
                    let a = [Double(i) / Double(n), Double(j) / Double(n), Double(n - i - j) / Double(n)]
                    let c = cost(a)
                    if c < best { best = c; bestAlpha = a }
                }
            }
            #expect(cost(alpha) <= best + 1e-6, "trial \(trial): \(alpha) cost \(cost(alpha)) vs grid \(bestAlpha) cost \(best)")
            if best > 1e-3 {
                // A strictly convex case (gradients independent enough): the minimiser is unique.
                for (a, b) in zip(alpha, bestAlpha) { #expect(abs(a - b) < 0.02, "trial \(trial): \(alpha) vs \(bestAlpha)") }
            }
        }
        // Five tasks: the min-norm point is orthogonal-ish: ⟨v, gᵢ⟩ ≥ ‖v‖² for every i (optimality).
        let g = (0..<5).map { _ in random.uniform(6).map(Double.init) }
        let alpha = MGDA.minNormWeights(gram: gramOf(g), maxIterations: 10000, tolerance: 1e-12)
        let v = combine(alpha, g)
        for gi in g { #expect(dot(v, gi) >= dot(v, v) - 1e-4) }
    }

    @Test("MGDA and PCGrad on three tasks on the device agree with the host computation", arguments: allSelectors)
    func gradientMethodsThreeTasks(selector: String) throws {
        let device = try Devices.select(selector)
        let g = toyGradients.map { $0.map(Double.init) }
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
        let mgda = MGDA()
        try mgda.backward(losses: model.losses(), model: model)
        let alpha = MGDA.minNormWeights(gram: gramOf(g))
        expectClose(try mgda.currentWeights(), alpha, tolerance: 1e-3)
        expectClose(try #require(model.theta.grad).values(), combine(alpha, g), tolerance: 1e-3)

        model.zeroGrad()
        let pcgrad = PCGrad(seed: 5)
        try pcgrad.backward(losses: model.losses(), model: model)
        let coefficients = try pcgrad.currentWeights().map(Double.init)
        expectClose(try #require(model.theta.grad).values(), combine(coefficients, g))
        // Whatever the order, the combination is a sum of projections of the three gradients.
        #expect(coefficients.allSatisfy { $0 > 0 })
    }

    @Test("gradient methods download exactly once per step on OpenCL (the Gram matrix, or T numbers); loss weightings never", arguments: openCLSelectors)
    func oneDownloadPerStep(selector: String) throws {
        let device = try privateOpenCL(selector)
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: device)
        for name in ["uw", "dwa", "gls", "rlw", "imtl-l", "stch", "minimax"] {
            let method = try WeightingMethods.make(name, tasks: model.tasks, on: device)
            model.zeroGrad()
            let losses = try model.losses()
            let before = device.transferStatistics.downloads
            try method.backward(losses: losses, model: model)
            #expect(device.transferStatistics.downloads == before, "\(name)")
        }
        for name in ["pcgrad", "mgda", "gradnorm", "famo", "imtl-g", "imtl", "gradvac", "cagrad", "nash-mtl", "fairgrad", "upgrad",
                     "aligned-mtl", "db-mtl", "moco", "excess-mtl"] {
            let method = try WeightingMethods.make(name, tasks: model.tasks, on: device)
            for _ in 0..<3 {
                model.zeroGrad()
                let losses = try model.losses()
                let before = device.transferStatistics.downloads
                try method.backward(losses: losses, model: model)
                #expect(device.transferStatistics.downloads - before == 1, "\(name)")
            }
        }
        let ew = EqualWeighting()
        let losses = try model.losses()
        let before = device.transferStatistics.downloads
        try ew.backward(losses: losses, model: model)
        #expect(device.transferStatistics.downloads == before)
    }

    @Test("every method trains a preset for 20 steps on CPU and OpenCL alike (to 1e-3)", arguments: WeightingMethods.names)
    func presetAgreement(name: String) throws {
        func run(_ device: any Device) throws -> [Float] {
            let model = try Presets.make("mmoe-synth", seed: 3, on: device)
            var random = SplitMix64(seed: 4)
            let x = try Tensor(random.uniform(6 * 100), shape: [6, 100], on: device)
            let targets = try (0..<2).map { _ in try Tensor(random.uniform(6), shape: [6], on: device) }
            let method = try WeightingMethods.make(name, tasks: model.tasks, on: device,
                                                   options: WeightingOptions(fixedWeights: [0.7, 1.3], seed: 1, labelledCounts: [30, 10]))
            let optimizer = try SGD([ParameterGroup(model.parameters), ParameterGroup(method.parameters)], learningRate: 0.05)
            var lossTrace: [Float] = []
            for epoch in 0..<20 {
                optimizer.zeroGrad()
                // GradDrop works at the shared representation (--rep-grad): cut there, then pass the gradient on.
                var cut: (representation: Tensor, leaf: Tensor)?
                let outputs: [Tensor]
                if name == "graddrop" {
                    let split = try #require(model as? any RepresentationModel)
                    outputs = try split.forward(x) { z in
                        let leaf = z.detachedLeaf()
                        cut = (z, leaf)
                        return leaf
                    }
                } else {
                    outputs = try model.forward(x)
                }
                let losses = try zip(model.tasks, zip(outputs, targets)).map { try $0.loss($1.0, $1.1) }
                if let cut {
                    try method.backward(losses: losses, model: try RepresentationCut(model, leaf: cut.leaf))
                    try cut.representation.backward(gradient: try #require(cut.leaf.grad))
                } else {
                    try method.backward(losses: losses, model: model)
                }
                #expect(model.parameters.allSatisfy { $0.grad != nil }, "\(name)")
                try optimizer.step()
                let values = try losses.map { try $0.item() }
                lossTrace += values
                try method.endEpoch(meanLosses: values.map { $0 * Float(epoch + 1) })
            }
            return lossTrace + (try method.currentWeights())
        }
        let cpu = try run(CPUDevice.shared)
        #expect(cpu.allSatisfy { $0.isFinite })
        for selector in openCLSelectors {
            let other = try run(try Devices.select(selector))
            for (a, b) in zip(other, cpu) { #expect(abs(a - b) <= 1e-3 * max(1, abs(b)), "\(name) on \(selector): \(other) vs \(cpu)") }
        }
    }

    @Test("method state round-trips: a resumed method takes the same next step", arguments: ["dwa", "gradnorm", "pcgrad", "rlw", "gradvac", "famo", "db-mtl", "moco", "stch", "excess-mtl"])
    func stateRoundTrip(name: String) throws {
        let cpu = CPUDevice.shared
        let tasks = (0..<3).map { TaskSpec("task\($0)", .regression) }
        let gradients: [[Float]] = [[-0.5, -1, 1], [1, 0.5, -0.5], [0.2, -1, -0.3]]
        let original = try #require(try WeightingMethods.make(name, tasks: tasks, on: cpu, options: WeightingOptions(seed: 9)) as? any StatefulWeighting)
        for step in 0..<3 {
            let model = try ToyModel(theta: [Float(step) * 0.1, 0.2, -0.1], gradients: gradients, on: cpu)
            try original.backward(losses: model.losses(), model: model)
            try original.endEpoch(meanLosses: [1, 2, 3].map { $0 / Float(step + 1) + Float(step) })
            for p in original.parameters { p.grad = nil }
        }
        let resumed = try #require(try WeightingMethods.make(name, tasks: tasks, on: cpu, options: WeightingOptions(seed: 9)) as? any StatefulWeighting)
        try resumed.loadMethodState(original.methodState())
        for (a, b) in zip(resumed.parameters, original.parameters) { try a.assign(b) }
        var results: [[Float]] = []
        for method in [original, resumed] {
            let model = try ToyModel(theta: [0.3, 0.2, -0.1], gradients: gradients, on: cpu)
            try method.backward(losses: model.losses(), model: model)
            results.append(try #require(model.theta.grad).values() + method.currentWeights())
        }
        #expect(results[0] == results[1])
        #expect(throws: TandemError.self) { try resumed.loadMethodState([:]) }
    }

    @Test("labelled: a recipe's weights come from the training data's labelled counts (missing labels are NaN)")
    func labelledFromData() throws {
        var recipe = TrainingRecipe()
        recipe.data = "mmoe-synth"
        recipe.model = "mmoe-synth"
        recipe.limit = 40
        recipe.validationFraction = 0
        recipe.weighting = "labelled"
        var data = try RunData(recipe: recipe)
        var random = SplitMix64(seed: 5)
        let inputs = random.uniform(40 * 100)
        let first = random.uniform(40)
        let second = (0..<40).map { $0 < 12 ? Float.nan : Float($0) / 40 }
        data.train = try ArrayDataset(name: "partly-labelled", inputs: inputs, inputShape: [100],
                                      tasks: data.train.tasks, labels: [first, second])
        let run = try RecipeTraining(recipe: recipe, data: data, tasks: [0, 1], device: CPUDevice.shared)
        // 40 and 28 labelled samples: 2·40/68 and 2·28/68.
        let weights = try run.setup.weighting.currentWeights()
        #expect(run.setup.weighting.name == "labelled")
        #expect(abs(weights[0] - Float(80.0 / 68)) < 1e-6 && abs(weights[1] - Float(56.0 / 68)) < 1e-6, "\(weights)")
    }

    @Test("the factory knows every name and lists them for an unknown one; bad inputs are errors")
    func factory() throws {
        let cpu = CPUDevice.shared
        let tasks = [TaskSpec("a", .regression), TaskSpec("b", .classification(classes: 2))]
        for name in WeightingMethods.names {
            let method = try WeightingMethods.make(name, tasks: tasks, on: cpu, options: WeightingOptions(fixedWeights: [1, 2], labelledCounts: [5, 15]))
            #expect(method.name == name)
        }
        do {
            _ = try WeightingMethods.make("nash", tasks: tasks, on: cpu)
            Issue.record("no error")
        } catch let error as TandemError {
            #expect("\(error)".contains("pcgrad") && "\(error)".contains("nash") && "\(error)".contains("gradnorm"))
        }
        #expect(throws: TandemError.self) { try WeightingMethods.make("fixed", tasks: tasks, on: cpu) }
        #expect(throws: TandemError.self) { try WeightingMethods.make("fixed", tasks: tasks, on: cpu, options: WeightingOptions(fixedWeights: [1])) }
        // Labelled-count weights: T·nᵢ/Σn; without the data's counts, or with counts that do not fit, an error.
        let labelled = try WeightingMethods.make("labelled", tasks: tasks, on: cpu, options: WeightingOptions(labelledCounts: [5, 15]))
        #expect(try labelled.currentWeights() == [0.5, 1.5])
        #expect(try WeightingMethods.make("labelled", tasks: tasks, on: cpu, options: WeightingOptions(labelledCounts: [7, 7])).currentWeights() == [1, 1])
        for counts in [nil, [3], [0, 0], [-1, 4]] as [[Int]?] {
            #expect(throws: TandemError.self, "\(String(describing: counts))") {
                try WeightingMethods.make("labelled", tasks: tasks, on: cpu, options: WeightingOptions(labelledCounts: counts))
            }
        }
        let model = try ToyModel(theta: toyTheta, gradients: toyGradients, on: cpu)
        #expect(throws: TandemError.self) { try EqualWeighting().backward(losses: Array(model.losses().prefix(2)), model: model) }
        #expect(throws: TandemError.self) { try PCGrad().backward(losses: [model.theta, model.theta, model.theta], model: model) }
    }
}
