import TandemCore

/// The multi-task performance Δm of LibMTL (Maninis et al. 2019; Vandenhende et al. 2021): the mean
/// over tasks of each task's mean relative improvement over its single-task baseline,
///
///     Δm = (1/T) Σ_t (1/K_t) Σ_k (−1)^{w_{t,k}} (M_{t,k} − B_{t,k}) / B_{t,k},
///
/// with w = 0 where a higher value is better and 1 where lower is better, so Δm > 0 means better than
/// the single-task models. Returned as a fraction (multiply by 100 for percent).
public enum DeltaM {
    /// Δm of `result` against `baselines` (task name → metric name → single-task value). Each task's
    /// K_t metrics are the ones its baseline names; every primary task of `result` needs a baseline
    /// (auxiliary tasks are left out of T), every named metric must exist in `result`, and no
    /// baseline value may be 0.
    public static func compute(_ result: EvaluationResult, baselines: [String: [String: Double]]) throws -> Double {
        func fail(_ message: String) -> TandemError { TandemError.invalidArgument(op: "DeltaM", message: message) }
        let primary = result.primary
        guard !primary.isEmpty else { throw fail(result.tasks.isEmpty ? "no tasks to compare" : "every task is auxiliary; Δm compares the primary tasks") }
        let names = Set(result.tasks.map(\.task))
        if let extra = baselines.keys.sorted().first(where: { !names.contains($0) }) {
            throw fail("baseline for unknown task '\(extra)'; tasks are \(result.tasks.map(\.task))")
        }
        var total = 0.0
        for task in primary {
            guard let baseline = baselines[task.task], !baseline.isEmpty else {
                throw fail("no baseline for task '\(task.task)'")
            }
            var sum = 0.0
            for (name, b) in baseline.sorted(by: { $0.key < $1.key }) {
                guard let metric = task.metrics.first(where: { $0.name == name }) else {
                    throw fail("task '\(task.task)' has no metric '\(name)'; it has \(task.metrics.map(\.name))")
                }
                guard b != 0, b.isFinite else { throw fail("baseline of \(task.task).\(name) is \(b); Δm divides by it") }
                let relative = (metric.value - b) / b
                sum += metric.higherIsBetter ? relative : -relative
            }
            total += sum / Double(baseline.count)
        }
        return total / Double(primary.count)
    }
}
