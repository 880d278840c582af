/// One chart of a run report: a value over epochs, one line per task, with axes, grid and a marker
/// at the best epoch.
struct LinePanel {
    /// One task's line.
    typealias Series = (name: String, colour: String, dash: String?, points: [(epoch: Int, value: Double)])

    /// The panel's heading.
    let title: String
    /// The lines; a point whose value is not finite is left out and breaks its line there.
    let series: [Series]
    /// The epoch marked "best", if any.
    let bestEpoch: Int?

    /// Panel size in pixels.
    static let width = 460.0, height = 300.0
    /// Space around the plot area for the title, tick labels and axis name.
    static let left = 64.0, right = 18.0, top = 34.0, bottom = 44.0

    /// The panel's SVG, its top-left corner at (`x`, `y`).
    func render(x: Double, y: Double) -> String {
        let plotLeft = x + Self.left, plotRight = x + Self.width - Self.right
        let plotTop = y + Self.top, plotBottom = y + Self.height - Self.bottom
        var out = "<g class=\"panel\" data-title=\"\(SVG.escape(title))\">\n"
        out += "<text x=\"\(SVG.coordinate(x + Self.width / 2))\" y=\"\(SVG.coordinate(y + 20))\" text-anchor=\"middle\" "
            + "font-size=\"14\" font-weight=\"bold\">\(SVG.escape(title))</text>\n"

        let epochs = series.flatMap { $0.points.map(\.epoch) }
        let values = series.flatMap { $0.points.map(\.value) }.filter(\.isFinite)
        guard let first = epochs.min(), let last = epochs.max(), !values.isEmpty else {
            out += frame(plotLeft, plotTop, plotRight, plotBottom)
            out += "<text x=\"\(SVG.coordinate((plotLeft + plotRight) / 2))\" y=\"\(SVG.coordinate((plotTop + plotBottom) / 2))\" "
                + "text-anchor=\"middle\" fill=\"#888888\">no finite values</text>\n</g>\n"
            return out
        }
        let xScale = AxisScale.epochs(first, last, start: plotLeft, end: plotRight)
        let yScale = AxisScale.nice(values, start: plotBottom, end: plotTop)

        // Grid and tick labels.
        for tick in yScale.ticks {
            let py = SVG.coordinate(yScale.position(tick))
            out += "<line x1=\"\(SVG.coordinate(plotLeft))\" y1=\"\(py)\" x2=\"\(SVG.coordinate(plotRight))\" y2=\"\(py)\" stroke=\"#e6e6e6\"/>\n"
            out += "<text x=\"\(SVG.coordinate(plotLeft - 6))\" y=\"\(py)\" dy=\"0.35em\" text-anchor=\"end\" font-size=\"11\">\(yScale.label(tick))</text>\n"
        }
        for tick in xScale.ticks {
            let px = SVG.coordinate(xScale.position(tick))
            out += "<line x1=\"\(px)\" y1=\"\(SVG.coordinate(plotBottom))\" x2=\"\(px)\" y2=\"\(SVG.coordinate(plotBottom + 4))\" stroke=\"#333333\"/>\n"
            out += "<text x=\"\(px)\" y=\"\(SVG.coordinate(plotBottom + 17))\" text-anchor=\"middle\" font-size=\"11\">\(xScale.label(tick))</text>\n"
        }
        out += "<text x=\"\(SVG.coordinate((plotLeft + plotRight) / 2))\" y=\"\(SVG.coordinate(plotBottom + 36))\" "
            + "text-anchor=\"middle\" font-size=\"12\" fill=\"#444444\">epoch</text>\n"
        if let bestEpoch, bestEpoch >= first, bestEpoch <= last {
            let px = SVG.coordinate(xScale.position(Double(bestEpoch)))
            out += "<line x1=\"\(px)\" y1=\"\(SVG.coordinate(plotTop))\" x2=\"\(px)\" y2=\"\(SVG.coordinate(plotBottom))\" "
                + "stroke=\"#999999\" stroke-dasharray=\"4 3\"/>\n"
            out += "<text x=\"\(px)\" y=\"\(SVG.coordinate(plotTop - 3))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#777777\">best</text>\n"
        }
        out += frame(plotLeft, plotTop, plotRight, plotBottom)

        // The lines: a polyline per run of finite values, and a dot per point (a single epoch, or a
        // point between two missing ones, shows as a dot).
        let pointCount = series.map(\.points.count).max() ?? 0
        let radius = pointCount <= 40 ? 3.0 : 1.8
        for line in series {
            out += "<g class=\"series\" data-task=\"\(SVG.escape(line.name))\">\n"
            var run: [String] = []
            func flush() {
                if run.count > 1 {
                    out += "<polyline fill=\"none\" stroke=\"\(line.colour)\" stroke-width=\"2\""
                        + (line.dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")
                        + " stroke-linejoin=\"round\" points=\"\(run.joined(separator: " "))\"/>\n"
                }
                run = []
            }
            var dots = ""
            for point in line.points.sorted(by: { $0.epoch < $1.epoch }) {
                guard point.value.isFinite else {
                    flush()
                    continue
                }
                let px = SVG.coordinate(xScale.position(Double(point.epoch))), py = SVG.coordinate(yScale.position(point.value))
                run.append("\(px),\(py)")
                dots += "<circle cx=\"\(px)\" cy=\"\(py)\" r=\"\(radius)\" fill=\"\(line.colour)\">"
                    + "<title>\(SVG.escape(line.name)), epoch \(point.epoch): \(Self.valueText(point.value))</title></circle>\n"
            }
            flush()
            out += dots + "</g>\n"
        }
        return out + "</g>\n"
    }

    /// The plot area's outline.
    private func frame(_ left: Double, _ top: Double, _ right: Double, _ bottom: Double) -> String {
        "<rect x=\"\(SVG.coordinate(left))\" y=\"\(SVG.coordinate(top))\" width=\"\(SVG.coordinate(right - left))\" "
            + "height=\"\(SVG.coordinate(bottom - top))\" fill=\"none\" stroke=\"#333333\"/>\n"
    }

    /// A value for a tooltip: four significant digits or so.
    static func valueText(_ value: Double) -> String {
        let magnitude = Swift.abs(value)
        if magnitude != 0, magnitude < 1e-3 || magnitude >= 1e6 { return "\(value)" }
        let decimals = magnitude >= 100 ? 1 : magnitude >= 1 ? 3 : 4
        return SVG.fixed(value, decimals)
    }
}
