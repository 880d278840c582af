/// How a check fills one input.
public enum InputKind: Sendable {
    /// Uniform in [-1, 1).
    case uniform
    /// Uniform in [0.5, 2): for log, sqrt, division.
    case positive
    /// Integers 0..<classes as floats (labels, no gradient); `ignored` of them become -1.
    case labels(classes: Int, ignored: Int = 0)
    /// Exactly these values (no gradient).
    case constant([Float])
}

/// One input of an op check: its shape, how to fill it, and whether its gradient is checked.
public struct InputSpec: Sendable {
    public var shape: [Int]
    public var kind: InputKind
    public var differentiable: Bool

    public init(_ shape: [Int], _ kind: InputKind = .uniform, differentiable: Bool? = nil) {
        self.shape = shape
        self.kind = kind
        switch kind {
        case .uniform, .positive: self.differentiable = differentiable ?? true
        case .labels, .constant: self.differentiable = false
        }
    }
}

/// An op checked three ways: the CPU against a float64 reference, a device against the CPU on the
/// same random inputs, and the device's gradient against central finite differences of the
/// float64 reference. Outputs are poisoned (NaN) before each run, so an unwritten element fails.
public struct OpCase: Sendable {
    public var name: String
    public var inputs: [InputSpec]
    /// The op under test, built from Tandem tensor ops.
    public var run: @Sendable ([Tensor]) throws -> Tensor
    /// The same function in float64 over flat row-major inputs; nil when only device-vs-CPU and
    /// gradients are checked against each other (randomised ops).
    public var reference: (@Sendable ([[Double]]) -> [Double])?
    /// Largest accepted forward relative error (device vs CPU, CPU vs reference).
    public var tolerance: Double
    /// Largest accepted gradient relative error.
    public var gradientTolerance: Double

    public init(_ name: String, _ inputs: [InputSpec], tolerance: Double = 1e-4, gradientTolerance: Double = 2e-3,
                run: @escaping @Sendable ([Tensor]) throws -> Tensor,
                reference: (@Sendable ([[Double]]) -> [Double])?) {
        self.name = name
        self.inputs = inputs
        self.run = run
        self.reference = reference
        self.tolerance = tolerance
        self.gradientTolerance = gradientTolerance
    }

    /// Fresh inputs for one run.
    func makeInputs(seed: UInt64) -> [[Float]] {
        var random = SplitMix64(seed: seed)
        return inputs.map { spec in
            let n = Shapes.count(spec.shape)
            switch spec.kind {
            case .uniform: return random.uniform(n)
            case .positive: return random.uniform(n).map { 1.25 + 0.75 * $0 }
            case let .labels(classes, ignored):
                var labels = (0..<n).map { _ in Float(Int.random(in: 0..<classes, using: &random)) }
                for i in 0..<Swift.min(ignored, n) { labels[(i * 7919) % n] = -1 }
                return labels
            case let .constant(values): return values
            }
        }
    }

    /// Runs the op on `device` with poisoned outputs; with `gradientSeed` it also backpropagates
    /// Σ y·w and returns the inputs' gradients.
    func evaluate(on device: any Device, inputs values: [[Float]], gradientSeed weights: [Float]?) throws -> (output: [Float], gradients: [[Float]?]) {
        try Poisoning.enabled {
            let tensors = try zip(inputs, values).map { spec, v in
                try Tensor(v, shape: spec.shape, on: device, requiresGrad: spec.differentiable && weights != nil)
            }
            let y = try run(tensors)
            let output = try y.values()
            guard let weights else { return (output, []) }
            guard weights.count == y.count else {
                throw TandemError.invalidArgument(op: name, message: "gradient seed of \(weights.count) for output \(y.shape)")
            }
            if y.requiresGrad { try y.backward(gradient: try Tensor(weights, shape: y.shape, on: device)) }
            return (output, try tensors.map { t in
                guard t.requiresGrad else { return nil }
                return try t.grad?.values() ?? [Float](repeating: 0, count: t.count)
            })
        }
    }

    /// Checks this op on `device` (and the CPU), returning the selftest row.
    public func check(on device: any Device, seed: UInt64) -> SelfTestResult {
        do {
            let values = makeInputs(seed: seed)
            var random = SplitMix64(seed: seed ^ 0x5eed)
            let cpu = CPUDevice.shared
            let cpuRun = try evaluate(on: cpu, inputs: values, gradientSeed: nil)
            var forward = 0.0
            if let reference {
                let expected = reference(values.map { $0.map(Double.init) })
                guard expected.count == cpuRun.output.count else {
                    throw TandemError.invalidArgument(op: name, message: "reference gives \(expected.count) values, op \(cpuRun.output.count)")
                }
                forward = Reference.maxRelativeError(cpuRun.output, expected)
            }
            let weights = random.uniform(cpuRun.output.count)
            let deviceRun = try evaluate(on: device, inputs: values, gradientSeed: weights)
            if !(device === cpu) {
                forward = Swift.max(forward, Reference.maxRelativeError(deviceRun.output, cpuRun.output.map(Double.init)))
            }
            var backward: Double? = nil
            if inputs.contains(where: \.differentiable) {
                backward = 0
                let expected = try gradientReference(values, weights: weights)
                for (k, spec) in inputs.enumerated() where spec.differentiable {
                    guard let got = deviceRun.gradients[k], let want = expected[k] else {
                        throw TandemError.invalidArgument(op: name, message: "no gradient for input \(k)")
                    }
                    backward = Swift.max(backward!, Reference.maxRelativeError(got, want))
                }
            }
            let passed = forward <= tolerance && (backward ?? 0) <= gradientTolerance
            return SelfTestResult(op: name, forwardMaxRelativeError: forward, backwardMaxRelativeError: backward, passed: passed)
        } catch {
            return SelfTestResult(op: name, forwardMaxRelativeError: .infinity, backwardMaxRelativeError: nil, passed: false,
                                  failure: "\(error)")
        }
    }

    /// Gradients of Σ reference(x)·w by central differences in float64 (or, for ops without a
    /// reference, of the CPU op itself in float32 with a larger step).
    func gradientReference(_ values: [[Float]], weights: [Float]) throws -> [[Double]?] {
        let doubles = values.map { $0.map(Double.init) }
        let w = weights.map(Double.init)
        func objective(_ x: [[Double]]) throws -> Double {
            if let reference { return zip(reference(x), w).reduce(0) { $0 + $1.0 * $1.1 } }
            let out = try evaluate(on: CPUDevice.shared, inputs: x.map { $0.map(Float.init) }, gradientSeed: nil).output
            return zip(out, w).reduce(0) { $0 + Double($1.0) * $1.1 }
        }
        let h = reference == nil ? 1e-2 : 1e-6
        return try inputs.enumerated().map { k, spec in
            guard spec.differentiable else { return nil }
            var x = doubles
            return try (0..<x[k].count).map { i in
                let original = x[k][i]
                x[k][i] = original + h
                let plus = try objective(x)
                x[k][i] = original - h
                let minus = try objective(x)
                x[k][i] = original
                return (plus - minus) / (2 * h)
            }
        }
    }
}
