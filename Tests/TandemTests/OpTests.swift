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
        let result = op.check(on: device, seed: UInt64.random(in: 1...UInt64.max))
        #expect(result.failure == nil, "\(name) on \(selector): \(result.failure ?? "")")
        #expect(result.forwardMaxRelativeError <= op.tolerance, "\(name) on \(selector): forward error \(result.forwardMaxRelativeError)")
        #expect((result.backwardMaxRelativeError ?? 0) <= op.gradientTolerance,
                "\(name) on \(selector): gradient error \(result.backwardMaxRelativeError ?? 0)")
    }
}
