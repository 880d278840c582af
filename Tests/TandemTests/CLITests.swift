import Foundation
import Testing

/// Runs the built `tandem` binary (next to this test bundle) and returns its exit status and output.
func runTandem(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let executable = try tandemExecutable()
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

/// The built `tandem` binary next to this test bundle.
func tandemExecutable() throws -> URL {
    let executable = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        .deletingLastPathComponent().appendingPathComponent("tandem")
    try #require(FileManager.default.isExecutableFile(atPath: executable.path), "build the tandem product first: \(executable.path)")
    return executable
}

@Suite("tandem command")
struct CLITests {
    @Test("devices --json lists every device with the documented fields")
    func devicesJSON() throws {
        let result = try runTandem(["devices", "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let devices = try #require(object["devices"] as? [[String: Any]])
        #expect(devices.first?["selector"] as? String == "cpu")
        let keys: Set = ["selector", "kind", "type", "name", "platform", "driver", "compute_units",
                         "global_memory_bytes", "max_work_group_size", "local_memory_bytes", "max_allocation_bytes",
                         "host_unified_memory"]
        for device in devices {
            #expect(Set(device.keys) == keys)
            #expect(["cpu", "opencl"].contains(device["kind"] as? String ?? ""))
            #expect(["cpu", "gpu", "accelerator"].contains(device["type"] as? String ?? ""))
            #expect((device["compute_units"] as? Int ?? 0) >= 1)
        }
    }

    @Test("without any OpenCL platform the CPU is still listed, with the reason")
    func noOpenCL() throws {
        let table = try runTandem(["devices"], environment: ["OCL_ICD_VENDORS": "/nonexistent-tandem-vendors"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("cpu"))
        #expect(!table.stdout.contains("opencl:0"))
        #expect(table.stdout.contains("no OpenCL platform"))
        let json = try runTandem(["devices", "--json"], environment: ["OCL_ICD_VENDORS": "/nonexistent-tandem-vendors"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["devices"] as? [Any])?.count == 1)
        #expect(object["opencl_unavailable"] is String)
        // auto falls back to the CPU.
        let selftest = try runTandem(["selftest", "--json"], environment: ["OCL_ICD_VENDORS": "/nonexistent-tandem-vendors"])
        #expect(selftest.status == 0)
        #expect(selftest.stdout.contains("\"device\": \"cpu"))
    }

    @Test("an unknown device is a clear error with a non-zero exit")
    func unknownDevice() throws {
        for selector in ["opencl:42", "tpu"] {
            let result = try runTandem(["selftest", "--device", selector])
            #expect(result.status != 0)
            #expect(result.stderr.contains("no device '\(selector)'"))
            #expect(result.stderr.contains("available: cpu"))
        }
        let env = try runTandem(["selftest"], environment: ["TANDEM_DEVICE": "quantum"])
        #expect(env.status != 0)
        #expect(env.stderr.contains("no device 'quantum'"))
    }

    @Test("selftest --json reports every op with the documented fields and passes on the CPU")
    func selftestJSON() throws {
        let result = try runTandem(["selftest", "--device", "cpu", "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let ops = try #require(object["ops"] as? [[String: Any]])
        #expect(!ops.isEmpty)
        for op in ops {
            #expect(op["op"] is String)
            #expect(op["forward_max_rel_error"] is Double || op["forward_max_rel_error"] is Int)
            #expect(op.keys.contains("backward_max_rel_error"))
            #expect(op["passed"] as? Bool == true)
        }
    }
}
