import Testing
@testable import Tandem
@testable import TandemOpenCL
import TandemKernels

#if canImport(Glibc)
import Glibc
#endif

@Suite("OpenCL programs")
struct ProgramCacheTests {
    /// A tiny kernel; a unique constant makes each test's source (and so its cache key) its own.
    static func source(_ tag: Int) -> String {
        "__kernel void add_tag(__global float* y, const int n) { int i = get_global_id(0); if (i < n) y[i] += \(tag).0f; }"
    }

    @Test("a kernel that fails to compile throws an error carrying the build log", arguments: openCLSelectors)
    func buildLog(selector: String) throws {
        let device = try openCL(selector)
        do {
            try device.buildProgram(name: "broken", source: "__kernel void broken(__global float* y) { y[0] = undeclared_thing; }")
            Issue.record("a broken kernel compiled")
        } catch let TandemError.buildFailed(program, deviceName, log) {
            #expect(program == "broken")
            #expect(deviceName.contains(selector))
            #expect(log.contains("undeclared_thing"))
        }
    }

    @Test("the second build of a program is a cache hit, in memory and on disk", arguments: openCLSelectors)
    func cacheHits(selector: String) throws {
        let handle = try #require(OpenCLDiscovery.current.devices.first { $0.info.selector == selector })
        let directory = temporaryDirectory("cache-hit")
        let source = Self.source(Int.random(in: 1...1_000_000))

        let first = try OpenCLDevice(handle, cacheDirectory: directory)
        #expect(try first.buildProgram(name: "tag", source: source) == ["add_tag"])
        #expect(first.programCacheStatistics.compiled == 1)
        try first.buildProgram(name: "tag", source: source)
        #expect(first.programCacheStatistics.memoryHits == 1)
        #expect(first.programCacheStatistics.compiled == 1)

        // A new device object stands for a second process: it finds the binary on disk.
        let second = try OpenCLDevice(handle, cacheDirectory: directory)
        try second.buildProgram(name: "tag", source: source)
        #expect(second.programCacheStatistics.diskHits == 1)
        #expect(second.programCacheStatistics.compiled == 0)
    }

    @Test("a corrupt or truncated cache entry is ignored and rebuilt", arguments: openCLSelectors)
    func corruptEntry(selector: String) throws {
        let handle = try #require(OpenCLDiscovery.current.devices.first { $0.info.selector == selector })
        let directory = temporaryDirectory("cache-corrupt")
        let source = Self.source(Int.random(in: 1...1_000_000))
        let first = try OpenCLDevice(handle, cacheDirectory: directory)
        try first.buildProgram(name: "tag", source: source)
        let path = try #require(first.programs.cachePath(source: source, options: OpenCLDevice.buildOptions))
        let original = try #require(System.readFile(path))

        let damaged: [[UInt8]] = [
            Array(original.prefix(original.count / 2)),                         // truncated
            original.enumerated().map { $0.offset == original.count - 5 ? ~$0.element : $0.element },  // one flipped byte
            Array("TNDMPRG1".utf8) + [UInt8](repeating: 0xff, count: 40),     // garbage after the magic
            [],                                                                // empty
        ]
        for bytes in damaged {
            #expect(System.writeFileAtomically(path, bytes))
            let device = try OpenCLDevice(handle, cacheDirectory: directory)
            try device.buildProgram(name: "tag", source: source)
            #expect(device.programCacheStatistics.compiled == 1)
            #expect(device.programCacheStatistics.rejectedDiskEntries == 1)
            // The rewritten entry is whole again.
            #expect(System.readFile(path) != nil)
        }
        let healed = try OpenCLDevice(handle, cacheDirectory: directory)
        try healed.buildProgram(name: "tag", source: source)
        #expect(healed.programCacheStatistics.diskHits == 1)
    }

    @Test("the embedded kernels compile with the ABI header and hold exactly the kernels the launches name",
          arguments: openCLSelectors)
    func embedded(selector: String) throws {
        let device = try openCL(selector)
        #expect(EmbeddedKernels.sources.keys.contains("fill"))
        for name in EmbeddedKernels.sources.keys {
            let source = try #require(EmbeddedKernels.program(named: name))
            let built = Set(try device.buildProgram(name: name, source: source))
            #expect(built == Set(KernelID.all.filter { $0.program == name }.map(\.name)), "\(name).cl")
        }
    }
}
