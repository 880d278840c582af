import TandemCore
import TandemData
import TandemNN

extension TaskSpec {
    /// The model-side task of a data set's task.
    public init(_ task: DatasetTask) {
        switch task.kind {
        case let .classification(classes): self.init(task.name, .classification(classes: classes))
        case .regression: self.init(task.name, .regression)
        case let .segmentation(classes): self.init(task.name, .segmentation(classes: classes))
        case .depth: self.init(task.name, .depth)
        case .normals: self.init(task.name, .normals)
        }
    }
}

/// Global average pooling to [N, C] as a layer.
final class GlobalPool: Module, Layer {
    override init() {}
    func callAsFunction(_ x: Tensor) throws -> Tensor { try x.globalAvgPool2d().flatten() }
}

/// Builds the model a command line names, fitted to a data set's input shape and tasks: the
/// architectures (`hps`, `cross-stitch`, `mtan`, `mmoe`, `cgc`, `ple`, `dselect-k`, `ltb`, `soft`, `cascade`, `modulation`,
/// `gated`, `sluice`, `low-supervision`) with trunks that suit the input
/// (LeNet for 1×28×28 images, a small conv net for other images, an MLP for vectors), and the
/// fixed presets of WORKLOADS.md (`lenet-hps`, `lenet-crossstitch`, `mmoe-synth`, `mtan-segnet`).
public enum ModelFactory {
    /// The architecture names; presets are listed by `Presets.names`.
    public static let architectures = ["hps", "cross-stitch", "mtan", "mmoe", "cgc", "ple", "dselect-k", "ltb", "soft",
                                              "cascade", "modulation", "gated", "sluice", "low-supervision", "adashare"]
    public static var names: [String] { architectures + Presets.names + ["shared-bottom", "gradnorm-mlp"] }

