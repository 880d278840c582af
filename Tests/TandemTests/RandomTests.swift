import Testing
@testable import Tandem

/// The counter-based uniform stream (`Primitives.uniform`) and dropout built on it.
@Suite("Random")
struct RandomTests {
    /// `count` values of stream `seed` from position `offset` on `device`.
    func draw(_ device: any Device, count: Int, seed: UInt64, offset: Int = 0) throws -> [Float] {
        let buffer = try device.allocate(count)
        try device.uniform(buffer, count: count, seed: seed, offset: offset)
        return try device.download(buffer)
    }

    /// The construction the primitive documents, written out independently.
    func expected(seed: UInt64, index: UInt64) -> Float {
        func finalize(_ value: UInt64) -> UInt64 {
            var z = value
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let key = finalize(seed ^ 0x6A09_E667_F3BC_C909)
        return Float(finalize(key &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15) >> 40) / 16_777_216
    }

    @Test("the same seed gives bit-identical values on every device, as documented", arguments: allSelectors)
    func identicalEverywhere(selector: String) throws {
        let device = try Devices.select(selector)
        for seed: UInt64 in [0, 1, 0xDEAD_BEEF_CAFE_F00D, .max] {
            let got = try draw(device, count: 1_001, seed: seed)
            let cpu = try draw(CPUDevice.shared, count: 1_001, seed: seed)
            #expect(got.map(\.bitPattern) == cpu.map(\.bitPattern), "seed \(seed) on \(selector)")
            #expect(got == (0..<1_001).map { expected(seed: seed, index: UInt64($0)) }, "seed \(seed) on \(selector)")
        }
    }

    @Test("values lie in [0, 1); different seeds and offsets give different values", arguments: allSelectors)
    func differentStreams(selector: String) throws {
        let device = try Devices.select(selector)
        let a = try draw(device, count: 4_096, seed: 7), b = try draw(device, count: 4_096, seed: 8)
        let c = try draw(device, count: 4_096, seed: 7, offset: 4_096)
        #expect(a.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(zip(a, b).filter { $0 == $1 }.count < 10)
        #expect(zip(a, c).filter { $0 == $1 }.count < 10)
        #expect(Set(a).count > 4_000)
    }

    @Test("an offset continues the stream", arguments: allSelectors)
    func offsetContinues(selector: String) throws {
        let device = try Devices.select(selector)
        let whole = try draw(device, count: 5_000, seed: 42)
        for offset in [1, 17, 1_024, 4_999] {
            let part = try draw(device, count: 5_000 - offset, seed: 42, offset: offset)
            #expect(part == Array(whole[offset...]), "offset \(offset) on \(selector)")
        }
        // Far along the stream (past 32 bits of position) the device still matches the CPU.
        let far = 5_000_000_000
        #expect(try draw(device, count: 100, seed: 3, offset: far) == (try draw(CPUDevice.shared, count: 100, seed: 3, offset: far)))
    }

    @Test("mean ≈ 1/2 and variance ≈ 1/12 over 10^5 samples", arguments: allSelectors)
    func moments(selector: String) throws {
        let device = try Devices.select(selector)
        let n = 100_000
        let x = try draw(device, count: n, seed: 2_024).map(Double.init)
        let mean = x.reduce(0, +) / Double(n)
        let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        // Standard errors: 0.29/√n ≈ 0.0009 for the mean, 0.075/√n ≈ 0.00024 for the variance.
        #expect(abs(mean - 0.5) < 0.005, "mean \(mean) on \(selector)")
        #expect(abs(variance - 1.0 / 12) < 0.0015, "variance \(variance) on \(selector)")
        // Each tenth of [0, 1) gets its share (±5%).
        var bins = [Int](repeating: 0, count: 10)
        for v in x { bins[Int(v * 10)] += 1 }
        #expect(bins.allSatisfy { abs($0 - n / 10) < n / 200 }, "bins \(bins) on \(selector)")
    }

    @Test("a negative offset is refused", arguments: allSelectors)
    func negativeOffset(selector: String) throws {
        let device = try Devices.select(selector)
        let buffer = try device.allocate(4)
        #expect(throws: TandemError.self) { try device.uniform(buffer, count: 4, seed: 1, offset: -1) }
    }

    @Test("dropout keeps about 1 − p of the elements, scaled by 1/(1 − p), the same on every device", arguments: allSelectors)
    func dropout(selector: String) throws {
        let device = try Devices.select(selector)
        let x = try Tensor.ones([20, 50, 10], on: device)
        let y = try x.dropout(p: 0.3, seed: 9).values()
        let kept = y.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 1 / 0.7) < 1e-6 })
        #expect(abs(Double(kept.count) / Double(y.count) - 0.7) < 0.02, "kept \(kept.count) of \(y.count) on \(selector)")
        let cpu = try Tensor.ones([20, 50, 10], on: CPUDevice.shared).dropout(p: 0.3, seed: 9).values()
        #expect(y == cpu)
        #expect(try x.dropout(p: 0.3, seed: 10).values() != y)
        #expect(try x.dropout(p: 0.3, seed: 9, training: false).values() == (try x.values()))
        #expect(try x.dropout(p: 0, seed: 9).values() == (try x.values()))
    }

    @Test("dropout2d drops whole channels", arguments: allSelectors)
    func dropout2d(selector: String) throws {
        let device = try Devices.select(selector)
        let y = try Tensor.ones([8, 16, 3, 5], on: device).dropout2d(p: 0.5, seed: 5).values()
        var dropped = 0
        for plane in 0..<(8 * 16) {
            let values = Set(y[(plane * 15)..<(plane * 15 + 15)])
            #expect(values == [0] || values == [2], "plane \(plane) on \(selector): \(values)")
            if values == [0] { dropped += 1 }
        }
        #expect(dropped > 30 && dropped < 98, "\(dropped) of 128 channels dropped on \(selector)")
    }

    @Test("a drop probability outside [0, 1) is an error naming the op")
    func invalidProbability() throws {
        let x = try Tensor.ones([2, 3, 4, 4], on: CPUDevice.shared)
        for p: Float in [-0.1, 1, 1.5, .nan] {
            #expect(throws: TandemError.self) { try x.dropout(p: p, seed: 1) }
            #expect(throws: TandemError.self) { try x.dropout2d(p: p, seed: 1, training: false) }
        }
        do {
            _ = try x.dropout(p: 1, seed: 1)
            Issue.record("expected an error")
        } catch let error as TandemError {
            #expect("\(error)".contains("dropout"))
            #expect("\(error)".contains("[0, 1)"))
        }
        #expect(throws: TandemError.self) { try Tensor.ones([5], on: CPUDevice.shared).dropout2d(p: 0.5, seed: 1) }
    }
}
