import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a data set's task asks for, which fixes the layout of its labels. It mirrors TandemMTL's
/// `TaskKind` (this module sits below TandemMTL and cannot name it).
public enum LabelKind: Sendable, Equatable {
    /// One class index in 0..<classes per sample (a Float holding an integer); −1 when missing.
    case classification(classes: Int)
    /// Real-valued targets of the task's label shape; 0 (with mask 0) when missing.
    case regression
    /// One class index per pixel, [H, W]; −1 where unlabelled.
    case segmentation(classes: Int)
    /// Depth per pixel, [1, H, W], positive; 0 where unknown.
    case depth
    /// Unit surface normals per pixel, [3, H, W]; 0 where unknown.
    case normals
}

/// One task of a data set: its name (the model's task names must match), what its labels are, and
/// the shape of one sample's label.
public struct DatasetTask: Sendable, Equatable {
    /// The task's name (the model's task of the same position must carry it).
    public var name: String
    /// What the labels are.
    public var kind: LabelKind
    /// The shape of one sample's label: [] for a class or a scalar target.
    public var labelShape: [Int]

    /// A task named `name` whose per-sample labels have `labelShape`.
    public init(_ name: String, _ kind: LabelKind, labelShape: [Int] = []) {
        self.name = name
        self.kind = kind
        self.labelShape = labelShape
    }

    /// Elements of one sample's label.
    public var labelCount: Int { labelShape.reduce(1, *) }
}

/// A batch on the host, ready to upload: inputs and, per task, labels and an optional mask.
public struct HostBatch: Sendable {
    /// Indices of the samples in the data set, in batch order.
    public var indices: [Int]
    /// Inputs [B, inputShape...], row-major.
    public var inputs: [Float]
    /// The shape of `inputs`: [B] + the data set's input shape.
    public var inputShape: [Int]
    /// Per task (data set order): labels [B] + the task's label shape, row-major. Missing labels are
    /// −1 for classes and 0 for real values, so they are harmless even without the mask.
    public var labels: [[Float]]
    /// Per task: [B] with 1 where the sample has a label and 0 where it is missing; nil when every
    /// sample of the batch has its label (the common case, so the trainer can skip masking).
    public var masks: [[Float]?]

    /// A batch of `indices` with the given arrays.
    public init(indices: [Int], inputs: [Float], inputShape: [Int], labels: [[Float]], masks: [[Float]?]) {
        self.indices = indices
        self.inputs = inputs
        self.inputShape = inputShape
        self.labels = labels
        self.masks = masks
    }

    /// The number of samples.
    public var count: Int { indices.count }

    /// The shape of task `t`'s labels in this batch, given the task.
    public func labelShape(of task: DatasetTask) -> [Int] { [count] + task.labelShape }
}

/// A multi-task data set held or generated on the host: a fixed number of samples, each an input of
/// `inputShape` and one label per task. Implementations must be safe to call from the loader's
/// background thread (hence `Sendable`) and give the same batch for the same indices every time.
public protocol MultiTaskDataset: Sendable {
    /// A short name for messages and reports (e.g. "multifashion/train").
    var name: String { get }
    /// The number of samples.
    var count: Int { get }
    /// The shape of one input, e.g. [1, 28, 28] or [100].
    var inputShape: [Int] { get }
    /// The tasks, in the order of `HostBatch.labels`.
    var tasks: [DatasetTask] { get }
    /// The samples at `indices` (each in 0..<count) as one batch.
    func batch(_ indices: [Int]) -> HostBatch
    /// Per sample, whether task `task` has a label; nil when every sample has one (the default).
    func labelledMask(task: Int) -> [Bool]?
}

extension MultiTaskDataset {
    /// Task names in order.
    public var taskNames: [String] { tasks.map(\.name) }
    /// Elements of one input.
    public var inputCount: Int { inputShape.reduce(1, *) }
    /// Every sample has every label.
    public func labelledMask(task: Int) -> [Bool]? { nil }
    /// The number of samples with a label for task `task`.
    public func labelledCount(task: Int) -> Int {
        labelledMask(task: task).map { $0.reduce(0) { $0 + ($1 ? 1 : 0) } } ?? count
    }
}

/// A data set's training and test splits.
public struct DatasetSplits: Sendable {
    /// The training split.
    public var train: any MultiTaskDataset
    /// The validation split, when the data brings its own (otherwise training carves one).
    public var validation: (any MultiTaskDataset)?
    /// The test split, evaluated once at the end of training.
    public var test: any MultiTaskDataset
    /// Things about the data a user should know before training on it (labels stored as floats
    /// that look like classes, a task without any label).
    public var warnings: [String] = []

    /// The splits; they must have the same input shape and tasks.
    public init(train: any MultiTaskDataset, validation: (any MultiTaskDataset)? = nil, test: any MultiTaskDataset) {
        self.train = train
        self.validation = validation
        self.test = test
    }
}

/// Seeded host random numbers for the data sets. Every value comes from SplitMix64 through formulas
/// written here (not the standard library's `random(in:using:)`, whose algorithm may change), so a
/// seed gives the same data on every platform and Swift version.
struct DataRandom {
    var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// A stream derived from `seed` and a purpose `stream` (so streams of one seed are independent).
    init(seed: UInt64, stream: UInt64) {
        var mixer = SplitMix64(seed: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
        generator = SplitMix64(seed: mixer.next())
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func unit() -> Double { Double(generator.next() >> 11) * 0x1p-53 }

    /// Uniform in [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    /// Uniform integer in 0..<n (n > 0), by the multiply-high method.
    mutating func below(_ n: Int) -> Int {
        Int(UInt64(n).multipliedFullWidth(by: generator.next()).high)
    }

    /// Standard normal (Box–Muller, one value per pair of uniforms).
    mutating func normal() -> Double {
        let u1 = 1 - unit()  // (0, 1]
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// A permutation of 0..<n (Fisher–Yates).
    mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, below(i + 1)) }
        }
        return p
    }
}
