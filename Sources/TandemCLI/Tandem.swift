import ArgumentParser
import Tandem


@main
struct TandemCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem",
        abstract: "Multi-task deep learning on any OpenCL GPU or the CPU.",
        version: "\(tandemVersion)",
        subcommands: [TrainCommand.self, EvalCommand.self, ModelsCommand.self, DatasetsCommand.self, DevicesCommand.self,
                      SelfTestCommand.self, BenchCommand.self, CompareCommand.self, GroupCommand.self])
}
