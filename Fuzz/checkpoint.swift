import Glibc
import TandemCore
import TandemCPU
import TandemData
import TandemMTL
import TandemNN
import TandemSupport

/// libFuzzer target: any bytes as a trainer checkpoint (`tandem train --resume`, `tandem eval
/// --checkpoint`, the C API's tandem_load_checkpoint) must load or throw, never crash: the safetensors
/// container, every metadata entry (counts, optimizer state, weighting state, history, best epoch)
/// and the recipe stored in it (scripts/fuzz.sh).
///
/// The checkpoints are loaded into one small trainer (a two-task MLP with Adam and uncertainty
/// weighting, so that optimizer and weighting state are both read). `FUZZ_WRITE_SEED=PATH` makes the
/// target save a valid checkpoint of that trainer, after two epochs (so it holds a history and a best
/// epoch), to PATH and exit: scripts/fuzz.sh
/// seeds the corpus this way, so the seed always has the current format.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let trainer = FuzzTrainer.shared
    guard let contents = try? Safetensors.decode(Array(UnsafeBufferPointer(start: data, count: size)), file: "fuzz.safetensors")
    else { return 0 }
    _ = try? trainer.loadCheckpoint(contents, path: "fuzz.safetensors")
    if let text = contents.metadata["recipe"], let json = try? JSON.parse(text) {
        _ = try? TrainingRecipe(json: json, source: "fuzz.safetensors")
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    guard let path = System.environment("FUZZ_WRITE_SEED") else { return 0 }
    do {
        let trainer = FuzzTrainer.shared
        let device = CPUDevice.shared
        let random = RandomSource(seed: 5)
        let x = try Tensor(random.uniform(8 * 3, low: -1, high: 1), shape: [8, 3], on: device)
        let targets = try (0..<2).map { _ in try Tensor(random.uniform(8, low: -1, high: 1), shape: [8, 1], on: device) }
        let batch = try TrainingBatch(input: x, targets: targets)
        _ = try trainer.fit(epochs: 2, train: [batch], validation: [batch])
        var recipe = TrainingRecipe()
        recipe.model = "gradnorm-mlp"
        trainer.checkpointMetadata["recipe"] = recipe.json.compact()
        try trainer.saveCheckpoint(to: path)
        exit(0)
    } catch {
        System.printError("checkpoint fuzz target: cannot write the seed \(path): \(error)")
        exit(1)
    }
}

/// The trainer every input is loaded into.
enum FuzzTrainer {
    nonisolated(unsafe) static let shared: Trainer = {
        do {
            let device = CPUDevice.shared
            let tasks = [TaskSpec("a", .regression), TaskSpec("b", .regression)]
            let model = try Presets.gradnormMLP(tasks: tasks, inputs: 3, outputs: [1, 1], width: 4,
                                                random: RandomSource(seed: 1), on: device)
            let weighting = try UncertaintyWeighting(tasks: tasks, on: device)
            let optimizer = try Adam(model.parameters + weighting.parameters)
            return try Trainer(model: model, optimizer: optimizer, weighting: weighting, device: device)
        } catch {
            fatalError("checkpoint fuzz target: cannot build its trainer: \(error)")
        }
    }()
}
