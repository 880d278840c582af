import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The user's own data: an `.npz` archive (or a directory of `.npy` files) holding an input array `x`
/// [N, ...] and one label array per task [N, ...], every other array being a task named after it.
///
/// - An integer or boolean label array is a classification task ([N] or [N, 1]; classes = largest
///   label + 1) or, with more dimensions, a segmentation task ([N, H, W]); −1 marks a missing label.
/// - A floating-point label array is a regression task; NaN marks a missing label.
/// - A test split comes from `x_test` and `<task>_test` when the archive has them, otherwise from a
///   seeded hold-out of `testFraction` of the samples.
/// - A validation split comes from `x_val` and `<task>_val` when the archive has them (otherwise the
///   trainer carves one from the training split).
/// - Inputs must be finite: a NaN or an infinity in `x`, `x_val` or `x_test` is an error naming the
///   array, the sample and the element; so is an infinite regression target.
///
/// This is the format `tandem train --help` and the README describe (`UserData.formatHelp`).
public enum UserData {
    static let op = "user data"

    /// Loads the splits from `path` (an `.npz` file or a directory of `.npy` files). Throws naming
    /// the file and the arrays when `x` is missing or a label array's length differs from the inputs'.
    public static func load(_ path: String, testFraction: Double = 0.1, seed: UInt64 = 0) throws -> DatasetSplits {
        let archive = try readArrays(path)
        guard let x = archive["x"] else {
            throw TandemError.invalidArgument(op: op, message: "\(path): no input array 'x' (arrays: \(archive.names.joined(separator: ", ")))")
        }
        let taskNames = archive.names.filter { $0 != "x" && !$0.hasSuffix("_test") && !$0.hasSuffix("_val") }
        guard !taskNames.isEmpty else {
            throw TandemError.invalidArgument(op: op, message: "\(path): no label arrays besides 'x' (one array per task is needed)")
        }
        let testX = archive["x_test"]
        let arrays = try taskNames.map { name -> (NDArray, NDArray?) in
            guard let labels = archive[name] else { throw TandemError.invalidArgument(op: op, message: "\(path): no array '\(name)'") }
            var test: NDArray? = nil
            if testX != nil {
                guard let t = archive[name + "_test"] else {
                    throw TandemError.invalidArgument(op: op, message: "\(path): 'x_test' is given but '\(name)_test' is missing")
                }
                test = t
            }
            return (labels, test)
        }
        let tasks = try zip(taskNames, arrays).map { name, pair in try task(name, pair.0, pair.1, path: path) }
        let inputShape = x.shape.count > 1 ? Array(x.shape.dropFirst()) : [1]
        let train = try dataset(name: "\(path)/train", x: x, xName: "x", labels: arrays.map(\.0), names: taskNames,
                                tasks: tasks, inputShape: inputShape, path: path)
        var warnings: [String] = []
        for (t, (name, pair)) in zip(taskNames, arrays).enumerated() {
            if !pair.0.dtype.isInteger, pair.0.values.allSatisfy({ $0.isNaN || $0 == $0.rounded() }), pair.0.values.contains(where: { !$0.isNaN }) {
                warnings.append("array '\(name)' holds floats that are all whole numbers; it is trained as regression. Store class labels as an integer array (e.g. numpy int64) to train classification.")
            }
            if train.labelledCount(task: t) == 0 {
                warnings.append("task '\(name)' has no label in the training data (every entry is missing); its loss is 0 and it learns nothing.")
            }
        }
        var validation: ArrayDataset?
        if let valX = archive["x_val"] {
            guard Array(valX.shape.dropFirst()) == Array(x.shape.dropFirst()) else {
                throw TandemError.invalidArgument(op: op, message: "\(path): 'x_val' has samples of shape \(Array(valX.shape.dropFirst())) but 'x' has \(Array(x.shape.dropFirst()))")
            }
            let labels = try taskNames.map { name -> NDArray in
                guard let array = archive[name + "_val"] else {
                    throw TandemError.invalidArgument(op: op, message: "\(path): 'x_val' is given but '\(name)_val' is missing")
                }
                return array
            }
            validation = try dataset(name: "\(path)/val", x: valX, xName: "x_val", labels: labels, names: taskNames.map { $0 + "_val" },
                                     tasks: tasks, inputShape: inputShape, path: path)
        }
        if let testX {
            guard Array(testX.shape.dropFirst()) == Array(x.shape.dropFirst()) else {
                throw TandemError.invalidArgument(op: op, message: "\(path): 'x_test' has samples of shape \(Array(testX.shape.dropFirst())) but 'x' has \(Array(x.shape.dropFirst()))")
            }
            let test = try dataset(name: "\(path)/test", x: testX, xName: "x_test", labels: arrays.map { $0.1! },
                                   names: taskNames.map { $0 + "_test" }, tasks: tasks, inputShape: inputShape, path: path)
            var splits = DatasetSplits(train: train, validation: validation, test: test)
            splits.warnings = warnings
            return splits
        }
        guard train.count >= 2 else {
            throw TandemError.invalidArgument(op: op, message: "\(path): \(train.count) sample(s) cannot be split into training and test data")
        }
        var random = DataRandom(seed: seed, stream: 0x5E55)
        let order = random.permutation(train.count)
        let testCount = min(train.count - 1, max(1, Int((Double(train.count) * testFraction).rounded())))
        var splits = DatasetSplits(train: try train.subset(Array(order[testCount...]).sorted(), name: "\(path)/train"),
                                   validation: validation, test: try train.subset(Array(order[..<testCount]).sorted(), name: "\(path)/test"))
        splits.warnings = warnings
        return splits
    }

