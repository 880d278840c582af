#if canImport(Glibc)
import Glibc
#endif
import TandemCore

/// One evaluation metric's value and its direction.
public struct Metric: Sendable, Equatable {
    /// The metric's name, for example `accuracy`, `miou` or `angle_median`.
    public var name: String
    /// Its value (a fraction for accuracies and mIoU, degrees for angles).
    public var value: Double
    /// Whether a larger value is better (for Δm's sign).
    public var higherIsBetter: Bool

    /// A metric `name` with `value`.
    public init(name: String, value: Double, higherIsBetter: Bool) {
        self.name = name
        self.value = value
        self.higherIsBetter = higherIsBetter
    }
}

/// The metrics of one task over an evaluation set; the first metric is the task's main one.
public struct TaskMetrics: Sendable, Equatable {
    /// The task's name.
    public var task: String
    /// The mean loss (weighted by the samples of each batch).
    public var loss: Double
    /// The metrics, main one first.
    public var metrics: [Metric]
    /// Whether the task is auxiliary (left out of Δm, the best-epoch score and ranks).
    public var auxiliary: Bool

    /// Metrics of `task`.
    public init(task: String, loss: Double, metrics: [Metric], auxiliary: Bool = false) {
        self.task = task
        self.loss = loss
        self.metrics = metrics
        self.auxiliary = auxiliary
    }

    /// The value of the metric named `name`, or nil.
    public subscript(name: String) -> Double? { metrics.first { $0.name == name }?.value }

    /// The task's main metric (accuracy, MSE, mIoU, absolute error, mean angle).
    public var main: Metric? { metrics.first }
}

/// Per-task metrics of one evaluation, in task order.
public struct EvaluationResult: Sendable, Equatable {
    /// One entry per task.
    public var tasks: [TaskMetrics]

    /// A result of `tasks`.
    public init(tasks: [TaskMetrics]) { self.tasks = tasks }

    /// The tasks that are not auxiliary: what Δm, the best-epoch score and ranks are made of.
    public var primary: [TaskMetrics] { tasks.filter { !$0.auxiliary } }

    /// The metrics of the task named `task`, or nil.
    public subscript(task: String) -> TaskMetrics? { tasks.first { $0.task == task } }

    /// The value of `metric` for `task`, or nil.
    public subscript(task: String, metric: String) -> Double? { self[task]?[metric] }
}

/// Accumulates one task's metrics over batches of host values, so that set-level metrics (mIoU from
/// one confusion matrix, the median angle over every pixel) are exact rather than batch averages.
///
/// - classification: `accuracy` (fraction of labelled samples whose arg-max logit is the label).
/// - regression: `mse`, `mae` over elements with a non-NaN target.
/// - segmentation: `miou` (mean over classes present in the prediction or the target of valid pixels
///   of TP / (TP + FP + FN)) and `pixel_accuracy`; labels outside 0..<C (−1) are ignored.
/// - depth: `abs_err` = mean |p − t| and `rel_err` = mean |p − t| / |t| over pixels with t ≠ 0.
/// - normals: `angle_mean`, `angle_median` (degrees) and `within_11.25`, `within_22.5`, `within_30`
///   (fractions) over pixels with a nonzero target; both vectors are normalised first.
///
/// Samples whose mask is 0 are left out everywhere. A metric with nothing to count is 0.
public struct MetricAccumulator: Sendable {
    /// The task kind measured.
    public let kind: TaskKind
    private var count = 0
    private var sum1 = 0.0, sum2 = 0.0
    private var confusion: [Int] = []
    private var angles: [Double] = []

    /// An empty accumulator for a task of `kind`.
    public init(kind: TaskKind) {
        self.kind = kind
        if case .segmentation(let classes) = kind { confusion = [Int](repeating: 0, count: classes * classes) }
    }

