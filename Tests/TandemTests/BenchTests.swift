import Foundation
import Testing
@testable import Tandem

/// The bench plumbing (not its speed): a tiny run, the JSON schema, the chart and the profile.
@Suite("tandem bench")
struct BenchTests {
    // In-process on the CPU only: the shared OpenCL devices' transfer and pool counters are checked
    // by other suites running at the same time; OpenCL runs in a `tandem` subprocess below.
    @Test("a tiny workload runs and reports consistent numbers")
    func tinyRun() throws {
        let result = try Bench.run("mmoe-synth", on: CPUDevice.shared, batch: 4, warmup: 1, steps: 2)
        #expect(result.workload == "mmoe-synth")
        #expect(result.device == "cpu")
        #expect(result.batch == 4)
        #expect(result.parameters == 14_834)
        #expect(result.minMilliseconds > 0)
        #expect(result.minMilliseconds <= result.medianMilliseconds && result.medianMilliseconds <= result.maxMilliseconds)
        #expect(abs(result.samplesPerSecond - 4 / (result.medianMilliseconds / 1e3)) < 1e-6 * result.samplesPerSecond)
        #expect(result.profile.isEmpty)
    }

    @Test("an unknown workload and zero steps are errors")
    func badArguments() throws {
        #expect(throws: TandemError.self) { try Bench.run("resnet", on: CPUDevice.shared, steps: 1) }
        #expect(throws: TandemError.self) { try Bench.run("mmoe-synth", on: CPUDevice.shared, steps: 0) }
    }

    @Test("--json holds the documented results and --chart writes an SVG")
    func jsonAndChart() throws {
        let directory = temporaryDirectory("bench")
        let json = directory + "/bench.json", chart = directory + "/bench.svg"
        let run = try runTandem(["bench", "--steps", "1", "--warmup", "0", "--workloads", "mmoe-synth", "--devices", "cpu",
                                 "--json", json, "--chart", chart])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("mmoe-synth"))
        #expect(run.stdout.contains("samples/s"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.count == 1)
        let first = try #require(results.first)
        for key in ["workload", "device", "batch", "median_ms", "min_ms", "max_ms", "samples_per_second", "parameters"] {
            #expect(first[key] != nil, "missing \(key)")
        }
        #expect(first["workload"] as? String == "mmoe-synth")
        #expect(first["device"] as? String == "cpu")
        #expect(first["batch"] as? Int == 256)
        #expect(first["parameters"] as? Int == 14_834)
        #expect((first["median_ms"] as? Double ?? 0) > 0)
        #expect((first["samples_per_second"] as? Double ?? 0) > 0)
        let svg = try String(contentsOfFile: chart, encoding: .utf8)
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("mmoe-synth"))
        #expect(svg.hasSuffix("</svg>\n"))
    }

    @Test("--profile prints a per-op table for each device", arguments: allSelectors)
    func profile(selector: String) throws {
        let run = try runTandem(["bench", "--steps", "1", "--warmup", "1", "--workloads", "mmoe-synth", "--devices", selector, "--profile"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("profile: mmoe-synth on \(selector)"))
        #expect(run.stdout.contains("calls/step"))
        #expect(run.stdout.contains("(all ops)"))
        // GEMMs run on every device in this workload.
        #expect(run.stdout.contains("gemm"))
    }

    @Test("the profiler accumulates per device and op")
    func profilerRecords() {
        // Recording goes straight into the table; no device has to be enabled for it.
        Profiler.record(device: "test-device", op: "op-a", seconds: 0.5, hostSeconds: 0.1)
        Profiler.record(device: "test-device", op: "op-a", seconds: 0.25, hostSeconds: 0.1, calls: 2)
        let entry = Profiler.snapshot().first { $0.device == "test-device" && $0.op == "op-a" }
        #expect(entry?.calls == 3)
        #expect(entry?.seconds == 0.75)
    }
}
