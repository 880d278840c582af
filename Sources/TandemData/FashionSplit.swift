import TandemCore

/// The multi-input example whose truth is known: Fashion-MNIST split into two disjoint groups of
/// classes, one task per group, each task with its own images (no image is seen by both):
/// `clothes` classifies T-shirt/top, trouser, pullover, dress and coat (classes 0–4, labels 0–4),
/// `others` sandal, shirt, sneaker, bag and ankle boot (classes 5–9, labels 0–4). Inputs [1, 28, 28]
/// scaled to [0, 1]. A model shared by both tasks can only gain from what the groups' images have in
/// common (strokes, shapes), never from a shared label; one model per task is the baseline.
public enum FashionSplit {
    /// The task names and the Fashion-MNIST classes of each.
    public static let groups: [(name: String, classes: [UInt8])] = [("clothes", [0, 1, 2, 3, 4]), ("others", [5, 6, 7, 8, 9])]

    /// One group's images of a Fashion-MNIST split, as a one-task data set.
    struct Group: MultiTaskDataset {
        let name: String
        let task: DatasetTask
        let pixels: [UInt8]
        let labels: [UInt8]
        var count: Int { labels.count }
        var inputShape: [Int] { [1, 28, 28] }
        var tasks: [DatasetTask] { [task] }

        func batch(_ indices: [Int]) -> HostBatch {
            var inputs = [Float](repeating: 0, count: indices.count * 784)
            for (k, i) in indices.enumerated() {
                for j in 0..<784 { inputs[k * 784 + j] = Float(pixels[i * 784 + j]) / 255 }
            }
            return HostBatch(indices: indices, inputs: inputs, inputShape: [indices.count, 1, 28, 28],
                             labels: [indices.map { Float(labels[$0]) }], masks: [nil])
        }
    }

    /// The training and test splits from the Fashion-MNIST files in `directory`; `limit` keeps the
    /// first images of each split before grouping.
    public static func splits(directory: String = MultiFashion.defaultDirectory, limit: Int? = nil) throws -> DatasetSplits {
        func make(_ split: MultiFashion.Split) throws -> MultiInputDataset {
            let (images, labels) = try MultiFashion.readSource(split: split, directory: directory)
            let n = min(limit ?? labels.count, labels.count)
            let parts = groups.map { group -> MultiInputDataset.Part in
                var pixels: [UInt8] = [], own: [UInt8] = []
                for i in 0..<n {
                    guard let label = group.classes.firstIndex(of: labels[i]) else { continue }
                    pixels.append(contentsOf: images[(i * 784)..<((i + 1) * 784)])
                    own.append(UInt8(label))
                }
                let data = Group(name: "fashion-split/\(split.rawValue)/\(group.name)",
                                 task: DatasetTask(group.name, .classification(classes: group.classes.count)), pixels: pixels, labels: own)
                return MultiInputDataset.Part(name: group.name, data: data)
            }
            return try MultiInputDataset(name: "fashion-split/\(split.rawValue)", parts: parts)
        }
        return DatasetSplits(train: try make(.train), test: try make(.test))
    }
}
