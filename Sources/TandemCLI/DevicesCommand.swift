import ArgumentParser
import Tandem

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the CPU and every OpenCL device, with the selector that chooses each.")

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let devices = Devices.all
        if json {
            var fields: [(String, JSON)] = [("devices", .array(devices.map(Self.json)))]
            fields.append(("default", .string(Devices.defaultSelector)))
            if let reason = Devices.openCLUnavailableReason { fields.append(("opencl_unavailable", .string(reason))) }
            say(JSON.object(fields).rendered())
            return
        }
        let rows = devices.enumerated().map { index, d in
            [String(index), d.selector, d.kind.rawValue + "/" + d.type.rawValue + (d.type == .gpu && d.hostUnifiedMemory ? " (integrated)" : ""),
             d.name, d.platform, d.driver,
             String(d.computeUnits), ByteCount.describe(d.globalMemoryBytes), String(d.maxWorkGroupSize),
             ByteCount.describe(d.localMemoryBytes)]
        }
        say(table(["#", "selector", "kind", "name", "platform", "driver", "CUs", "memory", "max WG", "local mem"], rows))
        if let reason = Devices.openCLUnavailableReason { say("\nOpenCL: \(reason)") }
        say("\nDefault device: \(Devices.defaultSelector) (set TANDEM_DEVICE or pass --device to choose)")
    }

    static func json(_ d: DeviceInfo) -> JSON {
        .object([
            ("selector", .string(d.selector)), ("kind", .string(d.kind.rawValue)), ("type", .string(d.type.rawValue)),
            ("name", .string(d.name)), ("platform", .string(d.platform)), ("driver", .string(d.driver)),
            ("compute_units", .int(d.computeUnits)), ("global_memory_bytes", .int(d.globalMemoryBytes)),
            ("max_work_group_size", .int(d.maxWorkGroupSize)), ("local_memory_bytes", .int(d.localMemoryBytes)),
            ("max_allocation_bytes", .int(d.maxAllocationBytes)), ("host_unified_memory", .bool(d.hostUnifiedMemory)),
        ])
    }
}
