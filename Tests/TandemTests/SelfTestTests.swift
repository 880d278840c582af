import Testing
@testable import Tandem

/// A device that computes like the CPU except that `exp` is off by 1%: what a buggy driver looks
/// like. It implements only the basic primitives (`ComposedDevice`), as a new backend would.
final class BrokenExpDevice: ComposedDevice, @unchecked Sendable {
    init() { super.init(CPUDevice.shared, selectorSuffix: "-broken") }

    override func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws {
        try base.unary(op, x, y, count: count, scalar: scalar)
        if op == .exp { try base.unary(.mulScalar, y, y, count: count, scalar: 1.01) }
    }
}

@Suite("Self-test")
struct SelfTestTests {
    @Test("on a device that computes exp wrongly, the self-test names exp and the ops built on it, and passes the rest")
    func namesTheWrongOp() throws {
        let results = SelfTest.run(on: BrokenExpDevice(), seed: 5)
        let failed = Set(results.filter { !$0.passed }.map(\.op))
        #expect(failed.contains("exp"))
        #expect(!failed.contains("neg"))
        #expect(!failed.contains("matmul"))
        #expect(!failed.contains("sigmoid"))
        #expect(failed.count < results.count / 2)
        #expect(results.allSatisfy { $0.failure == nil })
    }

    @Test("every op built on fused primitives gives the same results with them composed of the basic set",
          arguments: allSelectors)
    func composedMatchesFused(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        let results = SelfTest.composed(on: device, seed: seed.value)
        #expect(results.count == OpCatalog.usingFusedPrimitives.count)
        for result in results {
            #expect(result.passed, "\(result.op) on \(selector): \(result) (\(seed))")
        }
    }
}

/// Each backend runs its own fused kernels; only the primitives it leaves to the reference
/// compositions show up in `Composed.defaults(of:)`.
@Suite("Fused primitives")
struct FusedPrimitiveTests {
    /// The fused primitives each kind of device deliberately takes from `Composed`.
    static func composedByDesign(_ device: any Device) -> Set<String> {
        device.info.kind == .cpu ? ["im2col", "col2im"] : ["conv2dForward", "conv2dInputGradient"]
    }

    @Test("the ops built on fused primitives run the device's own kernels, except those it composes by design",
          arguments: allSelectors)
    func ownKernels(selector: String) throws {
        let device = try Devices.select(selector)
        let seed = TestSeed()
        for (index, op) in OpCatalog.usingFusedPrimitives.enumerated() {
            #expect(op.check(on: device, seed: seed.derived(index)).passed, "\(op.name) (\(seed))")
        }
        let composed = Set(Composed.defaults(of: device).keys)
        #expect(composed.isSubset(of: Self.composedByDesign(device)), "\(selector) composed \(composed.sorted())")
        if device.info.kind == .opencl {
            #expect(composed == Self.composedByDesign(device), "\(selector) composed \(composed.sorted())")
        }
    }

    @Test("a device with only the basic primitives composes every fused one it is asked for")
    func composedDevice() throws {
        let device = ComposedDevice(CPUDevice.shared)
        for (index, op) in OpCatalog.usingFusedPrimitives.enumerated() {
            _ = op.check(on: device, seed: UInt64(index + 1))
        }
        let expected: Set<String> = ["conv2dForward", "conv2dInputGradient", "conv2dWeightGradient", "im2col", "col2im",
                                     "batchNormForward", "batchNormBackward", "attentionGate", "attentionGateBackward",
                                     "crossStitch", "crossStitchAlphaGradient", "sgdUpdate", "adamUpdate",
                                     "logSoftmax", "logSoftmaxBackward", "nllLoss", "nllLossBackward", "addChannelBias", "channelSums",
                                     "gatedChannelSums"]
        #expect(Set(Composed.defaults(of: device).keys) == expected)
    }
}
