import Testing
@testable import Tandem

@Suite("GEMM")
struct GEMMTests {
    @Test("every GEMM case matches the float64 reference", arguments: allSelectors)
    func matchesReference(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        for (index, item) in SelfTest.gemmCases.enumerated() {
            let error = try SelfTest.checkGEMM(item.gemm, on: device, seed: seed.derived(index))
            #expect(error <= 1e-4, "\(item.name) on \(selector): relative error \(error) (\(seed))")
        }
    }

    @Test("both OpenCL GEMMs (CLBlast and the tiled kernel) match the float64 reference", arguments: openCLSelectors)
    func bothOpenCLImplementations(selector: String) throws {
        let seed = TestSeed()
        for implementation in [OpenCLDevice.GEMMImplementation.clblast, .tiled] {
            let device = try privateOpenCL(selector, options: .init(gemm: implementation))
            for (index, item) in SelfTest.gemmCases.enumerated() {
                let error = try SelfTest.checkGEMM(item.gemm, on: device, seed: seed.derived(index))
                #expect(error <= 1e-4, "\(item.name) on \(selector) with \(implementation): relative error \(error) (\(seed))")
            }
        }
    }

    @Test("GEMM writes every element of C when beta is 0", arguments: allSelectors)
    func writesEveryElement(selector: String) throws {
        let device = try Devices.select(selector)
        let g = GEMM(m: 31, n: 7, k: 3)
        let a = try device.buffer([Float](repeating: 1, count: 93)), b = try device.buffer([Float](repeating: 2, count: 21))
        let c = try device.buffer([Float](repeating: .nan, count: 217))
        try device.gemm(g, a: a, b: b, c: c)
        #expect(try device.download(c).allSatisfy { $0 == 6 })
    }

    @Test("a GEMM that would read or write outside its buffers is refused", arguments: allSelectors)
    func refusesOutOfBounds(selector: String) throws {
        let device = try Devices.select(selector)
        let a = try device.allocate(12), b = try device.allocate(12), c = try device.allocate(9)
        var g = GEMM(m: 3, n: 3, k: 4)
        try device.gemm(g, a: a, b: b, c: c)  // Exactly fits.
        g.offsetC = 1
        #expect(throws: TandemError.self) { try device.gemm(g, a: a, b: b, c: c) }
        g = GEMM(m: 3, n: 3, k: 4)
        g.lda = 3
        #expect(throws: TandemError.self) { try device.gemm(g, a: a, b: b, c: c) }
        g = GEMM(m: 3, n: 3, k: 4, batchCount: 2)
        #expect(throws: TandemError.self) { try device.gemm(g, a: a, b: b, c: c) }
        g = GEMM(m: -1, n: 3, k: 4)
        #expect(throws: TandemError.self) { try device.gemm(g, a: a, b: b, c: c) }
        // Blocks of C side by side in the same rows are fine when they do not overlap.
        let wide = try device.allocate(3 * 7)
        g = GEMM(m: 3, n: 3, k: 1, batchCount: 2)
        (g.ldc, g.strideC, g.strideA, g.strideB) = (7, 3, 0, 0)
        try device.gemm(g, a: a, b: b, c: wide)
        g.strideC = 2
        #expect(throws: TandemError.self) { try device.gemm(g, a: a, b: b, c: wide) }
    }

    @Test("the error of a refused GEMM names the op, the sizes and the device")
    func errorMessage() throws {
        let device = try Devices.select("cpu")
        let small = try device.allocate(4)
        do {
            try device.gemm(GEMM(m: 3, n: 3, k: 4), a: small, b: small, c: small)
            Issue.record("expected an error")
        } catch let error as TandemError {
            let text = "\(error)"
            #expect(text.contains("gemm(m: 3, n: 3, k: 4"))
            #expect(text.contains("on cpu"))
            #expect(text.contains("A needs 12 elements, buffer has 4"))
        }
    }
}

@Suite("Device memory")
struct MemoryTests {
    @Test("upload, fill and download round-trip and respect ranges", arguments: allSelectors)
    func roundTrip(selector: String) throws {
        let device = try Devices.select(selector)
        let buffer = try device.allocate(37)
        try device.fill(buffer, value: .nan, offset: 0, count: 37)
        try device.upload((0..<20).map(Float.init), to: buffer, offset: 5)
        try device.fill(buffer, value: -1, offset: 0, count: 5)
        try device.fill(buffer, value: 7, offset: 25, count: 12)
        let values = try device.download(buffer)
        #expect(values == [Float](repeating: -1, count: 5) + (0..<20).map(Float.init) + [Float](repeating: 7, count: 12))
        #expect(try device.download(buffer, offset: 6, count: 2) == [1, 2])
        #expect(throws: TandemError.self) { try device.upload([1, 2], to: buffer, offset: 36) }
        #expect(throws: TandemError.self) { try device.download(buffer, offset: -1, count: 2) }
        #expect(throws: TandemError.self) { try device.fill(buffer, value: 0, offset: 30, count: 8) }
        #expect(throws: TandemError.self) { try device.allocate(-3) }
    }

    @Test("freed OpenCL buffers are reused by the pool", arguments: openCLSelectors)
    func poolReuse(selector: String) throws {
        let device = try privateOpenCL(selector)
        let count = 12_345  // A size no other test uses, so the first allocation is fresh.
        let before = device.poolStatistics
        do { _ = try device.allocate(count) }
        let afterFirst = device.poolStatistics
        #expect(afterFirst.allocations == before.allocations + 1)
        #expect(afterFirst.bytesCached >= before.bytesCached + count * 4)
        let second = try device.allocate(count)
        let afterSecond = device.poolStatistics
        #expect(afterSecond.reuses == afterFirst.reuses + 1)
        #expect(afterSecond.allocations == afterFirst.allocations)
        #expect(afterSecond.bytesInUse >= count * 4)
        _ = second
    }
}
