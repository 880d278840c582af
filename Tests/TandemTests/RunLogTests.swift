import Foundation
import SwiftProtobuf
import Testing
@testable import Tandem
@testable import TandemMTL
@testable import TandemRunLog

/// One scalar read back from an event file.
private struct LoggedScalar: Equatable, CustomStringConvertible {
    var step: Int64
    var tag: String
    var value: Float
    var description: String { "\(step) \(tag) \(value)" }
}

@Suite("Run log: metrics.jsonl, metrics.csv and TensorBoard event files")
struct RunLogTests {
    /// The events of a TFRecord file, each record's two masked CRC-32C checked.
    static func readEvents(_ path: String) throws -> [Tensorboard_Event] {
        let bytes = try #require(System.readFile(path))
        var events: [Tensorboard_Event] = []
        var at = 0
        func uint(_ offset: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
        }
        while at < bytes.count {
            try #require(at + 12 <= bytes.count, "record header at byte \(at)")
            let length = Int(uint(at, 8))
            #expect(UInt32(uint(at + 8, 4)) == CRC32C.maskedChecksum(bytes[at..<(at + 8)]), "length CRC at byte \(at)")
            let data = at + 12
            try #require(data + length + 4 <= bytes.count, "record of \(length) bytes at byte \(at)")
            #expect(UInt32(uint(data + length, 4)) == CRC32C.maskedChecksum(bytes[data..<(data + length)]), "data CRC at byte \(at)")
            events.append(try Tensorboard_Event(serializedBytes: Array(bytes[data..<(data + length)])))
            at = data + length + 4
        }
        return events
    }

    /// Every scalar of `events`, in file order.
    private static func scalars(_ events: [Tensorboard_Event]) -> [LoggedScalar] {
        events.flatMap { event in event.summary.value.map { LoggedScalar(step: event.step, tag: $0.tag, value: $0.simpleValue) } }
    }