    /// Adds one batch: `prediction` of `predictionShape` (the model's output), `target` of
    /// `targetShape`, and an optional per-sample `mask` [N].
    public mutating func add(prediction: [Float], predictionShape: [Int], target: [Float], targetShape: [Int], mask: [Float]? = nil) throws {
        func fail(_ message: String) -> TandemError {
            TandemError.invalidArgument(
                op: "MetricAccumulator.add", message: "\(kind): prediction \(predictionShape), target \(targetShape): \(message)")
        }
        let n = predictionShape.first ?? 0
        guard prediction.count == predictionShape.reduce(1, *), target.count == targetShape.reduce(1, *),
              targetShape.first == n, n > 0 else { throw fail("values do not fill the shapes, or N differs") }
        if let mask, mask.count != n { throw fail("mask of \(mask.count) for \(n) samples") }
        func kept(_ sample: Int) -> Bool { mask.map { $0[sample] != 0 } ?? true }

        switch kind {
        case .classification:
            guard predictionShape.count == 2, targetShape == [n] else { throw fail("needs [N, C] logits and [N] labels") }
            let c = predictionShape[1]
            for i in 0..<n where kept(i) {
                let label = target[i]
                guard label >= 0, label < Float(c), label == label.rounded() else { continue }
                count += 1
                if Self.argmax(prediction, base: i * c, stride: 1, count: c) == Int(label) { sum1 += 1 }
            }
        case .regression:
            guard prediction.count == target.count else { throw fail("needs as many predictions as targets") }
            let per = target.count / n
            for i in 0..<target.count where kept(i / per) && !target[i].isNaN {
                let d = Double(prediction[i]) - Double(target[i])
                count += 1
                sum1 += d * d
                sum2 += Swift.abs(d)
            }
        case .segmentation(let classes):
            guard predictionShape.count >= 2, predictionShape[1] == classes,
                  targetShape == [n] + predictionShape.dropFirst(2) else { throw fail("needs [N, \(classes), ...] and [N, ...]") }
            let pixels = target.count / n
            for i in 0..<n where kept(i) {
                for s in 0..<pixels {
                    let label = target[i * pixels + s]
                    guard label >= 0, label < Float(classes), label == label.rounded() else { continue }
                    let predicted = Self.argmax(prediction, base: i * classes * pixels + s, stride: pixels, count: classes)
                    confusion[Int(label) * classes + predicted] += 1
                }
            }
        case .depth:
            guard prediction.count == target.count else { throw fail("needs as many predictions as targets") }
            let per = target.count / n
            for i in 0..<target.count where kept(i / per) && target[i] != 0 && !target[i].isNaN {
                let d = Swift.abs(Double(prediction[i]) - Double(target[i]))
                count += 1
                sum1 += d
                sum2 += d / Swift.abs(Double(target[i]))
            }
        case .normals:
            guard predictionShape == targetShape, predictionShape.count >= 2 else { throw fail("needs equal [N, 3, ...] shapes") }
            let channels = predictionShape[1], pixels = target.count / (n * channels)
            for i in 0..<n where kept(i) {
                for s in 0..<pixels {
                    var dot = 0.0, pp = 0.0, tt = 0.0
                    var finite = true
                    for c in 0..<channels {
                        let at = (i * channels + c) * pixels + s
                        let p = Double(prediction[at]), t = Double(target[at])
                        if t.isNaN { finite = false }
                        dot += p * t
                        pp += p * p
                        tt += t * t
                    }
                    guard finite, tt > 0 else { continue }
                    let cosine = pp > 0 ? Swift.min(1, Swift.max(-1, dot / (pp.squareRoot() * tt.squareRoot()))) : 0
                    angles.append(Glibc.acos(cosine) * 180 / Double.pi)
                }
            }
        }
    }

    /// The metrics so far, main one first.
    public func result() -> [Metric] {
        func ratio(_ a: Double, _ b: Int) -> Double { b == 0 ? 0 : a / Double(b) }
        switch kind {
        case .classification:
            return [Metric(name: "accuracy", value: ratio(sum1, count), higherIsBetter: true)]
        case .regression:
            return [Metric(name: "mse", value: ratio(sum1, count), higherIsBetter: false),
                    Metric(name: "mae", value: ratio(sum2, count), higherIsBetter: false)]
        case .segmentation(let classes):
            var iouSum = 0.0, present = 0, correct = 0, total = 0
            for c in 0..<classes {
                let tp = confusion[c * classes + c]
                let targetCount = (0..<classes).reduce(0) { $0 + confusion[c * classes + $1] }
                let predictedCount = (0..<classes).reduce(0) { $0 + confusion[$1 * classes + c] }
                correct += tp
                total += targetCount
                let union = targetCount + predictedCount - tp
                if union > 0 {
                    iouSum += Double(tp) / Double(union)
                    present += 1
                }
            }
            return [Metric(name: "miou", value: ratio(iouSum, present), higherIsBetter: true),
                    Metric(name: "pixel_accuracy", value: ratio(Double(correct), total), higherIsBetter: true)]
        case .depth:
            return [Metric(name: "abs_err", value: ratio(sum1, count), higherIsBetter: false),
                    Metric(name: "rel_err", value: ratio(sum2, count), higherIsBetter: false)]
        case .normals:
            let sorted = angles.sorted()
            let median: Double
            if sorted.isEmpty {
                median = 0
            } else if sorted.count % 2 == 1 {
                median = sorted[sorted.count / 2]
            } else {
                median = (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
            func within(_ degrees: Double) -> Double { ratio(Double(sorted.filter { $0 < degrees }.count), sorted.count) }
            return [Metric(name: "angle_mean", value: ratio(sorted.reduce(0, +), sorted.count), higherIsBetter: false),
                    Metric(name: "angle_median", value: median, higherIsBetter: false),
                    Metric(name: "within_11.25", value: within(11.25), higherIsBetter: true),
                    Metric(name: "within_22.5", value: within(22.5), higherIsBetter: true),
                    Metric(name: "within_30", value: within(30), higherIsBetter: true)]
        }
    }

    /// Index of the largest of `count` values at `base`, `base + stride`, …; the first on ties.
    static func argmax(_ values: [Float], base: Int, stride: Int, count: Int) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for k in 0..<count {
            let v = values[base + k * stride]
            if v > bestValue || (k == 0 && v.isNaN) {
                best = k
                bestValue = v
            }
        }
        return best
    }
}
