import Testing
@testable import Tandem

@Suite("Device selection")
struct DeviceSelectionTests {
    static let cpu = DeviceInfo(selector: "cpu", kind: .cpu, type: .cpu, name: "host", platform: "OpenBLAS", driver: "",
                                computeUnits: 2, globalMemoryBytes: 0, maxWorkGroupSize: 1, localMemoryBytes: 0)
    static func cl(_ index: Int, _ type: DeviceType) -> DeviceInfo {
        DeviceInfo(selector: "opencl:\(index)", kind: .opencl, type: type, name: "dev\(index)", platform: "p", driver: "",
                   computeUnits: 1, globalMemoryBytes: 0, maxWorkGroupSize: 64, localMemoryBytes: 0)
    }

    @Test("valid selector strings parse", arguments: [
        ("cpu", DeviceSelector.cpu), ("CPU", .cpu), ("opencl", .opencl(index: nil)), ("opencl:0", .opencl(index: 0)),
        ("opencl:12", .opencl(index: 12)), ("gpu", .gpu), ("auto", .auto),
    ])
    func parses(text: String, expected: DeviceSelector) throws {
        #expect(try DeviceSelector(parsing: text) == expected)
    }

    @Test("invalid selector strings are errors", arguments: ["cuda", "opencl:", "opencl:-1", "opencl:x", "gpu:0", "cpu1"])
    func rejects(text: String) {
        #expect(throws: TandemError.self) { try DeviceSelector(parsing: text) }
    }

    @Test("selectors resolve to the documented device")
    func resolves() throws {
        let machine = [Self.cpu, Self.cl(0, .cpu), Self.cl(1, .gpu), Self.cl(2, .gpu)]
        #expect(try DeviceSelector.auto.resolve(in: machine).selector == "opencl:1")
        #expect(try DeviceSelector.gpu.resolve(in: machine).selector == "opencl:1")
        #expect(try DeviceSelector.opencl(index: nil).resolve(in: machine).selector == "opencl:0")
        #expect(try DeviceSelector.opencl(index: 2).resolve(in: machine).selector == "opencl:2")
        #expect(try DeviceSelector.cpu.resolve(in: machine).selector == "cpu")
        // No GPU: auto takes the CPU device, not an OpenCL device that is a CPU (PoCL is slower there);
        // that one stays available by name.
        #expect(try DeviceSelector.auto.resolve(in: [Self.cpu, Self.cl(0, .cpu)]).selector == "cpu")
        #expect(try DeviceSelector.opencl(index: 0).resolve(in: [Self.cpu, Self.cl(0, .cpu)]).selector == "opencl:0")
        #expect(try DeviceSelector.auto.resolve(in: [Self.cpu]).selector == "cpu")
    }

    @Test("auto and gpu pick a discrete GPU over an integrated one listed first; name: picks by name")
    func ranksDiscreteFirst() throws {
        func gpu(_ index: Int, integrated: Bool, memory: Int, name: String) -> DeviceInfo {
            DeviceInfo(selector: "opencl:\(index)", kind: .opencl, type: .gpu, name: name, platform: "p", driver: "",
                       computeUnits: 1, globalMemoryBytes: memory, maxWorkGroupSize: 256, localMemoryBytes: 0,
                       hostUnifiedMemory: integrated)
        }
        let laptop = [Self.cpu, gpu(0, integrated: true, memory: 16 << 30, name: "Intel Iris Xe"),
                      Self.cl(1, .cpu), gpu(2, integrated: false, memory: 8 << 30, name: "NVIDIA RTX 3060"),
                      gpu(3, integrated: false, memory: 24 << 30, name: "NVIDIA RTX 4090")]
        #expect(try DeviceSelector.auto.resolve(in: laptop).selector == "opencl:3")
        #expect(try DeviceSelector.gpu.resolve(in: laptop).selector == "opencl:3")
        #expect(DeviceSelector.ranked(laptop.filter { $0.kind == .opencl }).map(\.selector) == ["opencl:3", "opencl:2", "opencl:0", "opencl:1"])
        #expect(try DeviceSelector(parsing: "name:3060").resolve(in: laptop).selector == "opencl:2")
        #expect(try DeviceSelector(parsing: "name:iris").resolve(in: laptop).selector == "opencl:0")
        #expect(try DeviceSelector(parsing: "name:nvidia").resolve(in: laptop).selector == "opencl:3")
        #expect(throws: TandemError.self) { try DeviceSelector(parsing: "name:radeon").resolve(in: laptop) }
        #expect(throws: TandemError.self) { try DeviceSelector(parsing: "name:") }
        // Only an integrated GPU: it is still the GPU auto picks.
        #expect(try DeviceSelector.auto.resolve(in: Array(laptop.prefix(3))).selector == "opencl:0")
    }

    @Test("a missing device is an error that lists what exists")
    func missingListsAvailable() {
        let machine = [Self.cpu, Self.cl(0, .cpu)]
        #expect(throws: TandemError.deviceNotFound(selector: "gpu", available: machine.map(\.description))) {
            try DeviceSelector.gpu.resolve(in: machine)
        }
        #expect(throws: TandemError.deviceNotFound(selector: "opencl:5", available: machine.map(\.description))) {
            try DeviceSelector.opencl(index: 5).resolve(in: machine)
        }
    }

    @Test("the registry opens each device once and refuses unknown selectors")
    func registry() throws {
        #expect(try Devices.select("cpu") === CPUDevice.shared)
        for selector in openCLSelectors {
            #expect(try Devices.select(selector) === (try Devices.select(selector)))
        }
        do {
            _ = try Devices.select("opencl:99")
            Issue.record("opencl:99 should not exist")
        } catch let TandemError.deviceNotFound(selector, available) {
            #expect(selector == "opencl:99")
            #expect(available.contains { $0.hasPrefix("cpu") })
        }
        #expect(throws: TandemError.self) { try Devices.select("tpu") }
    }

    @Test("this machine lists the CPU first, then OpenCL devices numbered in order")
    func listing() {
        let all = Devices.all
        #expect(all.first?.kind == .cpu)
        #expect(all.dropFirst().map(\.selector) == (0..<(all.count - 1)).map { "opencl:\($0)" })
        #expect(all.allSatisfy { $0.computeUnits >= 1 && !$0.name.isEmpty })
    }
}
