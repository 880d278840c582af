import TandemMTL

/// A picture of a finished (or running) training run, as one self-contained SVG file.
public enum RunReport {
    /// Line colours of the tasks, in task order: eight that are told apart easily; a ninth task and
    /// later ones reuse them dashed.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    /// Outer margin and the gap between panels.
    static let margin = 20.0, gap = 12.0

    /// A self-contained SVG: per-task training loss and validation loss curves over epochs, one panel
    /// per validation metric (each task a line, with a legend), and the task-affinity matrix as a heat
    /// map with its values, when given.
    ///
    /// Epochs are numbered from 1 as the CLI prints them; a run of one epoch shows dots. Panels of
    /// validation values appear only when some epoch was validated; values that are not finite are
    /// left out (the line breaks there); the best epoch is marked. Text is escaped, so any task name
    /// or title is safe.
    public static func svg(title: String, tasks: [String], epochs: [EpochReport],
                           affinity: (tasks: [String], cosine: [[Float]])?) -> String {
        // Every task that appears, the given ones first, each with its colour.
        var names = tasks
        for report in epochs {
            for task in report.validation?.tasks ?? [] where !names.contains(task.task) { names.append(task.task) }
        }
        func style(_ name: String) -> (colour: String, dash: String?) {
            let index = names.firstIndex(of: name) ?? 0
            return (palette[index % palette.count], index >= palette.count ? "6 3" : nil)
        }
        func series(_ name: String, _ points: [(epoch: Int, value: Double)]) -> LinePanel.Series {
            let (colour, dash) = style(name)
            return (name: name, colour: colour, dash: dash, points: points)
        }
        let best = epochs.last { $0.isBest }.map { $0.epoch + 1 }

        var layout: [(Double, Double) -> String] = []
        let training = tasks.enumerated().map { index, name in
            series(name, epochs.compactMap { report in
                report.trainLosses.indices.contains(index) ? (epoch: report.epoch + 1, value: Double(report.trainLosses[index])) : nil
            })
        }
        layout.append(LinePanel(title: "Training loss", series: training, bestEpoch: best).render)

        let validated = epochs.filter { $0.validation != nil }
        if !validated.isEmpty {
            func validationSeries(_ value: (TaskMetrics) -> Double?) -> [LinePanel.Series] {
                names.compactMap { name in
                    let points = validated.compactMap { report -> (epoch: Int, value: Double)? in
                        guard let task = report.validation?[name], let v = value(task) else { return nil }
                        return (epoch: report.epoch + 1, value: v)
                    }
                    return points.isEmpty ? nil : series(name, points)
                }
            }
            layout.append(LinePanel(title: "Validation loss", series: validationSeries { $0.loss }, bestEpoch: best).render)
            var metrics: [Metric] = []
            for report in validated {
                for task in report.validation?.tasks ?? [] {
                    for metric in task.metrics where !metrics.contains(where: { $0.name == metric.name }) { metrics.append(metric) }
                }
            }
            for metric in metrics {
                let direction = metric.higherIsBetter ? "higher is better" : "lower is better"
                layout.append(LinePanel(title: "Validation \(metric.name) (\(direction))",
                                        series: validationSeries { $0[metric.name] }, bestEpoch: best).render)
            }
        }
        if let affinity { layout.append(AffinityPanel(tasks: affinity.tasks, cosine: affinity.cosine).render) }

        // Heading, summary line and legend, then the panels two to a row.
        let width = 2 * margin + 2 * LinePanel.width + gap
        var legend: [String] = []
        var legendX = margin, legendY = 78.0
        for name in names {
            let label = SVG.truncated(name, to: 24)
            let itemWidth = 30 + 7 * Double(label.count) + 18
            if legendX + itemWidth > width - margin, legendX > margin {
                legendX = margin
                legendY += 20
            }
            let (colour, dash) = style(name)
            legend.append("<line x1=\"\(SVG.coordinate(legendX))\" y1=\"\(SVG.coordinate(legendY))\" x2=\"\(SVG.coordinate(legendX + 24))\" "
                + "y2=\"\(SVG.coordinate(legendY))\" stroke=\"\(colour)\" stroke-width=\"3\"" + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>"
                + "<text x=\"\(SVG.coordinate(legendX + 30))\" y=\"\(SVG.coordinate(legendY))\" dy=\"0.35em\">\(SVG.escape(label))</text>\n")
            legendX += itemWidth
        }
        let panelsTop = legendY + 20
        let rows = (layout.count + 1) / 2
        let height = panelsTop + Double(rows) * (LinePanel.height + gap) - gap + margin
        let panels = layout.enumerated().map { index, render in
            render(margin + Double(index % 2) * (LinePanel.width + gap), panelsTop + Double(index / 2) * (LinePanel.height + gap))
        }

        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(SVG.coordinate(width))\" height=\"\(SVG.coordinate(height))\" "
            + "viewBox=\"0 0 \(SVG.coordinate(width)) \(SVG.coordinate(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
            + "font-size=\"12\" fill=\"#111111\">\n"
        out += "<title>\(SVG.escape(title))</title>\n"
        out += "<defs>\(AffinityPanel.keyGradient)</defs>\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        out += "<text x=\"\(SVG.coordinate(margin))\" y=\"36\" font-size=\"20\" font-weight=\"bold\">\(SVG.escape(title))</text>\n"
        out += "<text x=\"\(SVG.coordinate(margin))\" y=\"58\" font-size=\"12\" fill=\"#555555\">\(SVG.escape(summary(epochs)))</text>\n"
        out += legend.joined() + panels.joined() + "</svg>\n"
        return out
    }

    /// "3 epochs · best epoch 2 (Δm +1.25%)", from what the reports hold.
    static func summary(_ epochs: [EpochReport]) -> String {
        guard let first = epochs.first?.epoch, let last = epochs.last?.epoch else { return "no epochs" }
        var parts = [epochs.count == 1 ? "epoch \(first + 1)" : "epochs \(first + 1)–\(last + 1)"]
        if epochs.allSatisfy({ $0.validation == nil }) { parts.append("no validation") }
        if let best = epochs.last(where: { $0.isBest }) {
            var text = "best epoch \(best.epoch + 1)"
            if let deltaM = best.deltaM, deltaM.isFinite {
                text += " (Δm \(deltaM >= 0 ? "+" : "")\(SVG.fixed(deltaM * 100, 2))%)"
            }
            parts.append(text)
        }
        return parts.joined(separator: " · ")
    }
}
