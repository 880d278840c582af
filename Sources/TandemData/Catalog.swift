import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The standard data sets by name (what `tandem train --data` accepts), and user data by path.
public enum DatasetCatalog {
    /// The built-in data set names.
    public static let names = ["multifashion", "mmoe-synth", "gradnorm-toy", "scenes"]

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
        case "mmoe-synth", "gradnorm-toy": return 10_000
        case "scenes": return 2_000
        default: return nil
        }
    }

    /// Whether `name` is read as a path (user data) rather than a built-in name.
    public static func isPath(_ name: String) -> Bool {
        name.contains("/") || name.hasSuffix(".npz") || name.hasSuffix(".npy") || access(name, F_OK) == 0
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
        case "gradnorm-toy":
            return try GradNormToy.splits(sigmas: options.sigmas, trainCount: options.trainCount ?? defaultTrainCount(name)!,
                                          testCount: options.testCount ?? 1_000, seed: options.seed)
        case "scenes":
            return try Scenes.splits(trainCount: options.trainCount ?? defaultTrainCount(name)!, testCount: options.testCount ?? 500, seed: options.seed)
        default:
            if isPath(name) { return try UserData.load(name, testFraction: options.testFraction, seed: options.seed) }
            throw TandemError.invalidArgument(
                op: "data", message: "unknown data set '\(name)'; available: \(names.joined(separator: ", ")), or a path to an .npz file")
        }
    }
}
