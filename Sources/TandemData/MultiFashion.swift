import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// MultiFashion (Sener & Koltun 2018's MultiMNIST recipe on Fashion-MNIST): each image `l` of a
/// split is paired with an image `r` drawn uniformly with replacement from the same split; a 36×36
/// zero canvas gets `l` at rows/columns 0..27 and `r` at 6..33 (element-wise max where they overlap),
/// is resized to 28×28 by nearest neighbour (source index ⌊(i + 0.5)·36/28⌋) and scaled to [0, 1].
/// Tasks `left` and `right`: the classes of `l` and `r`. Inputs [1, 28, 28].
///
/// The composites are computed once at load time and kept as bytes (784 per sample).
public struct MultiFashion: MultiTaskDataset {
    /// `$TANDEM_FASHION_MNIST_DIR` when set (the GPU bundle carries a copy), else where Debian's
    /// `dataset-fashion-mnist` installs the files.
    public static var defaultDirectory: String {
        System.environment("TANDEM_FASHION_MNIST_DIR") ?? "/usr/share/datasets/fashion-mnist"
    }
    /// The task names.
    public static let taskNames = ["left", "right"]

    /// "multifashion/train" or "multifashion/test".
    public let name: String
    /// The number of composites (the number of source images used).
    public let count: Int
    /// [1, 28, 28].
    public var inputShape: [Int] { [1, 28, 28] }
    /// `left` and `right`, 10 classes each.
    public var tasks: [DatasetTask] { Self.taskNames.map { DatasetTask($0, .classification(classes: 10)) } }
    /// Composite images, 784 bytes each.
    public let pixels: [UInt8]
    /// The source index of each sample's left and right image in its split.
    public let pairs: [(left: Int, right: Int)]
    /// Classes of the left images.
    public let leftLabels: [UInt8]
    /// Classes of the right images.
    public let rightLabels: [UInt8]

    /// Which Fashion-MNIST split.
    public enum Split: String, Sendable {
        case train, test
        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// The source row (or column) of the 36×36 canvas for output index `i` of 28:
    /// ⌊(i + 0.5)·36/28⌋ = ⌊(2i + 1)·9/14⌋, computed exactly in integers.
    @inline(__always) public static func sourceIndex(_ i: Int) -> Int { (2 * i + 1) * 9 / 14 }

    /// Builds the split from the Fashion-MNIST files in `directory`. `limit` keeps only the first
    /// images of the split (pairing then draws from those), for tests and quick runs. Throws naming
    /// the missing file and the package that installs it.
    public init(split: Split, seed: UInt64 = 0, directory: String = defaultDirectory, limit: Int? = nil) throws {
        let (images, labels) = try Self.readSource(split: split, directory: directory)
        let n = min(limit ?? labels.count, labels.count)
        guard n > 0 else { throw TandemError.invalidArgument(op: "multifashion", message: "limit \(limit ?? 0) leaves no images") }
        var random = DataRandom(seed: seed, stream: split == .train ? 0xF7A1 : 0xF7E5)
        var pairs: [(left: Int, right: Int)] = []
        pairs.reserveCapacity(n)
        for l in 0..<n { pairs.append((l, random.below(n))) }
        self.init(name: "multifashion/\(split.rawValue)", images: images, labels: labels, pairs: pairs)
    }

