import Testing
@testable import Tandem
@testable import TandemOpenCL
import TandemKernels

/// Device failures are found where they happen and reported as what they are.
@Suite("Device failures")
struct DeviceFailureTests {
    @Test("a buffer above the device's largest allocation is refused as too large, not as out of memory",
          arguments: openCLSelectors)
    func allocationAboveMaximum(selector: String) throws {
        let device = try openCL(selector)
        let limit = device.info.maxAllocationBytes
        try #require(limit > 0, "\(selector) reports no CL_DEVICE_MAX_MEM_ALLOC_SIZE")
        do {
            _ = try device.allocate(limit / 4 + 1)
            Issue.record("an allocation above the maximum succeeded")
        } catch let TandemError.allocationTooLarge(name, bytes, reported) {
            #expect(name.contains(selector) && bytes == (limit / 4 + 1) * 4 && reported == limit)
        }
        _ = try device.allocate(1024)  // the device still works
    }

    @Test("a launch that runs out of memory is retried once after the pool gives its cache back",
          arguments: openCLSelectors)
    func outOfMemoryAtLaunchRetries(selector: String) throws {
        let device = try privateOpenCL(selector)
        let cached = try device.allocate(4096)
        let buffer = try device.allocate(257)
        _ = consume cached  // back in the pool's cache
        #expect(device.poolStatistics.bytesCached > 0)
        device.injectLaunchFailures([-4])  // CL_MEM_OBJECT_ALLOCATION_FAILURE, as NVIDIA reports it
        try device.fill(buffer, value: 3, offset: 0, count: 257)
        #expect(device.poolStatistics.bytesCached == 0)
        #expect(try device.download(buffer).allSatisfy { $0 == 3 })
    }

    @Test("out of memory at a launch that persists names the kernel and the bytes its buffers hold",
          arguments: openCLSelectors)
    func outOfMemoryAtLaunch(selector: String) throws {
        let device = try privateOpenCL(selector)
        let buffer = try device.allocate(1000)
        device.injectLaunchFailures([-4, -4])
        do {
            try device.fill(buffer, value: 1, offset: 0, count: 1000)
            Issue.record("the failure was not reported")
        } catch let TandemError.outOfMemoryRunning(op, name, bytes) {
            #expect(op.contains("fill_f32") && name.contains(selector) && bytes == 4000)
        }
    }

    @Test("a device fault names the last kernel queued", arguments: openCLSelectors)
    func faultNamesKernel(selector: String) throws {
        let device = try privateOpenCL(selector)
        let a = try device.buffer([1, 2, 3]), b = try device.allocate(3)
        try device.unary(.neg, a, b, count: 3, scalar: 0)
        device.injectLaunchFailures([-5, -5])  // CL_OUT_OF_RESOURCES twice: not memory the pool can free
        do {
            try device.fill(b, value: 0, offset: 0, count: 3)
            Issue.record("the failure was not reported")
        } catch let TandemError.kernelFault(kernel, _, status) {
            #expect(kernel.contains("unary_f32") && status.contains("CL_OUT_OF_RESOURCES") && status.contains("fill_f32"))
        }
    }

    @Test("a work-group larger than the kernel allows is refused, naming the kernel and the limit",
          arguments: openCLSelectors)
    func workGroupLimit(selector: String) throws {
        let device = try openCL(selector)
        let buffer = try device.allocate(64)
        let tooBig = device.info.maxWorkGroupSize * 2
        do {
            try device.fill_f32(global: [tooBig], local: [tooBig], y: buffer, offset: 0, count: 64, value: 0)
            Issue.record("the launch was accepted")
        } catch let TandemError.launchLimit(kernel, _, message) {
            #expect(kernel.contains("fill_f32") && message.contains("\(tooBig)"))
        }
    }

    @Test("every kernel builds without optimisation as well (-cl-opt-disable)", arguments: openCLSelectors)
    func buildsUnoptimised(selector: String) throws {
        let device = try openCL(selector)
        for name in EmbeddedKernels.sources.keys.sorted() {
            let source = try #require(EmbeddedKernels.program(named: name))
            let built = try device.buildProgram(name: name + "-O0", source: source, options: OpenCLDevice.buildOptions + " -cl-opt-disable")
            #expect(Set(built) == Set(KernelID.all.filter { $0.program == name }.map(\.name)), "\(name)")
        }
    }
}
