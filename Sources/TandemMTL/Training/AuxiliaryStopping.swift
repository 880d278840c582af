import TandemCore

/// Task-wise early stopping of auxiliary tasks (Zhang, Luo, Loy and Tang 2014, "Facial Landmark
/// Detection by Deep Multi-task Learning", ECCV, Sec. 3.2, Eq. 5, TCDCN): an auxiliary task a stops at
/// the end of epoch t, and its loss trains nothing from then on, when
///
///     k·med E_tr(j)              E_val(t) − min_{j≤t} E_val(j)
///     ─────────────────────── · ───────────────────────────── > ε
///     Σ E_tr(j) − k·med E_tr(j)    λ_a · min_{j≤t} E_val(j)
///
/// with j over the strip of the last k epochs (t − k + 1 … t), E_tr the task's mean training loss of
/// an epoch and E_val its validation loss. The first factor is the training tendency: small while the
/// training loss still falls fast across the strip, large once it has flattened; the second is how far
/// the validation loss has risen above its best, relative to it. λ_a, the task's importance, is 1 here
/// (the tasks' weights are the weighting's business).
///
/// Where the strip's sum is at most k times its median (a flat or rising training loss) the first
/// factor is taken as infinite, so the task stops as soon as its validation loss is above its best;
/// a validation loss at its best gives 0, never a stop.
public struct AuxiliaryStopping: Sendable, Equatable {
    /// k: the strip's length in validated epochs, at least 3 (with 2 the median is the mean, so the
    /// tendency factor would always be infinite).
    public var strip: Int
    /// ε.
    public var threshold: Double

    public init(strip: Int = 3, threshold: Double = 1) throws {
        guard strip >= 3, threshold.isFinite, threshold > 0 else {
            throw TandemError.invalidArgument(op: "AuxiliaryStopping", message: "needs a strip of at least 3 epochs (over 2, the sum is always twice the median) and a finite positive threshold, got \(strip) and \(threshold)")
        }
        self.strip = strip
        self.threshold = threshold
    }

    /// The criterion at the last of the epochs given (one entry per validated epoch, oldest first);
    /// nil before `strip` epochs.
    public func criterion(train: [Double], validation: [Double]) -> Double? {
        guard train.count == validation.count, train.count >= strip, let current = validation.last,
              let best = validation.min() else { return nil }
        let rise = current - best
        guard rise > 0 else { return 0 }
        let window = train.suffix(strip).sorted()
        let median = window.count % 2 == 1 ? window[window.count / 2] : (window[window.count / 2 - 1] + window[window.count / 2]) / 2
        let k = Double(strip)
        let excess = window.reduce(0, +) - k * median
        let tendency = excess > 0 ? k * median / excess : .infinity
        return tendency * rise / Swift.max(best, 1e-12)
    }

    /// Whether the task stops at the last epoch given.
    public func stops(train: [Double], validation: [Double]) -> Bool {
        criterion(train: train, validation: validation).map { $0 > threshold } ?? false
    }

    /// The auxiliary tasks (`auxiliary[t]`) that stop over `history`, each at the first validated
    /// epoch where the criterion exceeds ε: task index → that epoch. Epochs without validation are
    /// passed over.
    public func stops(history: [EpochReport], auxiliary: [Bool]) -> [Int: Int] {
        var stopped: [Int: Int] = [:]
        for t in auxiliary.indices where auxiliary[t] {
            var train: [Double] = [], validation: [Double] = []
            for report in history {
                guard let result = report.validation, t < result.tasks.count, t < report.trainLosses.count else { continue }
                train.append(Double(report.trainLosses[t]))
                validation.append(result.tasks[t].loss)
                if stops(train: train, validation: validation) {
                    stopped[t] = report.epoch
                    break
                }
            }
        }
        return stopped
    }
}
