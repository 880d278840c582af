import Testing
@testable import Tandem

/// `Sequential` runs BatchNorm → ReLU as one fused batch norm; it must give what the two layers give
/// one after the other, values and gradients, in training and in evaluation.
@Suite("Sequential fuses BatchNorm → ReLU and Linear → ReLU")
struct SequentialFusionTests {
    @Test("same output and gradients as the layers run one by one", arguments: allSelectors)
    func fusedMatchesSeparate(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        var random = seed.generator
        let shape = [4, 3, 5, 6]
        let x = random.uniform(shape.reduce(1, *)), g = random.uniform(shape.reduce(1, *))
        let scales = random.uniform(3).map { $0 * 2 }  // of both signs
        for training in [true, false] {
            var results: [[[Float]]] = []
            for fused in [true, false] {
                let norm = try BatchNorm(3, on: device), relu = Activation.relu
                try norm.weight.assign(try Tensor(scales, shape: [3], on: device))
                let model = Sequential(norm, relu)
                model.train(training)
                let input = try Tensor(x, shape: shape, on: device, requiresGrad: true)
                let y = fused ? try model(input) : try relu(try norm(input))
                try y.backward(gradient: try Tensor(g, shape: shape, on: device))
                results.append([try y.values(), try #require(input.grad).values(), try #require(norm.weight.grad).values(),
                                try #require(norm.bias.grad).values(), try norm.runningMean.values()])
            }
            #expect(results[0] == results[1], "fused and separate differ (training \(training), \(seed))")
            #expect(results[0][0].contains(0) && results[0][0].contains { $0 > 0 }, "\(seed)")
        }
    }

    /// Linear → ReLU runs as one linear with the bias, the ReLU and, backwards, the ReLU's gate and
    /// the bias gradient fused; values and gradients must agree with the two layers within rounding
    /// (the fused bias gradient sums in another order).
    @Test("Linear → ReLU fused gives what the two layers give", arguments: allSelectors)
    func linearReLU(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        var random = seed.generator
        let x = random.uniform(6 * 2 * 9), g = random.uniform(6 * 2 * 5)
        var results: [[[Float]]] = []
        for fused in [true, false] {
            let linear = try Linear(9, 5, random: RandomSource(seed: seed.value), on: device), relu = Activation.relu
            let input = try Tensor(x, shape: [6, 2, 9], on: device, requiresGrad: true)
            let y = fused ? try Sequential(linear, relu)(input) : try relu(try linear(input))
            try y.backward(gradient: try Tensor(g, shape: [6, 2, 5], on: device))
            results.append([try y.values(), try #require(input.grad).values(), try #require(linear.weight.grad).values(),
                            try #require(linear.bias?.grad).values()])
        }
        for (part, (a, b)) in zip(["output", "input gradient", "weight gradient", "bias gradient"], zip(results[0], results[1])) {
            let error = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
            #expect(error < 1e-6, "\(part) differs by \(error) on \(selector); \(seed)")
        }
        #expect(results[0][0].contains(0) && results[0][0].contains { $0 > 0 }, "\(seed)")
    }

    @Test("running more layers than a Sequential has is an error, not a crash")
    func layerCountOutOfRange() throws {
        let device = try Devices.select("cpu")
        let model = Sequential(try BatchNorm(2, on: device), Activation.relu)
        let x = try Tensor([1, 2, 3, 4], shape: [2, 2], on: device)
        #expect(throws: TandemError.self) { try model(x, layers: 3) }
        #expect(throws: TandemError.self) { try model(x, layers: -1) }
        #expect(try model(x, layers: 0).values() == [1, 2, 3, 4])
    }
}
