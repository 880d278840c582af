import ArgumentParser
import Tandem

/// `tandem models`: every model `--model` accepts, with what it fits.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the models --model accepts, with the inputs and tasks each fits.")

    /// One line per model: family and what it needs.
    static let descriptions: [(String, String, String)] = [
        ("hps", "hard parameter sharing: a shared trunk, a head per task (per-pixel tasks: AdaShare's ResNet, every block shared)", "vectors, images; per-sample or per-pixel tasks"),
        ("soft", "soft parameter sharing: a column per task, an L2 pull between them", "vectors, images; per-sample tasks"),
        ("cross-stitch", "cross-stitch networks: columns mixed by learned α units", "vectors, 1×28×28 images; per-sample tasks"),
        ("mtan", "MTAN: a shared network with per-task attention (SegNet-MTAN for per-pixel tasks)", "images ≥ 8×8; per-sample, or segmentation+depth+normals"),
        ("mmoe", "MMoE: 8 experts, a softmax gate per task", "vectors (images flattened); per-sample tasks"),
        ("cgc", "CGC: 4 shared experts and 2 per task, a gate per task over its own and the shared", "vectors (images flattened); per-sample tasks"),
        ("ple", "PLE: two CGC levels, a shared gate passing all experts to the next level", "vectors (images flattened); per-sample tasks"),
        ("dselect-k", "DSelect-k: 8 experts, smooth-step gates selecting at most 2 per task", "vectors (images flattened); per-sample tasks"),
        ("ltb", "Learning to Branch: a node per task at each of three stages, parents drawn by Gumbel-softmax", "1×28×28 images or vectors; per-sample tasks"),
        ("cascade", "network cascade: each task's head also reads the previous task's output", "1×28×28 or other images, vectors; per-sample tasks"),
        ("modulation", "modulation: the trunk's latter half per task, a learned C×C channel projection after each layer", "1×28×28 images or vectors; per-sample tasks"),
        ("gated", "gated multi-head: the trunk's latter half per task, gated channel-wise by a task embedding", "1×28×28 images or vectors; per-sample tasks"),
        ("sluice", "sluice network: columns whose channel subspaces are mixed by α, heads on a β mix of the last stages", "1×28×28 images or vectors; per-sample tasks"),
        ("low-supervision", "low supervision: the first task's head reads a lower stage of the shared trunk", "1×28×28 images or vectors; per-sample tasks"),
        ("adashare", "AdaShare: a 6-block ResNet whose blocks each task runs or skips by a learned policy (Gumbel-softmax), then re-trained", "images; per-sample or per-pixel tasks"),
        ("lenet-hps", "W2: LeNet trunk, a head per task (WORKLOADS.md)", "1×28×28 images; per-image tasks"),
        ("lenet-crossstitch", "W3: two LeNet columns with cross-stitch units", "1×28×28 images; per-image tasks"),
        ("mmoe-synth", "W1: MMoE of the MMoE paper's synthetic experiment", "100 inputs; regression tasks"),
        ("mtan-segnet", "W4: SegNet-MTAN, widths 16–128", "3×H×W (multiples of 32); segmentation (7), depth, normals"),
        ("shared-bottom", "a shared bottom MLP with towers (the MMoE paper's baseline)", "vectors; regression tasks"),
        ("gradnorm-mlp", "the GradNorm paper's toy MLP", "vectors; regression tasks"),
    ]

    /// The example each model's parameter count is given for: its data set's input and tasks.
    static func example(_ name: String) -> (input: [Int], tasks: [TaskSpec], label: String) {
        let two = [TaskSpec("a", .regression), TaskSpec("b", .regression)]
        switch name {
        case "lenet-hps", "lenet-crossstitch":
            return ([1, 28, 28], [TaskSpec("left", .classification(classes: 10)), TaskSpec("right", .classification(classes: 10))], "multifashion")
        case "mtan-segnet":
            return ([3, 288, 384], [TaskSpec("seg", .segmentation(classes: 7)), TaskSpec("depth", .depth), TaskSpec("normals", .normals)], "scenes")
        case "mtan", "cascade", "modulation", "gated", "sluice", "low-supervision", "adashare":
            return ([1, 28, 28], [TaskSpec("left", .classification(classes: 10)), TaskSpec("right", .classification(classes: 10))], "multifashion")
        default: return ([100], two, "mmoe-synth")
        }
    }

    /// The parameter count of `name` on its example, built on a dry-run device (nothing computed).
    static func parameters(_ name: String) -> String {
        let example = example(name)
        guard let model = try? ModelFactory.make(name, tasks: example.tasks, inputShape: example.input,
                                                 on: DryRunDevice(standingFor: CPUDevice.shared)) else { return "-" }
        return "\(grouped(model.parameterCount)) (\(example.label))"
    }

    /// 14834 → "14,834".
    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        return String(digits.enumerated().flatMap { i, c in (i > 0 && (digits.count - i) % 3 == 0) ? [",", c] : [c] })
    }

    func run() throws {
        let known = Dictionary(uniqueKeysWithValues: Self.descriptions.map { ($0.0, ($0.1, $0.2)) })
        let rows = ModelFactory.names.map { name in [name, known[name]?.0 ?? "", known[name]?.1 ?? "", Self.parameters(name)] }
        say(table(["model", "what", "fits", "parameters (on)"], rows))
        say("\nEvery model builds its heads from the data's tasks; 'tandem datasets' lists the data.")
    }
}

/// `tandem datasets`: every built-in data set with its tasks, kinds, input shape and sizes.
struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets", abstract: "List the built-in data sets with their tasks, input shapes and sizes, and the .npz format of your own.")

    /// A task as `name (kind)`.
    static func describe(_ task: DatasetTask) -> String {
        switch task.kind {
        case let .classification(classes): return "\(task.name) (classification, \(classes))"
        case .regression: return "\(task.name) (regression)"
        case let .segmentation(classes): return "\(task.name) (segmentation, \(classes))"
        case .depth: return "\(task.name) (depth)"
        case .normals: return "\(task.name) (normals)"
        }
    }

    func run() throws {
        var rows: [[String]] = []
        for name in DatasetCatalog.names {
            do {
                let splits = try DatasetCatalog.load(name)
                rows.append([name, "\(splits.train.inputShape)", "\(splits.train.count) / \(splits.test.count)",
                             splits.train.tasks.map(Self.describe).joined(separator: ", ")])
            } catch {
                rows.append([name, "-", "-", "unavailable: \(error)"])
            }
        }
        say(table(["data", "input", "train / test", "tasks"], rows))
        say("\nValidation: --val-fraction (10%) of the training samples, held out with the seed.")
        say("\nYour own data (--data PATH): \(UserData.formatHelp)")
        say("\nMulti-input data (--data task=source[:label],...): each task trains on its own data, a path or a built-in name (':label' picks one of its tasks); every sample carries its own task's label only. Each step draws --tasks-per-step tasks (default all) by --task-sampling (uniform, proportional or temperature=τ) and batch ÷ K samples of each. fashion-split is the built-in example.")
    }
}
