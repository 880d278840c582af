/// The task-affinity chart of a run report: the tasks' gradient-cosine matrix as a heat map, each
/// cell coloured from red (−1, the tasks' gradients conflict) through white (0) to blue (+1, they
/// agree) and labelled with its value.
struct AffinityPanel {
    /// Row and column names.
    let tasks: [String]
    /// cosine[i][j]; a value that is not finite (a pair never measured) is drawn grey with "n/a".
    let cosine: [[Float]]

    /// The panel's heading.
    var title = "Task affinity (gradient cosine)"
    /// The magnitude drawn at full colour (values beyond it are clamped): 1 for cosines.
    var scale = 1.0
    /// What the printed values are multiplied by (100 prints fractions as percentages).
    var unit = 1.0
    /// Colours at −1 and +1.
    static let negative = (r: 178.0, g: 24.0, b: 43.0), positive = (r: 33.0, g: 102.0, b: 172.0)

    /// The panel's SVG in a `LinePanel`-sized box at (`x`, `y`).
    func render(x: Double, y: Double) -> String {
        var out = "<g class=\"panel\" data-title=\"\(SVG.escape(title))\">\n"
        out += "<text x=\"\(SVG.coordinate(x + LinePanel.width / 2))\" y=\"\(SVG.coordinate(y + 20))\" text-anchor=\"middle\" "
            + "font-size=\"14\" font-weight=\"bold\">\(SVG.escape(title))</text>\n"
        let n = tasks.count
        guard n > 0, cosine.count == n, cosine.allSatisfy({ $0.count == n }) else {
            out += "<text x=\"\(SVG.coordinate(x + LinePanel.width / 2))\" y=\"\(SVG.coordinate(y + LinePanel.height / 2))\" "
                + "text-anchor=\"middle\" fill=\"#888888\">the matrix is not \(n)×\(n) for its \(n) tasks</text>\n</g>\n"
            return out
        }
        // Room for the row names on the left and the column names below (slanted ones need more).
        let labelWidth = 110.0, top = y + 44.0, barWidth = 44.0
        let longest = Double(tasks.map { SVG.truncated($0, to: 14).count }.max() ?? 0)
        let widthPerCell = (LinePanel.width - labelWidth - barWidth - 24) / Double(n)
        let slanted = longest * 6.5 > min(56, widthPerCell)
        let below = slanted ? longest * 6.5 * 0.6 + 12 : 22
        let side = min(56, (LinePanel.height - 44 - below) / Double(n), widthPerCell)
        let left = x + labelWidth + 8
        // Values in the cells: two decimals, or one in small cells, in a font that fits ("-0.41").
        let decimals = side >= 26 ? 2 : 1
        let fontSize = min(11, (side - 3) / (Double(decimals + 3) * 0.62))
        for (i, name) in tasks.enumerated() {
            let rowMiddle = SVG.coordinate(top + (Double(i) + 0.5) * side)
            out += "<text x=\"\(SVG.coordinate(left - 6))\" y=\"\(rowMiddle)\" dy=\"0.35em\" text-anchor=\"end\" font-size=\"11\">"
                + "\(SVG.escape(SVG.truncated(name, to: 14)))<title>\(SVG.escape(name))</title></text>\n"
            for j in 0..<n {
                let value = Double(cosine[i][j]) * unit
                let cellX = SVG.coordinate(left + Double(j) * side), cellY = SVG.coordinate(top + Double(i) * side)
                let middleX = SVG.coordinate(left + (Double(j) + 0.5) * side)
                let (fill, ink) = Self.colours(value / (scale * unit))
                out += "<rect x=\"\(cellX)\" y=\"\(cellY)\" width=\"\(SVG.coordinate(side))\" height=\"\(SVG.coordinate(side))\" "
                    + "fill=\"\(fill)\" stroke=\"#ffffff\"><title>\(SVG.escape(name)) · \(SVG.escape(tasks[j])): "
                    + "\(value.isFinite ? SVG.fixed(value, 3) : "not measured")</title></rect>\n"
                out += "<text x=\"\(middleX)\" y=\"\(rowMiddle)\" dy=\"0.35em\" text-anchor=\"middle\" font-size=\"\(SVG.coordinate(fontSize))\" "
                    + "fill=\"\(ink)\">\(value.isFinite ? SVG.fixed(value, decimals) : "n/a")</text>\n"
            }
        }
        // Column names under the matrix, slanted when they would not fit side by side.
        let bottom = top + Double(n) * side
        for (j, name) in tasks.enumerated() {
            let middleX = SVG.coordinate(left + (Double(j) + 0.5) * side), labelY = SVG.coordinate(bottom + 14)
            let text = SVG.escape(SVG.truncated(name, to: 14))
            if slanted {
                out += "<text x=\"\(middleX)\" y=\"\(labelY)\" text-anchor=\"end\" font-size=\"11\" "
                    + "transform=\"rotate(-35 \(middleX) \(labelY))\">\(text)</text>\n"
            } else {
                out += "<text x=\"\(middleX)\" y=\"\(labelY)\" text-anchor=\"middle\" font-size=\"11\">\(text)</text>\n"
            }
        }
        // The colour key: −1 at the bottom, +1 at the top.
        let barX = left + Double(n) * side + 20, barHeight = Double(n) * side
        out += "<rect x=\"\(SVG.coordinate(barX))\" y=\"\(SVG.coordinate(top))\" width=\"12\" height=\"\(SVG.coordinate(barHeight))\" "
            + "fill=\"url(#affinity-key)\" stroke=\"#333333\"/>\n"
        let end = scale * unit
        let endText = end == 1 ? "1" : SVG.fixed(end, end >= 10 ? 0 : (end >= 1 ? 1 : 2))
        for (value, position) in [(1.0, top), (0.0, top + barHeight / 2), (-1.0, top + barHeight)] {
            out += "<text x=\"\(SVG.coordinate(barX + 16))\" y=\"\(SVG.coordinate(position))\" dy=\"0.35em\" font-size=\"10\">"
                + "\(value > 0 ? "+" + endText : value < 0 ? "-" + endText : "0")</text>\n"
        }
        return out + "</g>\n"
    }

    /// The gradient the colour key is filled with (goes into the SVG's `<defs>`).
    static var keyGradient: String {
        "<linearGradient id=\"affinity-key\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
            + "<stop offset=\"0\" stop-color=\"\(colours(-1).fill)\"/><stop offset=\"0.5\" stop-color=\"#ffffff\"/>"
            + "<stop offset=\"1\" stop-color=\"\(colours(1).fill)\"/></linearGradient>\n"
    }

    /// A cell's fill for `value` (clamped to [−1, 1]) and a text colour that reads on it.
    static func colours(_ value: Double) -> (fill: String, ink: String) {
        guard value.isFinite else { return ("#d9d9d9", "#555555") }
        let t = min(1, Swift.abs(value))
        let end = value < 0 ? negative : positive
        func channel(_ c: Double) -> String {
            let byte = Int((255 + (c - 255) * t).rounded())
            let digits = Array("0123456789abcdef")
            return String([digits[byte / 16], digits[byte % 16]])
        }
        return ("#" + channel(end.r) + channel(end.g) + channel(end.b), t > 0.55 ? "#ffffff" : "#111111")
    }
}