    /// The arrays of an `.npz` file or of the `.npy` files in a directory (named without `.npy`).
    public static func readArrays(_ path: String) throws -> NPZArchive {
        if let directory = opendir(path) {
            var files: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name.hasSuffix(".npy") { files.append(name) }
            }
            closedir(directory)
            guard !files.isEmpty else {
                throw TandemError.invalidArgument(op: op, message: "\(path): a directory without .npy files")
            }
            // Sorted, so the task order does not depend on the file system.
            return NPZArchive(try files.sorted().map { (String($0.dropLast(4)), try NPY.read(path + "/" + $0)) })
        }
        if path.hasSuffix(".npy") {
            throw TandemError.invalidArgument(op: op, message: "\(path): a single .npy file holds one array; give an .npz archive (or a directory of .npy files) with 'x' and one label array per task")
        }
        return try NPZ.read(path)
    }

    /// Throws naming the array, the sample and the element of the first NaN or infinity in `values`.
    static func requireFinite(_ values: [Float], array: String, perSample: Int, path: String, what: String) throws {
        guard let i = LabelCheck.firstNonFinite(values) else { return }
        throw TandemError.invalidArgument(
            op: op, message: "\(path): array '\(array)' holds \(values[i]) at sample \(i / perSample), element \(i % perSample); \(what)s must be finite (clean or impute the data first)")
    }

    /// The user data format in a few lines, for `--help` and errors.
    public static let formatHelp = """
    An .npz archive (numpy.savez) or a directory of .npy files: 'x' holds the inputs [N, ...] (float, finite); \
    every other array is a task named after it, [N] or [N, ...]. Integer labels are classes (-1 marks a missing label; \
    [N, H, W] is segmentation), float labels are regression targets (NaN marks a missing one). Optional: 'x_test' with \
    '<task>_test' (else 10% of the samples are held out for testing, seeded) and 'x_val' with '<task>_val' (else \
    --val-fraction of the training samples are held out for validation).
    """

    static func task(_ name: String, _ labels: NDArray, _ test: NDArray?, path: String) throws -> DatasetTask {
        let perSample = Array(labels.shape.dropFirst())
        guard labels.dtype.isInteger else { return DatasetTask(name, .regression, labelShape: perSample) }
        let largest = max(labels.values.max() ?? -1, test?.values.max() ?? -1)
        guard largest >= 0 else {
            throw TandemError.invalidArgument(op: op, message: "\(path): array '\(name)' holds no class label (every entry is -1, missing), so its classes are unknown; label some samples or leave the array out")
        }
        // Compared as floats: a label near 2^63 must be refused, not trap in the conversion to Int.
        guard largest < Float(1 << 20) else {
            throw TandemError.invalidArgument(op: op, message: "\(path): array '\(name)' has class labels up to \(largest); at most \(1 << 20) classes are supported")
        }
        let classes = Int(largest) + 1
        if perSample.isEmpty || perSample == [1] { return DatasetTask(name, .classification(classes: classes)) }
        return DatasetTask(name, .segmentation(classes: classes), labelShape: perSample)
    }

    static func dataset(name: String, x: NDArray, xName: String, labels: [NDArray], names: [String], tasks: [DatasetTask],
                        inputShape: [Int], path: String) throws -> ArrayDataset {
        let count = x.shape.first ?? 0
        guard count > 0 else { throw TandemError.invalidArgument(op: op, message: "\(path): '\(xName)' holds no samples (shape \(x.shape))") }
        for (array, arrayName) in zip(labels, names) where array.shape.first != count {
            throw TandemError.invalidArgument(op: op, message: "\(path): label array '\(arrayName)' has \(array.shape.first ?? 0) samples but '\(xName)' has \(count); every label array needs one entry per input")
        }
        for (t, task) in tasks.enumerated() where Array(labels[t].shape.dropFirst()).reduce(1, *) != task.labelCount {
            throw TandemError.invalidArgument(op: op, message: "\(path): label array '\(names[t])' has samples of shape \(Array(labels[t].shape.dropFirst())), the task expects \(task.labelShape)")
        }
        try requireFinite(x.values, array: xName, perSample: max(1, x.values.count / count), path: path, what: "input")
        for (t, task) in tasks.enumerated() {
            // The same rules as the C API's (LabelCheck): -1 or NaN mark a missing label, nothing else.
            if let (i, rule) = LabelCheck.firstInvalid(labels[t].values, kind: task.kind, nanMarksMissing: true) {
                let per = max(1, task.labelCount)
                throw TandemError.invalidArgument(op: op, message: "\(path): array '\(names[t])' holds \(labels[t].values[i]) at sample \(i / per)\(per > 1 ? ", element \(i % per)" : ""); \(rule)")
            }
        }
        return try ArrayDataset(name: name, inputs: x.values, inputShape: inputShape, tasks: tasks, labels: labels.map(\.values))
    }
}
