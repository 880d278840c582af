import Testing
@testable import Tandem

/// Selectors of every device on this machine: the CPU and each OpenCL device.
let allSelectors: [String] = Devices.all.map(\.selector)

/// Selectors of the OpenCL devices only.
let openCLSelectors: [String] = Devices.all.filter { $0.kind == .opencl }.map(\.selector)

/// The shared OpenCL device for `selector`.
func openCL(_ selector: String) throws -> OpenCLDevice {
    try #require(try Devices.select(selector) as? OpenCLDevice)
}

/// A fresh empty directory under /tmp, for cache tests.
func temporaryDirectory(_ name: String) -> String {
    var random = SystemRandomNumberGenerator()
    let path = "/tmp/tandem-test-\(name)-\(random.next() % 1_000_000_000)"
    System.makeDirectories(path)
    return path
}

/// A private OpenCL device object for `selector` (its own context, queue and pool), so tests that
/// read pool or transfer counters are not disturbed by suites running in parallel.
func privateOpenCL(_ selector: String, options: OpenCLDevice.Options? = nil) throws -> OpenCLDevice {
    let handle = try #require(OpenCLDiscovery.current.devices.first { $0.info.selector == selector })
    guard let options else { return try OpenCLDevice(handle) }
    return try OpenCLDevice(handle, options: options)
}

/// The seed of a randomised test: `$TANDEM_TEST_SEED` when set, so a failure can be replayed with
/// exactly its inputs, else a fresh one each run. Its description goes into every failure message.
struct TestSeed: CustomStringConvertible, Sendable {
    let value: UInt64

    init() {
        if let text = System.environment("TANDEM_TEST_SEED"), let fixed = UInt64(text) {
            value = fixed
        } else {
            value = UInt64.random(in: 1...UInt64.max)
        }
    }

    /// A generator seeded with this seed.
    var generator: SplitMix64 { SplitMix64(seed: value) }

    /// The seed of the `index`-th draw of a test that checks several cases with one seed.
    func derived(_ index: Int) -> UInt64 { value &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15 }

    var description: String { "seed \(value); replay with TANDEM_TEST_SEED=\(value)" }
}
