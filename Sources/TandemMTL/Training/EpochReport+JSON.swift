import TandemSupport

/// Epoch reports as JSON, so a checkpoint keeps the run's history (metadata `history`) and a
/// resumed run reports and draws every epoch, not only those since it resumed.
extension EpochReport {
    /// The report as a JSON object.
    public var json: JSON {
        func evaluation(_ result: EvaluationResult) -> JSON {
            .array(result.tasks.map { task in
                .object([("task", .string(task.task)), ("loss", .number(task.loss.isFinite ? task.loss : 0)),
                         ("loss_finite", .bool(task.loss.isFinite)), ("auxiliary", .bool(task.auxiliary)),
                         ("metrics", .array(task.metrics.map { metric in
                             .object([("name", .string(metric.name)), ("value", metric.value.isFinite ? .number(metric.value) : .null),
                                      ("higher_is_better", .bool(metric.higherIsBetter))])
                         }))])
            })
        }
        return .object([
            ("epoch", .int(epoch)), ("train_losses", .array(trainLosses.map { .float($0) })),
            ("validation", validation.map(evaluation) ?? .null), ("delta_m", deltaM.map(JSON.number) ?? .null),
            ("score", score.map(JSON.number) ?? .null), ("is_best", .bool(isBest)), ("weights", .array(weights.map { .float($0) })),
        ])
    }

    /// The report `json` describes; nil when it is not one (an old or damaged checkpoint loses only
    /// its history).
    public init?(json: JSON) {
        func number(_ value: JSON?) -> Double? {
            switch value {
            case let .number(n)?: return n
            case .null?: return .nan
            default: return nil
            }
        }
        guard case let .array(losses)? = json["train_losses"], let epoch = json["epoch"]?.exactInteger,
              case let .bool(isBest)? = json["is_best"], case let .array(weights)? = json["weights"] else { return nil }
        var validation: EvaluationResult?
        if case let .array(tasks)? = json["validation"] {
            var parsed: [TaskMetrics] = []
            for task in tasks {
                guard case let .string(name)? = task["task"], let loss = number(task["loss"]), case let .array(metrics)? = task["metrics"] else { return nil }
                var items: [Metric] = []
                for metric in metrics {
                    guard case let .string(metricName)? = metric["name"], let value = number(metric["value"]),
                          case let .bool(higher)? = metric["higher_is_better"] else { return nil }
                    items.append(Metric(name: metricName, value: value, higherIsBetter: higher))
                }
                let finite = task["loss_finite"] != .bool(false)
                parsed.append(TaskMetrics(task: name, loss: finite ? loss : .nan, metrics: items, auxiliary: task["auxiliary"] == .bool(true)))
            }
            validation = EvaluationResult(tasks: parsed)
        }
        self.init(epoch: epoch, trainLosses: losses.map { Float(number($0) ?? .nan) }, validation: validation,
                  deltaM: json["delta_m"].flatMap { number($0) }.flatMap { $0.isNaN ? nil : $0 },
                  score: json["score"].flatMap { number($0) }.flatMap { $0.isNaN ? nil : $0 },
                  isBest: isBest, weights: weights.map { Float(number($0) ?? .nan) })
    }
}
