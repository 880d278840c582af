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
public enum UserData {
    static let op = "user data"

    /// Loads the splits from `path` (an `.npz` file or a directory of `.npy` files). Throws naming
    /// the file and the arrays when `x` is missing or a label array's length differs from the inputs'.
    public static func load(_ path: String, testFraction: Double = 0.1, seed: UInt64 = 0) throws -> DatasetSplits {
        let archive = try readArrays(path)
        guard let x = archive["x"] else {
            throw TandemError.invalidArgument(op: op, message: "\(path): no input array 'x' (arrays: \(archive.names.joined(separator: ", ")))")
        }
        let taskNames = archive.names.filter { $0 != "x" && !$0.hasSuffix("_test") }
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
        if let testX {
            guard Array(testX.shape.dropFirst()) == Array(x.shape.dropFirst()) else {
                throw TandemError.invalidArgument(op: op, message: "\(path): 'x_test' has samples of shape \(Array(testX.shape.dropFirst())) but 'x' has \(Array(x.shape.dropFirst()))")
            }
            let test = try dataset(name: "\(path)/test", x: testX, xName: "x_test", labels: arrays.map { $0.1! },
                                   names: taskNames.map { $0 + "_test" }, tasks: tasks, inputShape: inputShape, path: path)
            return DatasetSplits(train: train, test: test)
        }
        guard train.count >= 2 else {
            throw TandemError.invalidArgument(op: op, message: "\(path): \(train.count) sample(s) cannot be split into training and test data")
        }
        var random = DataRandom(seed: seed, stream: 0x5E55)
        let order = random.permutation(train.count)
        let testCount = min(train.count - 1, max(1, Int((Double(train.count) * testFraction).rounded())))
        return DatasetSplits(train: try train.subset(Array(order[testCount...]).sorted(), name: "\(path)/train"),
                             test: try train.subset(Array(order[..<testCount]).sorted(), name: "\(path)/test"))
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

    static func task(_ name: String, _ labels: NDArray, _ test: NDArray?, path: String) throws -> DatasetTask {
        let perSample = Array(labels.shape.dropFirst())
        guard labels.dtype.isInteger else { return DatasetTask(name, .regression, labelShape: perSample) }
        let largest = max(labels.values.max() ?? 0, test?.values.max() ?? 0)
        let classes = Int(largest) + 1
        guard classes >= 1, classes <= 1 << 20 else {
            throw TandemError.invalidArgument(op: op, message: "\(path): array '\(name)' has class labels up to \(largest)")
        }
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
        return try ArrayDataset(name: name, inputs: x.values, inputShape: inputShape, tasks: tasks, labels: labels.map(\.values))
    }
}
