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
func privateOpenCL(_ selector: String) throws -> OpenCLDevice {
    let handle = try #require(OpenCLDiscovery.current.devices.first { $0.info.selector == selector })
    return try OpenCLDevice(handle)
}
