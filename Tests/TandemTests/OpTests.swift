import Testing
@testable import Tandem

/// Every op of the catalog on every device: the CPU against float64, each device against the CPU
/// on fresh random inputs, gradients against central finite differences, outputs poisoned.
@Suite("Ops")
struct OpTests {
    static let names = OpCatalog.all.map(\.name)

    @Test("op matches its reference and its gradient matches finite differences", arguments: names, allSelectors)
    func op(name: String, selector: String) throws {
        let device = try Devices.select(selector)
        let op = try #require(OpCatalog.all.first { $0.name == name })
        let seed = TestSeed()
        let result = op.check(on: device, seed: seed.value)
        #expect(result.failure == nil, "\(name) on \(selector): \(result.failure ?? "") (\(seed))")
        #expect(result.forwardMaxRelativeError <= op.tolerance,
                "\(name) on \(selector): forward error \(result.forwardMaxRelativeError) (\(seed))")
        #expect((result.backwardMaxRelativeError ?? 0) <= op.gradientTolerance,
                "\(name) on \(selector): gradient error \(result.backwardMaxRelativeError ?? 0) (\(seed))")
    }
}

@Suite("Max pooling rules")
struct MaxPoolRuleTests {
    /// The first maximum of each window wins, a NaN beats every number, and the first NaN stays.
    static func reference(_ x: [Float], planes: Int, height: Int, width: Int) -> (values: [Float], indices: [Float]) {
        let oh = height / 2, ow = width / 2
        var values: [Float] = [], indices: [Float] = []
        for p in 0..<planes {
            for r in 0..<oh {
                for c in 0..<ow {
                    var best = Float.nan, bestIndex = -1
                    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let index = (2 * r + i) * width + 2 * c + j, v = x[p * height * width + index]
                        if bestIndex < 0 || (!best.isNaN && (v.isNaN || v > best)) { best = v; bestIndex = index }
                    }
                    values.append(best)
                    indices.append(Float(bestIndex))
                }
            }
        }
        return (values, indices)
    }

    @Test("2×2 windows over wide rows (the vectorised path) keep ties, NaN and the first index", arguments: allSelectors)
    func wideRows(selector: String) throws {
        let device = try Devices.select(selector)
        let (planes, height, width) = (6, 6, 46)  // 23 windows per row: two blocks of eight, one of four and three more.
        let seed = TestSeed()
        var random = seed.generator
        // Few distinct values, so ties are common; some NaN.
        var x = random.uniform(planes * height * width).map { ($0 * 4).rounded() }
        for i in stride(from: 5, to: x.count, by: 23) { x[i] = .nan }
        let (values, indices) = try Tensor(x, shape: [2, 3, height, width], on: device).maxPool2d(kernel: (2, 2))
        let expected = Self.reference(x, planes: planes, height: height, width: width)
        let got = try values.values(), gotIndices = try indices.values()
        #expect(gotIndices == expected.indices, "\(seed)")
        #expect(zip(got, expected.values).allSatisfy { $0.isNaN ? $1.isNaN : $0 == $1 }, "\(seed)")
    }
}
