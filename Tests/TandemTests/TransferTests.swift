import Testing
@testable import Tandem

@Suite("Host transfers")
struct TransferTests {
    @Test("a training step of a small conv net reads nothing back but the scalar loss", arguments: openCLSelectors)
    func convNetStep(selector: String) throws {
        let device = try privateOpenCL(selector)
        let random = RandomSource(seed: 9)
        let net = Sequential(try Conv2d(1, 4, kernel: 3, padding: 1, random: random, on: device), try BatchNorm(4, on: device),
                             Activation.relu, MaxPool2d(2), Flatten(), try Linear(4 * 5 * 5, 3, random: random, on: device))
        let x = try Tensor(random.uniform(6 * 10 * 10, low: -1, high: 1), shape: [6, 1, 10, 10], on: device)
        let target = try Tensor([0, 1, 2, 1, 0, 2], shape: [6], on: device)
        let optimizer = try SGD(net.parameters, learningRate: 0.1, momentum: 0.9)
        try device.synchronize()
        let before = device.transferStatistics
        var losses: [Float] = []
        for _ in 0..<3 {
            optimizer.zeroGrad()
            let loss = try Tensor.crossEntropy(logits: net(x), target: target)
            try loss.backward()
            _ = try Tensor.clipGradientNorm(net.parameters, maxNorm: 5)
            try optimizer.step()
            losses.append(try loss.item())
        }
        let after = device.transferStatistics
        #expect(after.downloads - before.downloads == 3, "one scalar read per step")
        #expect(after.bytesDownloaded - before.bytesDownloaded == 3 * 4)
        #expect(after.uploads == before.uploads, "no uploads inside a step")
        #expect(losses[2] < losses[0])
    }

    @Test("staging memory (page-locked on OpenCL): zeroed, read into and written from without arrays, at odd sizes; a wrong length is an error",
          arguments: allSelectors)
    func staging(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        var random = SplitMix64(seed: seed.value)
        for count in [1, 7, 1023, 65_537] {
            let staging = try device.makeStaging(count)
            #expect(staging.values.count == count && staging.values.allSatisfy { $0 == 0 }, "\(seed)")
            let values = random.uniform(count)
            let tensor = try Tensor(values, shape: [count], on: device)
            try tensor.copyValues(into: staging.values)
            #expect(Array(staging.values) == values, "\(count) (\(seed))")
            for i in staging.values.indices { staging.values[i] *= -2 }
            let back = try Tensor(UnsafeBufferPointer(staging.values), shape: [count], on: device)
            #expect(try back.values() == values.map { $0 * -2 }, "\(count) (\(seed))")
            #expect(throws: TandemError.self) { try tensor.copyValues(into: UnsafeMutableBufferPointer(rebasing: staging.values.dropLast())) }
            #expect(throws: TandemError.self) { _ = try Tensor(UnsafeBufferPointer(staging.values), shape: [count + 1], on: device) }
        }
    }
}
