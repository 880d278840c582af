import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The standard data sets by name (what `tandem train --data` accepts), and user data by path.
public enum DatasetCatalog {
    /// The built-in data set names.
    public static let names = ["multifashion", "mmoe-synth", "gradnorm-toy", "scenes", "fashion-split", "mmoe-pairs", "mmoe-pairs-neg"]

    /// Knobs of the built-in data sets; nil counts mean each set's default.
    public struct Options: Sendable {
        /// Seeds pairing (multifashion), weights and samples (generated sets), hold-out (user data).
        public var seed: UInt64 = 0
        /// mmoe-synth: the task correlation p.
        public var correlation: Double = 0.5
        /// gradnorm-toy: the task scales σ (their count is the number of tasks).
        public var sigmas: [Double] = GradNormToy.defaultSigmas
        /// Generated sets: the training sample count.
        public var trainCount: Int? = nil
        /// Generated sets: the test sample count.
        public var testCount: Int? = nil
        /// multifashion: keep only the first `limit` source images of each split.
        public var limit: Int? = nil
        /// multifashion: where the Fashion-MNIST files are.
        public var fashionDirectory: String = MultiFashion.defaultDirectory
        /// User data without `x_test`: the fraction held out for testing.
        public var testFraction: Double = 0.1

        /// The defaults.
        public init() {}
    }

    /// The training samples a generated set makes by default (nil for sets read from files).
    public static func defaultTrainCount(_ name: String) -> Int? {
        switch name {
        case "mmoe-synth", "gradnorm-toy", "mmoe-pairs", "mmoe-pairs-neg": return 10_000
        case "scenes": return 2_000
        default: return nil
        }
    }

    /// Whether `name` is read as a path (user data) rather than a built-in name.
    public static func isPath(_ name: String) -> Bool {
        name.contains("/") || name.hasSuffix(".npz") || name.hasSuffix(".npy") || access(name, F_OK) == 0
    }

    /// Whether `name` gives each task its own data (`task=source,...`).
    public static func isMultiInput(_ name: String) -> Bool { name.contains("=") }

    /// Multi-input data from `task=source[:label],...`: each task trains on its own source (a path to
    /// user data or a built-in name), on the source's only task or the one named after `:`. Splits
    /// are joined part by part (`MultiInputDataset`); a validation split is used only when every
    /// source has one.
    public static func multiInput(_ spec: String, options: Options) throws -> DatasetSplits {
        func fail(_ message: String) -> TandemError { .invalidArgument(op: "data", message: "'\(spec)': \(message)") }
        var parts: [(name: String, splits: DatasetSplits, task: Int)] = []
        for item in spec.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard pieces.count == 2, !pieces[0].isEmpty, !pieces[1].isEmpty else {
                throw fail("each task is given as task=source (a path or a built-in name, optionally source:label for one of its tasks); got '\(item)'")
            }
            var source = pieces[1], label: String?
            if let colon = source.lastIndex(of: ":"), !isPath(source) || access(source, F_OK) != 0 {
                label = String(source[source.index(after: colon)...])
                source = String(source[..<colon])
            }
            guard !isMultiInput(source) else { throw fail("a task's source cannot itself be multi-input") }
            let splits = try load(source, options: options)
            let names = splits.train.tasks.map(\.name)
            let task: Int
            if let label {
                guard let index = names.firstIndex(of: label) else { throw fail("\(source) has no task '\(label)'; its tasks are \(names.joined(separator: ", "))") }
                task = index
            } else {
                guard names.count == 1 else { throw fail("\(source) has tasks \(names.joined(separator: ", ")); name one as \(source):TASK") }
                task = 0
            }
            parts.append((pieces[0], splits, task))
        }
        let train = try MultiInputDataset(name: "multi-input/train", parts: parts.map { .init(name: $0.name, data: $0.splits.train, task: $0.task) })
        let test = try MultiInputDataset(name: "multi-input/test", parts: parts.map { .init(name: $0.name, data: $0.splits.test, task: $0.task) })
        var validation: MultiInputDataset?
        if parts.allSatisfy({ $0.splits.validation != nil }) {
            validation = try MultiInputDataset(name: "multi-input/val", parts: parts.map { .init(name: $0.name, data: $0.splits.validation!, task: $0.task) })
        }
        var splits = DatasetSplits(train: train, validation: validation, test: test)
        splits.warnings = parts.flatMap { part in part.splits.warnings.map { "\(part.name): \($0)" } }
        return splits
    }

    /// The splits of the data set `name` (a built-in name or a path to user data). An unknown name
    /// throws an error listing the valid ones.
    public static func load(_ name: String, options: Options = Options()) throws -> DatasetSplits {
        switch name {
        case "multifashion":
            return try MultiFashion.splits(seed: options.seed, directory: options.fashionDirectory, limit: options.limit)
        case "mmoe-synth":
            return try MMoESynthetic.splits(correlation: options.correlation, trainCount: options.trainCount ?? defaultTrainCount(name)!,
                                            testCount: options.testCount ?? 2_000, seed: options.seed)
        case "mmoe-pairs", "mmoe-pairs-neg":
            return try MMoESynthetic.splits(correlations: MMoESynthetic.pairs(within: name == "mmoe-pairs" ? 0.9 : -0.9),
                                            trainCount: options.trainCount ?? defaultTrainCount(name)!, testCount: options.testCount ?? 2_000,
                                            seed: options.seed, name: name)
        case "gradnorm-toy":
            return try GradNormToy.splits(sigmas: options.sigmas, trainCount: options.trainCount ?? defaultTrainCount(name)!,
                                          testCount: options.testCount ?? 1_000, seed: options.seed)
        case "fashion-split":
            return try FashionSplit.splits(directory: options.fashionDirectory, limit: options.limit)
        case "scenes":
            return try Scenes.splits(trainCount: options.trainCount ?? defaultTrainCount(name)!, testCount: options.testCount ?? 500, seed: options.seed)
        default:
            if isMultiInput(name) { return try multiInput(name, options: options) }
            if isPath(name) { return try UserData.load(name, testFraction: options.testFraction, seed: options.seed) }
            throw TandemError.invalidArgument(
                op: "data", message: "unknown data set '\(name)'; available: \(names.joined(separator: ", ")), or a path to an .npz file")
        }
    }
}