    /// The lines of a text file.
    static func lines(_ path: String) throws -> [String] {
        String(decoding: try #require(System.readFile(path)), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// A trainer to pass to the callbacks (the hand-made reports do not come from it).
    static func handle() throws -> Trainer {
        let device = CPUDevice.shared
        let model = try Presets.make("lenet-hps", seed: 1, on: device)
        return try Trainer(model: model, optimizer: SGD(model.parameters, learningRate: 0.1),
                           weighting: TestWeighting(tasks: 2, on: device), device: device)
    }

    static func validation(_ left: (Double, Double), _ right: (Double, Double)) -> EvaluationResult {
        EvaluationResult(tasks: [
            TaskMetrics(task: "left", loss: left.0, metrics: [Metric(name: "accuracy", value: left.1, higherIsBetter: true)]),
            TaskMetrics(task: "right", loss: right.0, metrics: [Metric(name: "accuracy", value: right.1, higherIsBetter: true)]),
        ])
    }

    @Test("CRC-32C matches its standard check values; TFRecord's mask rotates and adds")
    func crc() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI), appendix B.4: 32 zero bytes and 32 bytes of 0xFF.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.masked(0) == 0xA282_EAD8)
        #expect(CRC32C.masked(0x0000_8000) == 0xA282_EAD9)
        #expect(CRC32C.masked(0xFFFF_FFFF) == 0xA282_EAD7)  // all ones rotate to all ones: −1 + mask
    }

    @Test("hand-made steps, epochs and a test result land in the three files with their tags, steps and values")
    func handMade() throws {
        let directory = temporaryDirectory("runlog") + "/nested/run"
        let log = try RunLog(directory: directory, tasks: ["left", "right"], everySteps: 10)
        let trainer = try Self.handle()
        func step(_ step: Int, epoch: Int) throws {
            try log.trainer(trainer, didStep: StepReport(epoch: epoch, step: step, stepInEpoch: step - 12 * epoch,
                                                        losses: [0.71, Float(step) / 100], sampledTask: nil, learningRate: 0.001))
        }
        for s in 1...12 { try step(s, epoch: 0) }
        try log.trainer(trainer, didEndEpoch: EpochReport(
            epoch: 0, trainLosses: [0.7, 0.6], validation: Self.validation((0.65, 0.5), (0.6, 0.625)),
            deltaM: nil, score: 0.5625, isBest: true, weights: [1, 1]))
        for s in 13...24 { try step(s, epoch: 1) }
        try log.trainer(trainer, didEndEpoch: EpochReport(
            epoch: 1, trainLosses: [0.5, .nan], validation: Self.validation((0.55, 0.75), (0.5, 0.875)),
            deltaM: 0.05, score: 0.8125, isBest: true, weights: [0.8, 1.2]))
        try log.logTest(Self.validation((0.52, 0.7), (0.49, 0.9)), step: 24)
        log.close()

        // TensorBoard: the version record, then one summary per record at its step.
        let events = try Self.readEvents(log.eventFilePath)
        #expect(log.eventFilePath.hasPrefix(directory + "/events.out.tfevents."))
        #expect(events.first?.fileVersion == "brain.Event:2")
        #expect(events.dropFirst().map(\.step) == [10, 12, 20, 24, 24])
        // The system scalars (speed and memory, measured) follow each epoch's values; checked below.
        let all = Self.scalars(events)
        let logged = all.filter { !$0.tag.hasPrefix("system/") }
        for step: Int64 in [12, 24] {
            let system = all.filter { $0.step == step && $0.tag.hasPrefix("system/") }
            #expect(system.map(\.tag) == ["system/steps_per_second", "system/resident_mib", "system/device_in_use_mib"])
            #expect(system.allSatisfy { $0.value.isFinite && $0.value >= 0 } && system[1].value > 1, "\(system)")
        }
        var expected: [LoggedScalar] = []
        func add(_ step: Int64, _ values: [(String, Float)]) {
            expected += values.map { LoggedScalar(step: step, tag: $0.0, value: $0.1) }
        }
        add(10, [("train/batch_loss/left", 0.71), ("train/batch_loss/right", 0.1), ("lr", 0.001)])
        add(12, [("train/loss/left", 0.7), ("train/loss/right", 0.6), ("val/loss/left", 0.65), ("val/accuracy/left", 0.5),
                 ("val/loss/right", 0.6), ("val/accuracy/right", 0.625), ("weights/left", 1), ("weights/right", 1)])
        add(20, [("train/batch_loss/left", 0.71), ("train/batch_loss/right", 0.2), ("lr", 0.001)])
        add(24, [("train/loss/left", 0.5), ("train/loss/right", .nan), ("val/loss/left", 0.55), ("val/accuracy/left", 0.75),
                 ("val/loss/right", 0.5), ("val/accuracy/right", 0.875), ("weights/left", 0.8), ("weights/right", 1.2),
                 ("delta_m", 0.05)])
        add(24, [("test/loss/left", 0.52), ("test/accuracy/left", 0.7), ("test/loss/right", 0.49), ("test/accuracy/right", 0.9)])
        #expect(logged.count == expected.count)
        for (got, want) in zip(logged, expected) {
            #expect(got.step == want.step && got.tag == want.tag, "\(got) vs \(want)")
            #expect(got.value == want.value || (got.value.isNaN && want.value.isNaN), "\(got) vs \(want)")
        }

        // JSON lines: every line parses; kinds, epochs (from 1), steps and values.
        let records = try Self.lines(directory + "/metrics.jsonl").map { try JSON.parse($0) }
        #expect(records.map { $0["kind"] } == ["step", "epoch", "step", "epoch", "test"].map { JSON.string($0) })
        #expect(records.map { $0["epoch"]?.exactInteger } == [1, 1, 2, 2, 2])
        #expect(records.map { $0["step"]?.exactInteger } == [10, 12, 20, 24, 24])
        #expect(records[0]["loss"] == .object([("left", .number(0.71)), ("right", .number(0.1))]))
        #expect(records[0]["lr"] == .number(0.001))
        #expect(records[1]["val"]?["right"]?["accuracy"] == .number(0.625))
        #expect(records[1]["delta_m"] == .null && records[3]["delta_m"] == .number(0.05))
        #expect(records[3]["train_loss"]?["right"] == .null)  // NaN: JSON has none
        #expect(records[3]["weights"] == .array([.number(0.8), .number(1.2)]))
        #expect(records[3]["best"] == .bool(true))
        #expect(records[4]["test"]?["left"]?["loss"] == .number(0.52))
        for epoch in [records[1], records[3]] {
            let system = try #require(epoch["system"])
            guard case let .number(speed)? = system["steps_per_second"] else { Issue.record("no speed in \(system)"); continue }
            #expect(speed > 0 && speed.isFinite)
            #expect((system["resident_bytes"]?.exactInteger ?? 0) > 1 << 20)
            // The shared CPU device's pool serves tests running in parallel: its values are only non-negative here.
            #expect((system["device_bytes_in_use"]?.exactInteger ?? -1) >= 0)
            #expect((system["device_bytes_cached"]?.exactInteger ?? -1) >= 0)
        }

        // CSV: one header, then one row per scalar in the same order.
        let rows = try Self.lines(directory + "/metrics.csv").filter { !$0.contains(",system/") }
        #expect(rows.first == "kind,epoch,step,tag,value")
        #expect(rows.count == 1 + expected.count)
        #expect(rows.dropFirst().map { $0.split(separator: ",")[3] } == expected.map { Substring($0.tag) })
        #expect(rows.contains("epoch,1,12,val/accuracy/right,0.625"))
        #expect(rows.contains("step,2,20,train/batch_loss/right,0.2"))
        #expect(rows.contains("epoch,2,24,train/loss/right,nan"))
        #expect(rows.contains("test,2,24,test/accuracy/right,0.9"))

        // Closed: further records are refused, naming the file.
        let error = #expect(throws: RunLogError.self) { try log.logTest(Self.validation((1, 1), (1, 1)), step: 25) }
        #expect(error?.path == directory + "/metrics.jsonl")
    }

    @Test("a second log in the same directory appends (one CSV header) and starts its own event file")
    func appends() throws {
        let directory = temporaryDirectory("runlog-append")
        let trainer = try Self.handle()
        var paths: [String] = []
        for epoch in 0..<2 {
            let log = try RunLog(directory: directory, tasks: ["left", "right"], everySteps: 0)
            try log.trainer(trainer, didStep: StepReport(epoch: epoch, step: 10, stepInEpoch: 10, losses: [1, 2],
                                                        sampledTask: nil, learningRate: 0.1))
            try log.trainer(trainer, didEndEpoch: EpochReport(epoch: epoch, trainLosses: [1, 2], validation: nil, deltaM: nil,
                                                              score: nil, isBest: false, weights: [1, 1]))
            paths.append(log.eventFilePath)
        }
        #expect(paths[0] != paths[1])
        let rows = try Self.lines(directory + "/metrics.csv")
        #expect(rows.filter { $0.hasPrefix("kind,") }.count == 1)
        #expect(rows.filter { $0.hasPrefix("step,") }.isEmpty)  // everySteps 0: epochs only
        #expect(rows.count == 1 + 2 * (4 + 3))  // per epoch: two losses, two weights; speed, resident and device memory
        #expect(try Self.lines(directory + "/metrics.jsonl").count == 2)
        for path in paths { #expect(try Self.readEvents(path).count == 2) }
    }

    @Test("a real two-epoch fit on the CPU logs every other step and each epoch's reported values")
    func realFit() throws {
        let device = CPUDevice.shared
        let model = try Presets.make("lenet-hps", seed: 7, on: device)
        let trainer = try Trainer(model: model, optimizer: SGD(model.parameters, learningRate: 0.05, momentum: 0.9),
                                  weighting: TestWeighting(tasks: 2, on: device), device: device,
                                  baselines: ["left": ["accuracy": 0.5], "right": ["accuracy": 0.5]])
        let directory = temporaryDirectory("runlog-fit")
        let log = try RunLog(directory: directory, tasks: model.tasks.map(\.name), everySteps: 2)
        trainer.callbacks.append(log)
        let reports = try trainer.fit(epochs: 2, train: try LearnableData.batches(3, n: 8, seed: 1, on: device),
                                      validation: [try LearnableData.batch(n: 8, seed: 99, on: device)])
        let test = try trainer.evaluate([try LearnableData.batch(n: 8, seed: 98, on: device)])
        try log.logTest(test, step: trainer.step)
        log.close()

        let logged = Self.scalars(try Self.readEvents(log.eventFilePath))
        #expect(Set(logged.filter { $0.tag == "lr" }.map(\.step)) == [2, 4, 6])
        for (index, report) in reports.enumerated() {
            let step = Int64(3 * (index + 1))
            for (task, loss) in zip(["left", "right"], report.trainLosses) {
                #expect(logged.contains(LoggedScalar(step: step, tag: "train/loss/\(task)", value: loss)))
                let accuracy = try #require(report.validation?[task, "accuracy"])
                #expect(logged.contains(LoggedScalar(step: step, tag: "val/accuracy/\(task)", value: Float(accuracy))))
            }
            let deltaM = try #require(report.deltaM)
            #expect(logged.contains(LoggedScalar(step: step, tag: "delta_m", value: Float(deltaM))))
        }
        #expect(logged.filter { $0.tag.hasPrefix("test/") }.count == 4)
        let records = try Self.lines(directory + "/metrics.jsonl").map { try JSON.parse($0) }
        #expect(records.compactMap { $0["kind"] } == ["step", "epoch", "step", "step", "epoch", "test"].map { JSON.string($0) })
    }

    @Test("an unwritable directory, bad arguments and a report of the wrong size throw errors that say where")
    func errors() throws {
        let parent = temporaryDirectory("runlog-errors")
        let file = parent + "/plain-file"
        #expect(System.writeFileAtomically(file, Array("not a directory".utf8)))

        let under = #expect(throws: RunLogError.self) { try RunLog(directory: file + "/run", tasks: ["a"]) }
        #expect(under?.path == file + "/run")
        #expect(under?.description.contains(file + "/run") == true)
        #expect(under?.description.contains("Not a directory") == true)

        let onFile = #expect(throws: RunLogError.self) { try RunLog(directory: file, tasks: ["a"]) }
        #expect(onFile?.description.contains(file) == true)
        #expect(System.createDirectories(file + "/a/b") == file + "/a: Not a directory")
        #expect(System.createDirectories(parent + "/new/deeper") == nil)

        #expect(throws: RunLogError.self) { try RunLog(directory: parent + "/x", tasks: ["a"], everySteps: -1) }
        #expect(throws: RunLogError.self) { try RunLog(directory: parent + "/y", tasks: ["a", "a"]) }
        #expect(throws: RunLogError.self) { try RunLog(directory: parent + "/z", tasks: []) }

        let directory = parent + "/run"
        let log = try RunLog(directory: directory, tasks: ["left", "right"], everySteps: 1)
        let wrong = #expect(throws: RunLogError.self) {
            try log.trainer(try Self.handle(), didStep: StepReport(epoch: 0, step: 1, stepInEpoch: 1, losses: [1],
                                                                   sampledTask: nil, learningRate: 0.1))
        }
        #expect(wrong?.description.contains(directory) == true)
    }
}
