import Foundation
import Testing
@testable import Tandem

/// `tandem train` and `tandem eval` as a user runs them: small runs, their reports, and bad input.
@Suite("tandem train and eval")
struct TrainCLITests {
    static func directory() -> String {
        let path = NSTemporaryDirectory() + "tandem-cli-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("a small run writes a report with the documented fields, and a checkpoint that resumes and evaluates")
    func reportAndResume() throws {
        let dir = Self.directory()
        let common = ["--model", "mmoe", "--data", "mmoe-synth", "--device", "cpu", "--limit", "96", "--batch-size", "32"]
        let first = try runTandem(["train"] + common + ["--epochs", "1", "--save", dir + "/ckpt.safetensors", "--report", dir + "/run.json"])
        #expect(first.status == 0, "\(first.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run.json"))) as? [String: Any])
        for key in ["version", "config", "device", "parameters", "epochs", "best_epoch", "validation", "test", "interrupted",
                    "samples_per_second", "affinity", "wall_seconds"] {
            #expect(report[key] != nil, "missing \(key)")
        }
        let epochs = try #require(report["epochs"] as? [[String: Any]])
        #expect(epochs.count == 1)
        #expect((epochs[0]["train_loss"] as? [String: Any])?.keys.sorted() == ["task1", "task2"])
        #expect((epochs[0]["val"] as? [String: Any])?["task1"] is [String: Any])
        let test = try #require(report["test"] as? [String: [String: Any]])
        #expect(test["task1"]?["mse"] != nil)
        let affinity = try #require(report["affinity"] as? [String: Any])
        #expect((affinity["cosine"] as? [[Double]])?.count == 2)

        let resumed = try runTandem(["train", "--epochs", "2", "--resume", dir + "/ckpt.safetensors", "--device", "cpu"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("Resumed from"))
        #expect(resumed.stdout.contains("epoch 2"))
        #expect(!resumed.stdout.contains("epoch 1 step"))

        let evaluated = try runTandem(["eval", "--device", "cpu", "--limit", "40",
                                       "--checkpoint", dir + "/ckpt.safetensors", "--report", dir + "/eval.json"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/eval.json"))
    }

    @Test("bad input is a clear message and a non-zero exit, with no report written")
    func badInput() throws {
        let dir = Self.directory()
        let report = dir + "/never.json"
        func fails(_ arguments: [String], _ expected: String) throws {
            let result = try runTandem(arguments + ["--report", report])
            #expect(result.status != 0, "\(arguments) should fail")
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: report))
        }
        try fails(["train", "--model", "resnet"], "lenet-hps")
        try fails(["train", "--data", "imagenet"], "multifashion")
        try fails(["train", "--weighting", "magic"], "gradnorm")
        try fails(["train", "--model", "lenet-hps", "--data", "mmoe-synth", "--device", "cpu"], "does not fit")

        let corrupt = dir + "/corrupt.npz"
        try Data([0x50, 0x4b, 0x03, 0x04, 1, 2, 3]).write(to: URL(fileURLWithPath: corrupt))
        try fails(["train", "--model", "hps", "--data", corrupt, "--device", "cpu"], "corrupt.npz")

        let mismatched = dir + "/mismatched.npz"
        try NPZ.write([("x", NDArray(shape: [6, 4], values: [Float](repeating: 0.5, count: 24))),
                       ("a", NDArray(shape: [5], values: [0, 1, 0, 1, 0], dtype: .int64))], to: mismatched)
        try fails(["train", "--model", "hps", "--data", mismatched, "--device", "cpu"], "'a'")

        // A checkpoint of another model.
        let checkpoint = dir + "/mmoe.safetensors"
        let saved = try runTandem(["train", "--model", "mmoe", "--data", "mmoe-synth", "--device", "cpu", "--limit", "64",
                                   "--batch-size", "32", "--epochs", "1", "--affinity-batches", "0", "--save", checkpoint])
        #expect(saved.status == 0, "\(saved.stderr)")
        let wrong = try runTandem(["eval", "--model", "hps", "--data", "mmoe-synth", "--device", "cpu", "--checkpoint", checkpoint])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("mmoe.safetensors"))
    }
}
