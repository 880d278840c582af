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

    func run() throws {
        let target = try Devices.select(device)
        let results = SelfTest.run(on: target, seed: seed)
        let failed = results.filter { !$0.passed }
        if json {
            let ops = results.map { r -> JSON in
                var fields: [(String, JSON)] = [
                    ("op", .string(r.op)), ("forward_max_rel_error", .number(r.forwardMaxRelativeError)),
                    ("backward_max_rel_error", r.backwardMaxRelativeError.map(JSON.number) ?? .null),
                    ("passed", .bool(r.passed)),
                ]
                if let failure = r.failure { fields.append(("error", .string(failure))) }
                return .object(fields)
            }
            say(JSON.object([("device", .string(target.info.description)), ("ops", .array(ops))]).rendered())
        } else {
            say("Self-test on \(target.info.description)\n")
            say(table(["op", "forward rel err", "backward rel err", "result"], results.map {
                [$0.op, formatError($0.forwardMaxRelativeError), formatError($0.backwardMaxRelativeError),
                 $0.passed ? "pass" : "FAIL" + ($0.failure.map { ": \($0)" } ?? "")]
            }))
            say("\n\(results.count - failed.count) passed, \(failed.count) failed")
        }
        if !failed.isEmpty { throw ExitCode.failure }
    }
}
