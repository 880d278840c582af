import TandemCore
import TandemNN

/// The standard models of WORKLOADS.md by name, with exactly the stated parameter counts.
public enum Presets {
    /// Names and their trainable-parameter counts.
    public static let parameterCounts: [(name: String, parameters: Int)] = [
        ("mmoe-synth", 14_834), ("lenet-hps", 27_450), ("lenet-crossstitch", 49_100), ("mtan-segnet", 2_778_907),
    ]

    public static var names: [String] { parameterCounts.map(\.name) }

    /// Builds the model `name` on `device` with weights drawn from `seed`.
    public static func make(_ name: String, seed: UInt64 = 0, on device: any Device) throws -> any MultiTaskModel {
        let random = RandomSource(seed: seed)
        switch name {
        case "mmoe-synth": return try mmoeSynth(random: random, on: device)
        case "lenet-hps": return try lenetHPS(random: random, on: device)
        case "lenet-crossstitch": return try lenetCrossStitch(random: random, on: device)
        case "mtan-segnet": return try SegNetMTAN(random: random, on: device)
        default:
            throw TandemError.invalidArgument(op: "preset", message: "unknown model '\(name)'; available: \(names.joined(separator: ", "))")
        }
    }

    /// W1: 8 experts Linear(100→16)+ReLU, a softmax gate per task, towers Linear(16→8)+ReLU+Linear(8→1).
    public static func mmoeSynth(tasks: [TaskSpec] = [TaskSpec("task1", .regression), TaskSpec("task2", .regression)],
                                 experts: Int = 8, sharedGate: Bool = false, random: RandomSource, on device: any Device) throws -> MMoE {
        let towers: [any Layer & Module] = try tasks.map { _ in
            Sequential(try Linear(16, 8, random: random, on: device), Activation.relu, try Linear(8, 1, random: random, on: device))
        }
        return try MMoE(tasks: tasks, inputs: 100, experts: experts, expertUnits: 16, towers: towers, sharedGate: sharedGate,
                        random: random, on: device)
    }

    /// The shared-bottom baseline of the MMoE paper for W1's data: one shared hidden layer
    /// Linear(100→126)+ReLU and per-task towers Linear(126→8)+ReLU+Linear(8→1): 14,776 parameters,
    /// about W1's 14,834.
    public static func sharedBottom(tasks: [TaskSpec] = [TaskSpec("task1", .regression), TaskSpec("task2", .regression)],
                                    inputs: Int = 100, hidden: Int = 126, random: RandomSource,
                                    on device: any Device) throws -> HardParameterSharing {
        let trunk = Sequential(try Linear(inputs, hidden, random: random, on: device), Activation.relu)
        let towers = try tasks.map { _ in
            Sequential(try Linear(hidden, 8, random: random, on: device), Activation.relu, try Linear(8, 1, random: random, on: device))
        }
        return try HardParameterSharing(tasks: tasks, trunk: trunk, heads: towers)
    }

    /// The network of GradNorm's toy experiment (Chen et al. 2018): a shared trunk of four
    /// fully connected ReLU layers of `width` units and one affine layer per task.
    public static func gradnormMLP(tasks: [TaskSpec], inputs: Int, outputs: [Int], width: Int = 100,
                                   random: RandomSource, on device: any Device) throws -> HardParameterSharing {
        var layers: [any Layer] = []
        for layer in 0..<4 {
            layers += [try Linear(layer == 0 ? inputs : width, width, random: random, on: device), Activation.relu]
        }
        let heads = try outputs.map { Sequential(try Linear(width, $0, random: random, on: device)) }
        return try HardParameterSharing(tasks: tasks, trunk: Sequential(layers), heads: heads)
    }

    /// The LeNet trunk of W2 in three stages: conv1 → pool → ReLU (10 channels), conv2 → pool → ReLU
    /// (20 channels), flatten → Linear(320→50) → ReLU (50 units).
    static func lenetStages(random: RandomSource, on device: any Device) throws -> [Sequential] {
        [Sequential(try Conv2d(1, 10, kernel: 5, random: random, on: device), MaxPool2d(2), Activation.relu),
         Sequential(try Conv2d(10, 20, kernel: 5, random: random, on: device), MaxPool2d(2), Activation.relu),
         Sequential(Flatten(), try Linear(320, 50, random: random, on: device), Activation.relu)]
    }

    /// A task head of W2/W3: Linear(50→50) → ReLU → Linear(50→10).
    static func lenetHead(random: RandomSource, on device: any Device) throws -> Sequential {
        Sequential(try Linear(50, 50, random: random, on: device), Activation.relu, try Linear(50, 10, random: random, on: device))
    }

    /// The two tasks of multifashion: the left and the right garment.
    public static let multiFashionTasks = [TaskSpec("left", .classification(classes: 10)), TaskSpec("right", .classification(classes: 10))]

    /// W2: the LeNet trunk shared by two classification heads.
    public static func lenetHPS(tasks: [TaskSpec] = multiFashionTasks, random: RandomSource, on device: any Device) throws -> HardParameterSharing {
        let trunk = Sequential(try lenetStages(random: random, on: device))
        return try HardParameterSharing(tasks: tasks, trunk: trunk, heads: try tasks.map { _ in try lenetHead(random: random, on: device) })
    }

    /// W3: one LeNet column per task with cross-stitch units after each of the three stages.
    public static func lenetCrossStitch(tasks: [TaskSpec] = multiFashionTasks, random: RandomSource,
                                        on device: any Device) throws -> CrossStitchNetwork {
        let columns = try tasks.map { _ in try lenetStages(random: random, on: device) }
        let stages: [[any Layer & Module]] = (0..<3).map { s in columns.map { $0[s] } }
        return try CrossStitchNetwork(tasks: tasks, stages: stages, channels: [10, 20, 50],
                                      heads: try tasks.map { _ in try lenetHead(random: random, on: device) }, on: device)
    }
}
