import Foundation
import Testing

/// The Oclgrind check can fail: `scripts/oclgrind-check.sh probe KIND` runs a deliberately faulty
/// kernel under Oclgrind, which must report it, and the script must then exit 1. Oclgrind is
/// required (CI installs it with the other packages): without it these tests fail and say so.
@Suite("Oclgrind check")
struct OclgrindTests {
    /// The repository root (this file is Tests/TandemTests/OclgrindTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The tandem built next to this test bundle, as `runTandem` uses.
    static func tandem() throws -> String {
        URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            .deletingLastPathComponent().appendingPathComponent("tandem").path
    }

    static var oclgrindInstalled: Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/oclgrind")
        }
    }

    @Test("a deliberately faulty kernel is reported by Oclgrind and fails the check",
          arguments: [("out-of-bounds", "Invalid read of size 4 at global memory address"),
                      ("data-race", "data race at global memory address"),
                      ("uninitialized", "Uninitialized value written to global memory")])
    func probeIsReported(kind: String, report: String) throws {
        try #require(Self.oclgrindInstalled,
                     "oclgrind is not installed: the kernel checks need it (Debian package oclgrind; scripts/install-deps.sh installs it)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.root.appendingPathComponent("scripts/oclgrind-check.sh").path, "probe", kind]
        var environment = ProcessInfo.processInfo.environment
        environment["TANDEM_BIN"] = try Self.tandem()
        environment.removeValue(forKey: "OCLGRIND_CHECK_DIR")
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1, "\(output)")
        #expect(output.contains(report), "\(output)")
        #expect(output.contains("probe_"), "the report names the probe's kernel: \(output)")
        #expect(output.contains("FAILED"), "\(output)")
    }
}