    /// A data set of the given pairs of `images` (28×28 bytes each) with `labels`.
    init(name: String, images: [UInt8], labels: [UInt8], pairs: [(left: Int, right: Int)]) {
        self.name = name
        self.count = pairs.count
        self.pairs = pairs
        leftLabels = pairs.map { labels[$0.left] }
        rightLabels = pairs.map { labels[$0.right] }
        var pixels = [UInt8](repeating: 0, count: pairs.count * 784)
        var source = [Int](repeating: 0, count: 28)
        for i in 0..<28 { source[i] = Self.sourceIndex(i) }
        pixels.withUnsafeMutableBufferPointer { out in
            images.withUnsafeBufferPointer { image in
                for (s, pair) in pairs.enumerated() {
                    let l = pair.left * 784, r = pair.right * 784
                    for i in 0..<28 {
                        let y = source[i]
                        for j in 0..<28 {
                            let x = source[j]
                            // Left image covers canvas 0..27, right image 6..33.
                            let a: UInt8 = y < 28 && x < 28 ? image[l + y * 28 + x] : 0
                            let b: UInt8 = (6..<34).contains(y) && (6..<34).contains(x) ? image[r + (y - 6) * 28 + (x - 6)] : 0
                            out[s * 784 + i * 28 + j] = max(a, b)
                        }
                    }
                }
            }
        }
        self.pixels = pixels
    }

    /// The images ([N·784] bytes) and labels of a Fashion-MNIST split, checked for consistency.
    public static func readSource(split: Split, directory: String = defaultDirectory) throws -> (images: [UInt8], labels: [UInt8]) {
        let imagePath = "\(directory)/\(split.filePrefix)-images-idx3-ubyte.gz"
        let labelPath = "\(directory)/\(split.filePrefix)-labels-idx1-ubyte.gz"
        for path in [imagePath, labelPath] where access(path, R_OK) != 0 {
            throw TandemError.invalidArgument(
                op: "multifashion",
                message: "Fashion-MNIST file \(path) is missing; install it with `apt-get install dataset-fashion-mnist`, "
                    + "or point TANDEM_FASHION_MNIST_DIR at a folder with the four .gz files")
        }
        let images = try IDX.read(imagePath)
        let labels = try IDX.read(labelPath)
        guard let imageBytes = images.uint8Values, images.shape.count == 3, images.shape[1] == 28, images.shape[2] == 28 else {
            throw TandemError.invalidArgument(op: "IDX reader", message: "\(imagePath): expected uint8 images [N, 28, 28], found \(images.type) \(images.shape)")
        }
        guard let labelBytes = labels.uint8Values, labels.shape.count == 1 else {
            throw TandemError.invalidArgument(op: "IDX reader", message: "\(labelPath): expected uint8 labels [N], found \(labels.type) \(labels.shape)")
        }
        guard labels.shape[0] == images.shape[0] else {
            throw TandemError.invalidArgument(op: "multifashion", message: "\(labelPath) has \(labels.shape[0]) labels but \(imagePath) has \(images.shape[0]) images")
        }
        if let bad = labelBytes.first(where: { $0 >= 10 }) {
            throw TandemError.invalidArgument(op: "IDX reader", message: "\(labelPath): label \(bad) is not a Fashion-MNIST class (0..9)")
        }
        return (imageBytes, labelBytes)
    }

    /// Both splits, paired with `seed`.
    public static func splits(seed: UInt64 = 0, directory: String = defaultDirectory, limit: Int? = nil) throws -> DatasetSplits {
        DatasetSplits(train: try MultiFashion(split: .train, seed: seed, directory: directory, limit: limit),
                      test: try MultiFashion(split: .test, seed: seed, directory: directory, limit: limit))
    }

    /// The composites at `indices`, scaled to [0, 1], with their two classes.
    public func batch(_ indices: [Int]) -> HostBatch {
        var x = [Float](repeating: 0, count: indices.count * 784)
        x.withUnsafeMutableBufferPointer { out in
            pixels.withUnsafeBufferPointer { source in
                for (b, i) in indices.enumerated() {
                    for k in 0..<784 { out[b * 784 + k] = Float(source[i * 784 + k]) / 255 }
                }
            }
        }
        return HostBatch(indices: indices, inputs: x, inputShape: [indices.count, 1, 28, 28],
                     labels: [indices.map { Float(leftLabels[$0]) }, indices.map { Float(rightLabels[$0]) }],
                     masks: [nil, nil])
    }
}
