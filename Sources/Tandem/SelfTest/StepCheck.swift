/// Training-step checks: one step of each standard workload at `Workload.Size.tiny`, run on a device
/// and on the CPU from the same weights and data. The op checks test each op alone; these test the ops
/// chained as training chains them (forward, the task losses, backward through shared layers, the
/// optimizer update), and give an OpenCL checker such as Oclgrind a whole step to watch.
extension SelfTest {
    /// Largest accepted relative error of the step's loss, device against CPU.
    public static let stepLossTolerance = 1e-4
    /// Largest accepted error of a gradient element, device against CPU, relative to the largest
    /// gradient magnitude in the model; and of a parameter after the update, relative to its
    /// magnitude (at least 1). A float32 training step of a network with ReLU, max-pooling and batch
    /// norm is not continuous in its rounding: summing in another order now and then flips a ReLU or
    /// a pooling choice near a tie, which moves gradients upstream of it by up to a few percent of
    /// the largest (measured at `Size.tiny`, seeds 1–20: the CPU against itself with its fused
    /// primitives composed, up to 6.5e-2 on mtan-segnet; PoCL against the CPU, up to 1e-2; without a
    /// flip, 1e-7 to 1e-3). The op checks hold each op's gradient to 2e-3 against float64; this check
    /// is for what chaining breaks (an output region left unwritten, a view's strides, a gradient
    /// lost where tasks share a layer), which is off by far more.
    public static let stepGradientTolerance = 0.1

    /// The row name of the step check of `workload`.
    public static func stepCheckName(_ workload: String) -> String {
        "step \(workload) (tiny, batch \(Workload.defaultBatch(workload, size: .tiny)))"
    }

    /// The outcome of one step check.
    public struct StepComparison: Sendable {
        /// Relative error of the loss, device against CPU.
        public var loss: Double
        /// The worst error of a gradient or of a parameter after the update.
        public var gradients: Double
        /// Where the worst error is: "gradient of NAME" or "NAME after the update".
        public var worst: String
        /// The step's loss on the device and on the CPU.
        public var deviceLoss: Float = .nan
        public var cpuLoss: Float = .nan

        /// What a failing row says: the two losses when they differ, else where the worst error is.
        var failureDescription: String {
            loss > SelfTest.stepLossTolerance ? "loss \(deviceLoss) on the device, \(cpuLoss) on the CPU" : "worst: \(worst)"
        }
    }

    /// One row per workload in `workloads` (default all four): the loss's relative error in the
    /// forward column, the worst gradient or updated-parameter error in the backward column; a
    /// failing row's `detail` gives the two losses or names the tensor with the worst error.
    public static func steps(on device: any Device, seed: UInt64 = 1, workloads: [String] = Workload.names) -> [SelfTestResult] {
        workloads.map { name in
            do {
                let result = try checkStep(name, on: device, seed: seed)
                let passed = result.loss <= stepLossTolerance && result.gradients <= stepGradientTolerance
                return SelfTestResult(op: stepCheckName(name), forwardMaxRelativeError: result.loss,
                                      backwardMaxRelativeError: result.gradients, passed: passed,
                                      detail: passed ? nil : result.failureDescription)
            } catch {
                return SelfTestResult(op: stepCheckName(name), forwardMaxRelativeError: .infinity, passed: false, failure: "\(error)")
            }
        }
    }

    /// Runs one training step of workload `name` (tiny shapes, weights and data from `seed`) on the
    /// CPU and on `device`, and compares the loss, every gradient and every parameter after the update.
    ///
    /// A parameter element whose gradient has different signs on the two devices (both within
    /// tolerance of zero, or the gradient check fails) is not compared after the update: Adam's
    /// first step moves every parameter by about ±lr whatever the gradient's size, so float noise
    /// in a gradient of almost zero decides the sign of a whole step.
    public static func checkStep(_ name: String, on device: any Device, seed: UInt64 = 1) throws -> StepComparison {
        let reference = try Workload(name, size: .tiny, seed: seed, on: CPUDevice.shared)
        let tested = try Workload(name, size: .tiny, seed: seed, on: device)
        let expectedLoss = try reference.step(), loss = try tested.step()
        let lossError = Swift.abs(Double(loss) - Double(expectedLoss)) / Swift.max(Swift.abs(Double(expectedLoss)), 1)
        guard loss.isFinite else {
            return StepComparison(loss: .infinity, gradients: .infinity, worst: "loss", deviceLoss: loss, cpuLoss: expectedLoss)
        }
        let expectedParameters = reference.model.namedParameters(), parameters = tested.model.namedParameters()
        guard expectedParameters.map(\.0) == parameters.map(\.0) else {
            throw TandemError.invalidArgument(op: "step \(name)", message: "the device's model has other parameters than the CPU's")
        }
        // Each parameter's name, CPU and device gradients.
        var gradients: [(String, [Float], [Float])] = []
        for ((parameterName, want), (_, got)) in zip(expectedParameters, parameters) {
            switch (want.grad, got.grad) {
            case (nil, nil):
                continue
            case let (wantGradient?, gotGradient?):
                gradients.append((parameterName, try wantGradient.values(), try gotGradient.values()))
            default:
                throw TandemError.invalidArgument(op: "step \(name)",
                                                  message: "\(parameterName) has a gradient only on \(want.grad == nil ? "the device" : "the CPU")")
            }
        }
        func largest(_ values: [Float]) -> Double { values.reduce(0) { Swift.max($0, Double(Swift.abs($1))) } }
        let scale = Swift.max(gradients.reduce(0) { Swift.max($0, largest($1.1)) }, 1e-30)
        var result = StepComparison(loss: lossError, gradients: 0, worst: "", deviceLoss: loss, cpuLoss: expectedLoss)
        func note(_ error: Double, _ place: @autoclosure () -> String) {
            let error = error.isNaN ? .infinity : error
            if error > result.gradients || result.worst.isEmpty { (result.gradients, result.worst) = (error, place()) }
        }
        let byName = Dictionary(uniqueKeysWithValues: zip(expectedParameters, parameters).map { ($0.0.0, ($0.0.1, $0.1.1)) })
        for (parameterName, g, h) in gradients {
            note(Reference.maxRelativeError(h, g.map(Double.init), floor: scale), "gradient of \(parameterName)")
            guard let (want, got) = byName[parameterName] else { continue }
            let after = try want.values(), updated = try got.values()
            var worst = 0.0
            for i in after.indices where g[i].sign == h[i].sign && (g[i] == 0) == (h[i] == 0) {
                let error = Swift.abs(Double(updated[i]) - Double(after[i])) / Swift.max(Swift.abs(Double(after[i])), 1)
                worst = error.isNaN ? .infinity : Swift.max(worst, error)
            }
            note(worst, "\(parameterName) after the update")
        }
        return result
    }
}
