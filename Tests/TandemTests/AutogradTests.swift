import Testing
@testable import Tandem

@Suite("Autograd and tensors")
struct AutogradTests {
    @Test("a tensor used twice accumulates both gradients", arguments: allSelectors)
    func accumulates(selector: String) throws {
        let device = try Devices.select(selector)
        let x = try Tensor([1, 2, 3], shape: [3], on: device, requiresGrad: true)
        let y = try (x * x + x * 3).sum()  // dy/dx = 2x + 3
        try y.backward()
        #expect(try x.grad?.values() == [5, 7, 9])
        // A second backward accumulates onto the existing gradient.
        try (x * 2).sum().backward()
        #expect(try x.grad?.values() == [7, 9, 11])
    }

    @Test("backward(releasingGraph:) gives the same gradients, frees activations on the way, and refuses a second pass",
          arguments: openCLSelectors)
    func releasingGraph(selector: String) throws {
        let device = try privateOpenCL(selector)  // its own pool, so the byte counts are this test's alone
        var random = SplitMix64(seed: 7)
        let values = random.uniform(4096)
        var gradients: [[Float]] = []
        for release in [false, true] {
            let x = try Tensor(values, shape: [4096], on: device, requiresGrad: true)
            var h = x
            for _ in 0..<8 { h = try (h * 1.5).relu() + h }  // a chain of activations, each 16 KiB
            let loss = try h.sum()
            let before = device.poolStatistics.bytesInUse
            try loss.backward(releasingGraph: release)
            h = x  // drop this test's handle on the last activation
            let after = device.poolStatistics.bytesInUse
            if release {
                // The activations and every intermediate gradient are gone; the loss, x and its gradient remain.
                #expect(after < before / 4, "bytes in use \(before) → \(after)")
                #expect(throws: TandemError.self) { try loss.backward() }
            } else {
                #expect(after > before, "the kept graph still holds its activations")
            }
            gradients.append(try #require(x.grad).values())
        }
        #expect(gradients[0] == gradients[1])
    }

    @Test("no gradient is recorded without requiresGrad, inside withoutGradient, or through detach")
    func noGradient() throws {
        let device = try Devices.select("cpu")
        let x = try Tensor([1, 2], shape: [2], on: device, requiresGrad: true)
        let plain = try Tensor([1, 2], shape: [2], on: device)
        #expect(try !(plain * 2).requiresGrad)
        #expect(try (x * 2).requiresGrad)
        let inside = try Tensor.withoutGradient { try x * 2 }
        #expect(!inside.requiresGrad)
        #expect(try !(x.detach() * 2).requiresGrad)
        #expect(throws: TandemError.self) { try (x * 2).backward() }  // Not a scalar.
    }

    @Test("gradients flow back across a move between devices", arguments: openCLSelectors)
    func moveBetweenDevices(selector: String) throws {
        let device = try Devices.select(selector)
        let x = try Tensor([1, -2, 3], shape: [3], on: CPUDevice.shared, requiresGrad: true)
        let y = try (x.to(device) * 4).sum()
        #expect(y.device === device)
        try y.backward()
        #expect(x.grad?.device === CPUDevice.shared)
        #expect(try x.grad?.values() == [4, 4, 4])
        #expect(try x.to(device).to(CPUDevice.shared).values() == [1, -2, 3])
    }

    @Test("shape mismatches, bad axes and mixed devices are errors naming the op, shapes and devices")
    func errors() throws {
        let cpu = CPUDevice.shared
        let a = try Tensor.zeros([2, 3], on: cpu), b = try Tensor.zeros([4], on: cpu)
        func message(_ body: () throws -> Tensor) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        let add = message { try a + b }
        #expect(add.contains("add") && add.contains("[2, 3]") && add.contains("[4]"))
        let axis = message { try a.sum(axes: [2]) }
        #expect(axis.contains("sum") && axis.contains("axis 2") && axis.contains("[2, 3]"))
        let mm = message { try a.matmul(a) }
        #expect(mm.contains("matmul") && mm.contains("[2, 3]"))
        #expect(message { try a.reshape([4, 2]) }.contains("reshape"))
        #expect(message { try a.permute([0, 0]) }.contains("permute"))
        #expect(message { try a.slice(axis: 1, 1..<5) }.contains("slice"))
        #expect(message { try Tensor.concat([a, b], axis: 0) }.contains("concat"))
        #expect(message { try Tensor([1, 2, 3], shape: [2], on: cpu) }.contains("do not fill shape"))
        #expect(message { try a.expand([3, 3]) }.contains("expand"))
        #expect(message { try a.pad([(0, 0), (-1, 0)]) }.contains("pad"))
        #expect(message { _ = try a.item(); return a }.contains("item"))
        for selector in openCLSelectors {
            let other = try Tensor.zeros([2, 3], on: try Devices.select(selector))
            let mixed = message { try a + other }
            #expect(mixed.contains("different devices") && mixed.contains("cpu") && mixed.contains(selector))
        }
    }

    @Test("buffers return to the pool when tensors die", arguments: openCLSelectors)
    func buffersReturn(selector: String) throws {
        let device = try privateOpenCL(selector)
        let before = device.poolStatistics.bytesInUse
        do {
            var random = SplitMix64(seed: 3)
            let x = try Tensor(random.uniform(123 * 45), shape: [123, 45], on: device, requiresGrad: true)
            let y = try (x.relu() * x).sum()
            try y.backward()
            #expect(device.poolStatistics.bytesInUse > before)
        }
        #expect(device.poolStatistics.bytesInUse == before)
    }

    /// Records each leaf's gradient at the moment it is reported ready.
    final class ReadinessLog: GradientObserver, @unchecked Sendable {
        var seen: [(name: String, values: [Float])] = []
        func gradientReady(_ leaf: Tensor) throws { seen.append((leaf.name ?? "?", try leaf.grad?.values() ?? [])) }
    }

    @Test("a gradient observer hears of each leaf once, when its gradient is final, the last layer's before the first's",
          arguments: allSelectors)
    func readiness(selector: String) throws {
        let device = try Devices.select(selector)
        let w1 = try Tensor([0.5, -1, 2], shape: [3], on: device, requiresGrad: true)
        let w2 = try Tensor([3, 1, -2], shape: [3], on: device, requiresGrad: true)
        let x = try Tensor([1, 2, 3], shape: [3], on: device)
        w1.name = "w1"
        w2.name = "w2"
        let log = ReadinessLog()
        // h = w1·x is used twice (two paths to w1), y = Σ (h·w2 + h·h).
        let h = try w1 * x
        let y = try (h * w2 + h * h).sum()
        try GradientReadiness.$observer.withValue(log) { try y.backward() }
        #expect(log.seen.map(\.name) == ["w2", "w1"])
        // dy/dw2 = h; dy/dw1 = x·(w2 + 2h): complete when reported.
        let expected: [Float] = [4, -6, 30]  // 1·(3 + 2·0.5), 2·(1 + 2·(−2)), 3·(−2 + 2·6)
        #expect(log.seen.first { $0.name == "w1" }?.values == expected)
        #expect(log.seen.first { $0.name == "w2" }?.values == [0.5, -2, 6])
        #expect(try w1.grad?.values() == log.seen.first { $0.name == "w1" }?.values)
        // Outside the task-local scope nothing is reported.
        try (w1 * 2).sum().backward()
        #expect(log.seen.count == 2)
    }

    @Test("gradient reversal: the forward is the identity, the gradient below it −λ times the one above; λ 0 stops it; bad λ refused",
          arguments: allSelectors)
    func gradientReversal(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        var random = SplitMix64(seed: seed.value)
        let values = random.uniform(37)
        let weights = random.uniform(37)
        for lambda: Float in [1, 0.25, 0] {
            let x = try Tensor(values, shape: [37], on: device, requiresGrad: true)
            let w = try Tensor(weights, shape: [37], on: device, requiresGrad: true)
            let reversed = try x.reversingGradient(lambda: lambda)
            #expect(try reversed.values() == values, "\(seed)")
            // y = Σ w·R(x): dy/dw = x (unchanged), dy/dx = −λ·w.
            try (reversed * w).sum().backward()
            #expect(try w.grad?.values() == values, "\(seed)")
            let expected = weights.map { -lambda * $0 }
            let got = try #require(x.grad).values()
            #expect(zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "λ \(lambda): \(got) (\(seed))")
        }
        let x = try Tensor([1, 2], shape: [2], on: device, requiresGrad: true)
        #expect(throws: TandemError.self) { _ = try x.reversingGradient(lambda: -1) }
        #expect(throws: TandemError.self) { _ = try x.reversingGradient(lambda: .nan) }
    }
}
