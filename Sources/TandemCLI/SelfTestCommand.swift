import ArgumentParser
import Tandem

struct SelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check every operation on a device against a float64 reference; run this first on a new GPU or driver.")

    @Option(help: "Device selector: cpu, opencl, opencl:N, gpu or auto (default: $TANDEM_DEVICE, else auto).")
    var device: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Seed of the random inputs.")
    var seed: UInt64 = 1

    @Option(help: """
        Which checks: ops (GEMM and every op, alone and composed), steps (one training step of each \
        workload at tiny shapes against the CPU), or ops,steps.
        """)
    var checks = "ops,steps"

    @Option(help: "Comma-separated workloads of the step checks (\(Workload.names.joined(separator: ", "))).")
    var workloads = Workload.names.joined(separator: ",")

    @Option(help: .hidden)
    var checkerProbe: String?

    func run() throws {
        let target = try Devices.select(device)
        if let checkerProbe {
            try runProbe(checkerProbe, on: target)
            return
        }
        let parts = Set(checks.split(separator: ",").map(String.init))
        let unknownParts = parts.subtracting(["ops", "steps"])
        guard parts.isEmpty == false, unknownParts.isEmpty else {
            throw ValidationError("--checks takes ops, steps or ops,steps, got '\(checks)'")
        }
        let names = workloads.split(separator: ",").map(String.init)
        if let unknown = names.first(where: { !Workload.names.contains($0) }) {
            throw ValidationError("unknown workload '\(unknown)'; available: \(Workload.names.joined(separator: ", "))")
        }
        var results: [SelfTestResult] = []
        if parts.contains("ops") { results += SelfTest.ops(on: target, seed: seed) }
        if parts.contains("steps") { results += SelfTest.steps(on: target, seed: seed, workloads: names) }
        let failed = results.filter { !$0.passed }
        if json {
            let ops = results.map { r -> JSON in
                var fields: [(String, JSON)] = [
                    ("op", .string(r.op)), ("forward_max_rel_error", .number(r.forwardMaxRelativeError)),
                    ("backward_max_rel_error", r.backwardMaxRelativeError.map(JSON.number) ?? .null),
                    ("passed", .bool(r.passed)),
                ]
                if let failure = r.failure { fields.append(("error", .string(failure))) }
                if let detail = r.detail { fields.append(("detail", .string(detail))) }
                return .object(fields)
            }
            say(JSON.object([("device", .string(target.info.description)), ("ops", .array(ops))]).rendered())
        } else {
            say("Self-test on \(target.info.description)\n")
            say(table(["op", "forward rel err", "backward rel err", "result"], results.map {
                [$0.op, formatError($0.forwardMaxRelativeError), formatError($0.backwardMaxRelativeError),
                 $0.passed ? "pass" : "FAIL" + (($0.failure ?? $0.detail).map { ": \($0)" } ?? "")]
            }))
            say("\n\(results.count - failed.count) passed, \(failed.count) failed")
        }
        if !failed.isEmpty { throw ExitCode.failure }
    }

    /// Runs a deliberately faulty kernel (`CheckerProbe`) that a checker such as Oclgrind must report.
    private func runProbe(_ name: String, on target: any Device) throws {
        guard let probe = CheckerProbe(rawValue: name) else {
            throw ValidationError("unknown checker probe '\(name)'; available: \(CheckerProbe.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let device = target as? OpenCLDevice else {
            throw ValidationError("the checker probe runs on an OpenCL device, not \(target.info.selector)")
        }
        try device.runCheckerProbe(probe)
        say("ran the \(probe.rawValue) probe on \(device.info.description); a checker must report it")
    }
}
