/// The picture of a method comparison (`tandem compare --chart`): one row per method with a bar of
/// its Δm (mean over the seeds, a whisker of ± one standard deviation; right of the zero line is
/// better than the single-task baselines) and its time per step relative to the reference method.
/// Without baselines the bars show the mean rank instead (shorter is better).
public enum ComparisonChart {
    /// One method's row.
    public struct Row: Sendable {
        public var name: String
        /// Δm in percent and its standard deviation, or nil without baselines.
        public var deltaM: (mean: Double, deviation: Double)?
        public var meanRank: Double
        /// Time per step relative to the reference (nil when it was not compared).
        public var relativeCost: Double?

        public init(name: String, deltaM: (mean: Double, deviation: Double)?, meanRank: Double, relativeCost: Double?) {
            self.name = name
            self.deltaM = deltaM
            self.meanRank = meanRank
            self.relativeCost = relativeCost
        }
    }

    /// The SVG document for `rows` under `title`.
    public static func svg(title: String, rows: [Row]) -> String {
        let rowHeight = 22.0, left = 130.0, plot = 420.0, top = 72.0
        let width = left + plot + 110, height = top + rowHeight * Double(rows.count) + 30
        let useDelta = rows.allSatisfy { $0.deltaM != nil } && !rows.isEmpty
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(SVG.coordinate(width))\" height=\"\(SVG.coordinate(height))\" "
            + "font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"10\" y=\"20\" font-size=\"14\">\(SVG.escape(SVG.truncated(title, to: 90)))</text>\n"
        let caption = useDelta ? "bars: Δm against single-task baselines, % (mean over seeds, whiskers ± sd; right is better)"
                               : "bars: mean rank over the tasks' metrics (shorter is better)"
        out += "<text x=\"10\" y=\"38\" fill=\"#555\">\(SVG.escape(caption))</text>\n"
        out += "<text x=\"10\" y=\"54\" fill=\"#555\">right: the value, and × the time per step relative to the reference method</text>\n"
        // The horizontal scale: Δm spans its extremes (whiskers included) and zero; ranks span 0…max.
        var low = 0.0, high = 0.0
        for row in rows {
            if useDelta, let d = row.deltaM {
                low = Swift.min(low, d.mean - d.deviation)
                high = Swift.max(high, d.mean + d.deviation)
            } else if row.meanRank.isFinite {
                high = Swift.max(high, row.meanRank)
            }
        }
        if high - low <= 0 { high = low + 1 }
        let pad = (high - low) * 0.05
        low -= useDelta && low < 0 ? pad : 0
        high += pad
        func x(_ value: Double) -> Double { left + (value - low) / (high - low) * plot }
        let zero = x(0)
        out += "<line x1=\"\(SVG.coordinate(zero))\" y1=\"\(SVG.coordinate(top - 6))\" x2=\"\(SVG.coordinate(zero))\" "
            + "y2=\"\(SVG.coordinate(top + rowHeight * Double(rows.count)))\" stroke=\"#333\"/>\n"
        for (i, row) in rows.enumerated() {
            let y = top + rowHeight * Double(i)
            out += "<text x=\"10\" y=\"\(SVG.coordinate(y + 14))\">\(SVG.escape(SVG.truncated(row.name, to: 18)))</text>\n"
            let value = useDelta ? row.deltaM?.mean ?? 0 : row.meanRank
            guard value.isFinite else { continue }
            let colour = !useDelta ? "#4e79a7" : value >= 0 ? "#59a14f" : "#e15759"
            let x0 = Swift.min(zero, x(value)), x1 = Swift.max(zero, x(value))
            out += "<rect x=\"\(SVG.coordinate(x0))\" y=\"\(SVG.coordinate(y + 4))\" width=\"\(SVG.coordinate(Swift.max(1, x1 - x0)))\" "
                + "height=\"\(SVG.coordinate(rowHeight - 8))\" fill=\"\(colour)\"/>\n"
            if useDelta, let d = row.deltaM, d.deviation > 0 {
                let a = x(d.mean - d.deviation), b = x(d.mean + d.deviation), mid = y + rowHeight / 2
                out += "<line x1=\"\(SVG.coordinate(a))\" y1=\"\(SVG.coordinate(mid))\" x2=\"\(SVG.coordinate(b))\" y2=\"\(SVG.coordinate(mid))\" stroke=\"#222\"/>\n"
            }
            let label = useDelta ? (value >= 0 ? "+" : "") + SVG.fixed(value, 2) : SVG.fixed(value, 2)
            let cost = row.relativeCost.map { "  ×" + SVG.fixed($0, 2) } ?? ""
            out += "<text x=\"\(SVG.coordinate(left + plot + 8))\" y=\"\(SVG.coordinate(y + 14))\">\(SVG.escape(label + cost))</text>\n"
        }
        return out + "</svg>\n"
    }
}