    /// `labelCounts[t]` is the number of regression targets of task t per sample (default 1).
    public static func make(_ name: String, tasks: [TaskSpec], inputShape: [Int], labelCounts: [Int]? = nil, seed: UInt64 = 0,
                            on device: any Device) throws -> any MultiTaskModel {
        func refuse(_ why: String) -> TandemError {
            .invalidArgument(op: "model", message: "'\(name)' does not fit input \(inputShape) with tasks \(tasks.map(\.name)): \(why)")
        }
        let random = RandomSource(seed: seed)
        let dense = tasks.contains { if case .classification = $0.kind { return false }; if case .regression = $0.kind { return false }; return true }
        let isLeNetImage = inputShape.count == 3 && inputShape[1] == 28 && inputShape[2] == 28
        let isImage = inputShape.count == 3
        let isVector = inputShape.count == 1

        /// Output units of a per-sample head for `task`.
        func outputs(_ task: TaskSpec) throws -> Int {
            switch task.kind {
            case let .classification(classes): return classes
            case .regression: return labelCounts.flatMap { counts in tasks.firstIndex(of: task).map { counts[$0] } } ?? 1
            default: throw refuse("task '\(task.name)' is per pixel; use mtan (SegNet-MTAN) for dense tasks")
            }
        }
        /// `layers` as a task's head: behind a gradient reversal layer when the task is adversarial.
        func taskHead(_ task: TaskSpec, _ layers: [any Layer]) throws -> Sequential {
            guard let lambda = task.adversarialLambda else { return Sequential(layers) }
            return Sequential([try GradientReversal(lambda: lambda)] + layers)
        }
        func head(_ features: Int, _ task: TaskSpec) throws -> Sequential {
            let out = try outputs(task)
            return try taskHead(task, [try Linear(features, 32, random: random, on: device), Activation.relu,
                                       try Linear(32, out, random: random, on: device)])
        }
        /// The towers of the mixtures of experts: 16 → 8 → the task's outputs.
        func tower(_ task: TaskSpec) throws -> any Layer & Module {
            try taskHead(task, [try Linear(16, 8, random: random, on: device), Activation.relu,
                                try Linear(8, try outputs(task), random: random, on: device)])
        }
        // Presets build their own heads, without a place for a gradient reversal layer.
        if let adversarial = tasks.first(where: { $0.adversarialLambda != nil }),
           !architectures.contains(name) || (name == "cross-stitch" && isLeNetImage) {
            throw refuse("adversarial task '\(adversarial.name)' needs an architecture that builds its heads from the tasks (\(architectures.joined(separator: ", ")), not the presets)")
        }
        switch name {
        case "lenet-hps", "lenet-crossstitch":
            guard isLeNetImage, inputShape[0] == 1, !dense else { throw refuse("needs 1×28×28 images and per-image tasks") }
            return name == "lenet-hps" ? try Presets.lenetHPS(tasks: tasks, random: random, on: device)
                : try Presets.lenetCrossStitch(tasks: tasks, random: random, on: device)
        case "mmoe-synth":
            guard inputShape == [100], tasks.allSatisfy({ $0.kind == .regression }) else { throw refuse("needs 100 inputs and regression tasks") }
            return try Presets.mmoeSynth(tasks: tasks, random: random, on: device)
        case "shared-bottom":
            guard inputShape.count == 1, tasks.allSatisfy({ $0.kind == .regression }) else { throw refuse("needs vector inputs and regression tasks") }
            return try Presets.sharedBottom(tasks: tasks, inputs: inputShape[0], random: random, on: device)
        case "gradnorm-mlp":
            guard inputShape.count == 1, tasks.allSatisfy({ $0.kind == .regression }) else { throw refuse("needs vector inputs and regression tasks") }
            return try Presets.gradnormMLP(tasks: tasks, inputs: inputShape[0], outputs: try tasks.map(outputs), random: random, on: device)
        case "mtan-segnet":
            guard inputShape.count == 3, inputShape[0] == 3, inputShape[1] % 32 == 0, inputShape[2] % 32 == 0,
                  tasks.map(\.kind) == [.segmentation(classes: 7), .depth, .normals] else {
                throw refuse("needs 3×H×W images (multiples of 32) with segmentation (7 classes), depth and normal tasks")
            }
            return try SegNetMTAN(random: random, on: device)
        default: break
        }
        guard architectures.contains(name) else {
            throw TandemError.invalidArgument(op: "model", message: "unknown model '\(name)'; available: \(names.joined(separator: ", "))")
        }
        // Per-pixel tasks under hps: AdaShare's ResNet with every block shared (hard sharing).
        if name == "adashare" || (name == "hps" && dense) {
            guard inputShape.count == 3 else { throw refuse("AdaShare's residual backbone needs [C, H, W] images") }
            if let adversarial = tasks.first(where: { $0.adversarialLambda != nil }) {
                throw refuse("adversarial task '\(adversarial.name)': AdaShare's heads have no gradient reversal")
            }
            let outputs = tasks.enumerated().map { t, task -> Int in
                switch task.kind {
                case let .classification(classes): return classes
                case .regression: return labelCounts?[t] ?? 1
                case let .segmentation(classes): return classes
                case .depth: return 1
                case .normals: return 3
                }
            }
            return try AdaShare(tasks: tasks, inputShape: inputShape, outputs: outputs, learnsPolicy: name == "adashare", seed: seed, on: device)
        }
        if dense {
            guard name == "mtan" else { throw refuse("per-pixel tasks need the mtan, hps or adashare model") }
            guard inputShape.count == 3, inputShape[0] == 3, inputShape[1] % 32 == 0, inputShape[2] % 32 == 0 else {
                throw refuse("SegNet-MTAN needs 3×H×W images with H and W multiples of 32")
            }
            let classes = tasks.compactMap { if case let .segmentation(c) = $0.kind { return c } else { return nil } }.first ?? 7
            let order: [TaskKind] = [.segmentation(classes: classes), .depth, .normals]
            let positions = tasks.map { task in order.firstIndex(of: task.kind) }
            guard !tasks.isEmpty, positions.allSatisfy({ $0 != nil }), zip(positions, positions.dropFirst()).allSatisfy({ $0! < $1! }) else {
                throw refuse("SegNet-MTAN predicts segmentation, depth and normals, or some of them, in that order")
            }
            if tasks.map(\.kind) == order { return try SegNetMTAN(classes: classes, random: random, on: device) }
            return try SegNetMTAN(classes: classes, tasks: tasks, random: random, on: device)
        }
        /// A trunk and the width of its output features.
        func trunk() throws -> (Sequential, Int) {
            if isLeNetImage {
                return (Sequential(try Conv2d(inputShape[0], 10, kernel: 5, random: random, on: device), MaxPool2d(2), Activation.relu,
                                   try Conv2d(10, 20, kernel: 5, random: random, on: device), MaxPool2d(2), Activation.relu,
                                   Flatten(), try Linear(320, 50, random: random, on: device), Activation.relu), 50)
            }
            if isImage {
                return (Sequential(try Conv2d(inputShape[0], 16, kernel: 3, padding: 1, random: random, on: device), try BatchNorm(16, on: device),
                                   Activation.relu, MaxPool2d(2),
                                   try Conv2d(16, 32, kernel: 3, padding: 1, random: random, on: device), try BatchNorm(32, on: device),
                                   Activation.relu, GlobalPool(), try Linear(32, 50, random: random, on: device), Activation.relu), 50)
            }
            guard isVector else { throw refuse("inputs must be vectors [D] or images [C, H, W]") }
            return (Sequential(try Linear(inputShape[0], 64, random: random, on: device), Activation.relu,
                               try Linear(64, 64, random: random, on: device), Activation.relu), 64)
        }
        switch name {
        case "hps":
            let (shared, width) = try trunk()
            return try HardParameterSharing(tasks: tasks, trunk: shared, heads: try tasks.map { try head(width, $0) })
        case "soft":
            let columns = try tasks.map { _ in try trunk() }
            return try SoftParameterSharing(tasks: tasks, columns: columns.map(\.0),
                                            heads: try tasks.map { try head(columns[0].1, $0) })
        case "cross-stitch":
            if isLeNetImage && inputShape[0] == 1 { return try Presets.lenetCrossStitch(tasks: tasks, random: random, on: device) }
            guard isVector else { throw refuse("cross-stitch supports 1×28×28 images and vectors") }
            let columns = try tasks.map { _ in
                [Sequential(try Linear(inputShape[0], 64, random: random, on: device), Activation.relu),
                 Sequential(try Linear(64, 64, random: random, on: device), Activation.relu)]
            }
            let stages: [[any Layer & Module]] = (0..<2).map { s in columns.map { $0[s] } }
            return try CrossStitchNetwork(tasks: tasks, stages: stages, channels: [64, 64],
                                          heads: try tasks.map { try head(64, $0) }, on: device)
        case "ltb":
            // Learning to Branch over the columns cross-stitch uses: LeNet's three stages on 1×28×28
            // images, three 64-unit layers on vectors.
            let stages: [[any Layer & Module]]
            let width: Int
            if isLeNetImage && inputShape[0] == 1 {
                let columns = try tasks.map { _ in try Presets.lenetStages(random: random, on: device) }
                stages = (0..<3).map { s in columns.map { $0[s] } }
                width = 50
            } else {
                guard isVector else { throw refuse("ltb supports 1×28×28 images and vectors") }
                stages = try [inputShape[0], 64, 64].map { inputs in
                    try tasks.map { _ in Sequential(try Linear(inputs, 64, random: random, on: device), Activation.relu) }
                }
                width = 64
            }
            return try LearningToBranch(tasks: tasks, stages: stages, heads: try tasks.map { try head(width, $0) }, seed: seed, on: device)
        case "cascade":
            // hps's trunk; each head after the first also reads the previous task's output.
            let (shared, width) = try trunk()
            var heads: [Sequential] = []
            for (t, task) in tasks.enumerated() {
                heads.append(try head(width + (t == 0 ? 0 : try outputs(tasks[t - 1])), task))
            }
            return try NetworkCascade(tasks: tasks, trunk: shared, heads: heads)
        case "low-supervision":
            // hps's LeNet or 64-unit trunk as stages; with two or more tasks the first is supervised
            // one stage lower (LeNet's conv2 output, the first 64-unit layer).
            let stages: [Sequential]
            let top: Int, lowWidth: Int, width: Int
            if isLeNetImage && inputShape[0] == 1 {
                stages = try Presets.lenetStages(random: random, on: device)
                (top, lowWidth, width) = (2, 320, 50)
            } else {
                guard isVector else { throw refuse("low-supervision supports 1×28×28 images and vectors") }
                stages = [Sequential(try Linear(inputShape[0], 64, random: random, on: device), Activation.relu),
                          Sequential(try Linear(64, 64, random: random, on: device), Activation.relu)]
                (top, lowWidth, width) = (1, 64, 64)
            }
            let levels = tasks.indices.map { $0 == 0 && tasks.count > 1 ? top - 1 : top }
            let heads = try zip(tasks, levels).map { task, level in
                level == top ? try head(width, task) : Sequential([Flatten(), try head(lowWidth, task)])
            }
            return try LowSupervision(tasks: tasks, stages: stages, levels: levels, heads: heads)
        case "modulation", "gated":
            // hps's trunk with its latter half (LeNet's conv2 and fc; the second 64-unit layer) run
            // per task, each of those layers followed by the task's projection or gate.
            let shared: Sequential, layers: [any Layer & Module], after: [any Layer & Module], channels: [Int]
            if isLeNetImage && inputShape[0] == 1 {
                shared = Sequential(try Conv2d(1, 10, kernel: 5, random: random, on: device), MaxPool2d(2), Activation.relu)
                layers = [try Conv2d(10, 20, kernel: 5, random: random, on: device), try Linear(320, 50, random: random, on: device)]
                after = [Sequential(MaxPool2d(2), Activation.relu, Flatten()), Sequential(Activation.relu)]
                channels = [20, 50]
            } else {
                guard isVector else { throw refuse("\(name) supports 1×28×28 images and vectors") }
                shared = Sequential(try Linear(inputShape[0], 64, random: random, on: device), Activation.relu)
                layers = [try Linear(64, 64, random: random, on: device)]
                after = [Sequential(Activation.relu)]
                channels = [64]
            }
            return try TaskModulation(tasks: tasks, transform: name == "modulation" ? .projection : .gate, shared: shared, layers: layers,
                                      channels: channels, after: after, heads: try tasks.map { try head(channels.last!, $0) }, on: device)
        case "sluice":
            // Cross-stitch's columns (LeNet's three stages plus a 50-unit layer; three 64-unit layers)
            // in two subspaces; β mixes the stages of the head's width (LeNet's last two; all three).
            let stages: [[any Layer & Module]]
            let channels: [Int], skip: Int
            if isLeNetImage && inputShape[0] == 1 {
                let columns = try tasks.map { _ in
                    try Presets.lenetStages(random: random, on: device) + [Sequential(try Linear(50, 50, random: random, on: device), Activation.relu)]
                }
                stages = (0..<4).map { s in columns.map { $0[s] } }
                (channels, skip) = ([10, 20, 50, 50], 2)
            } else {
                guard isVector else { throw refuse("sluice supports 1×28×28 images and vectors") }
                stages = try [inputShape[0], 64, 64].map { inputs in
                    try tasks.map { _ in Sequential(try Linear(inputs, 64, random: random, on: device), Activation.relu) }
                }
                (channels, skip) = ([64, 64, 64], 3)
            }
            return try SluiceNetwork(tasks: tasks, stages: stages, channels: channels, skipStages: skip,
                                     heads: try tasks.map { try head(channels.last!, $0) }, on: device)
        case "mtan":
            guard isImage, inputShape[1] >= 8, inputShape[2] >= 8 else { throw refuse("MTAN needs images of at least 8×8") }
            // Widths 8, 16, 32: a fifth of the work of 16, 32, 64, which keeps the default run a few
            // minutes long even on an OpenCL device emulated on two CPU cores.
            return try MTAN(tasks: tasks, inputChannels: inputShape[0], widths: [8, 16, 32],
                            heads: try tasks.map { try head(32, $0) }, random: random, on: device)
        case "cgc", "ple":
            // The same 8 experts of 16 units as mmoe's: 4 shared and 2 per task (for two tasks);
            // ple stacks two extraction levels.
            let inputs = inputShape.reduce(1, *)
            let towers = try tasks.map(tower)
            let model = try PLE(tasks: tasks, inputs: inputs, levels: name == "ple" ? 2 : 1, sharedExperts: 4, taskExperts: 2, units: 16,
                                towers: towers, random: random, on: device)
            return isVector ? model : try FlattenedInput(model)
        case "dselect-k":
            // mmoe's 8 experts of 16 units, each task's gate selecting at most 2 of them.
            let inputs = inputShape.reduce(1, *)
            let towers = try tasks.map(tower)
            let model = try DSelectK(tasks: tasks, inputs: inputs, experts: 8, units: 16, k: 2, towers: towers, random: random, on: device)
            return isVector ? model : try FlattenedInput(model)
        default:  // mmoe
            let inputs = inputShape.reduce(1, *)
            let towers = try tasks.map(tower)
            let model = try MMoE(tasks: tasks, inputs: inputs, experts: 8, expertUnits: 16, towers: towers, random: random, on: device)
            return isVector ? model : try FlattenedInput(model)
        }
    }
}

/// Feeds a flattened input to a model that takes vectors (MMoE on images).
public final class FlattenedInput: Module, MultiTaskModel {
    public let inner: any MultiTaskModel
    public init(_ inner: any MultiTaskModel) throws { self.inner = inner }
    public var tasks: [TaskSpec] { inner.tasks }
    public func forward(_ x: Tensor) throws -> [Tensor] { try inner.forward(x.flatten()) }
    public var sharedParameters: [Tensor] { inner.sharedParameters }
    public var lastSharedWeight: Tensor? { inner.lastSharedWeight }
    public func regularization() throws -> Tensor? { try inner.regularization() }
}

extension FlattenedInput: RepresentationModel {
    /// The inner model's representation; an error when it has none.
    public func forward(_ x: Tensor, representation hook: (Tensor) throws -> Tensor) throws -> [Tensor] {
        guard let inner = inner as? any RepresentationModel else {
            throw TandemError.invalidArgument(op: "model", message: "\(type(of: self.inner)) has no single shared representation")
        }
        return try inner.forward(x.flatten(), representation: hook)
    }
}
