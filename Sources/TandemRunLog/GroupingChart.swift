/// The picture of `tandem group`: the task affinities the choice rests on as a heat map, and each
/// method's chosen groups as a grid (a row per method, a column per task; the tasks one network
/// serves share a colour and a letter), with the groups and their outcome written beside it.
public enum GroupingChart {
    /// One method's choice.
    public struct Row: Sendable {
        /// The method's name (a row label).
        public var name: String
        /// The chosen groups' labels, in order: `{task1, task2}`.
        public var groups: [String]
        /// Per task, the index in `groups` of the group that serves it.
        public var serving: [Int]
        /// What it predicts or measured, in a few words: `Δm +1.2 ± 0.4 %`.
        public var note: String

        public init(name: String, groups: [String], serving: [Int], note: String) {
            self.name = name
            self.groups = groups
            self.serving = serving
            self.note = note
        }
    }

    /// The heat map's matrix and how to draw it.
    public struct Affinity: Sendable {
        public var title: String
        /// matrix[i][j] (NaN is drawn grey).
        public var matrix: [[Float]]
        /// The magnitude drawn at full colour.
        public var scale: Double
        /// What printed values are multiplied by (100 for percentages).
        public var unit: Double

        public init(title: String, matrix: [[Float]], scale: Double, unit: Double) {
            self.title = title
            self.matrix = matrix
            self.scale = scale
            self.unit = unit
        }
    }

    /// A self-contained SVG of `affinity` (when given) and the `rows` over `tasks`.
    public static func svg(title: String, caption: String, tasks: [String], affinity: Affinity?, rows: [Row]) -> String {
        let margin = RunReport.margin, top = 56.0
        let cell = 34.0, labelWidth = 90.0
        let gridWidth = labelWidth + cell * Double(tasks.count)
        let notesWidth = 330.0
        let affinityWidth = affinity == nil ? 0 : LinePanel.width + RunReport.gap
        // Names longer than a cell is wide are slanted above the columns.
        let slanted = tasks.contains { $0.count > 5 }
        let labelSpace = slanted ? 56.0 : 0
        let gridHeight = 44 + labelSpace + cell * Double(rows.count) + 60
        let width = margin * 2 + affinityWidth + gridWidth + notesWidth
        let height = top + Swift.max(affinity == nil ? 0 : LinePanel.height, gridHeight) + margin
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(SVG.coordinate(width))\" height=\"\(SVG.coordinate(height))\" "
            + "font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<defs>\(AffinityPanel.keyGradient)</defs>\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(SVG.coordinate(margin))\" y=\"24\" font-size=\"15\" font-weight=\"bold\">\(SVG.escape(SVG.truncated(title, to: 120)))</text>\n"
        out += "<text x=\"\(SVG.coordinate(margin))\" y=\"42\" fill=\"#555555\">\(SVG.escape(SVG.truncated(caption, to: 160)))</text>\n"
        var x = margin
        if let affinity {
            var panel = AffinityPanel(tasks: tasks, cosine: affinity.matrix)
            panel.title = affinity.title
            panel.scale = affinity.scale > 0 && affinity.scale.isFinite ? affinity.scale : 1
            panel.unit = affinity.unit
            out += panel.render(x: x, y: top)
            x += LinePanel.width + RunReport.gap
        }
        out += "<g class=\"panel\" data-title=\"groupings\">\n"
        out += "<text x=\"\(SVG.coordinate(x + (gridWidth + notesWidth) / 2))\" y=\"\(SVG.coordinate(top + 20))\" text-anchor=\"middle\" "
            + "font-size=\"14\" font-weight=\"bold\">Chosen networks (same colour: trained together)</text>\n"
        let gridTop = top + 44 + labelSpace
        for (j, name) in tasks.enumerated() {
            let middle = SVG.coordinate(x + labelWidth + (Double(j) + 0.5) * cell), labelY = SVG.coordinate(gridTop - 6)
            let rotation = slanted ? " transform=\"rotate(-40 \(middle) \(labelY))\"" : ""
            out += "<text x=\"\(middle)\" y=\"\(labelY)\" text-anchor=\"\(slanted ? "start" : "middle")\" font-size=\"11\"\(rotation)>"
                + "\(SVG.escape(SVG.truncated(name, to: slanted ? 14 : 6)))<title>\(SVG.escape(name))</title></text>\n"
        }
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for (i, row) in rows.enumerated() {
            let rowTop = gridTop + Double(i) * cell, middleY = SVG.coordinate(rowTop + cell / 2)
            out += "<text x=\"\(SVG.coordinate(x + labelWidth - 8))\" y=\"\(middleY)\" dy=\"0.35em\" text-anchor=\"end\">"
                + "\(SVG.escape(SVG.truncated(row.name, to: 12)))</text>\n"
            for j in tasks.indices {
                let served = j < row.serving.count ? row.serving[j] : -1
                let fill = served >= 0 ? RunReport.palette[served % RunReport.palette.count] : "#d9d9d9"
                let groupName = served >= 0 && served < row.groups.count ? row.groups[served] : "not served"
                out += "<rect x=\"\(SVG.coordinate(x + labelWidth + Double(j) * cell))\" y=\"\(SVG.coordinate(rowTop))\" "
                    + "width=\"\(SVG.coordinate(cell - 2))\" height=\"\(SVG.coordinate(cell - 2))\" fill=\"\(fill)\" fill-opacity=\"0.8\">"
                    + "<title>\(SVG.escape(tasks[j])): \(SVG.escape(groupName))</title></rect>\n"
                out += "<text x=\"\(SVG.coordinate(x + labelWidth + (Double(j) + 0.5) * cell - 1))\" y=\"\(middleY)\" dy=\"0.35em\" "
                    + "text-anchor=\"middle\" fill=\"#ffffff\" font-weight=\"bold\">\(served >= 0 ? String(letters[served % letters.count]) : "?")</text>\n"
            }
            let groups = row.groups.enumerated().map { "\(letters[$0.offset % letters.count]) \($0.element)" }.joined(separator: "  ")
            out += "<text x=\"\(SVG.coordinate(x + gridWidth + 10))\" y=\"\(SVG.coordinate(rowTop + cell / 2 - 6))\" dy=\"0.35em\" font-size=\"11\">"
                + "\(SVG.escape(SVG.truncated(groups, to: 64)))</text>\n"
            out += "<text x=\"\(SVG.coordinate(x + gridWidth + 10))\" y=\"\(SVG.coordinate(rowTop + cell / 2 + 8))\" dy=\"0.35em\" font-size=\"11\" "
                + "fill=\"#555555\">\(SVG.escape(SVG.truncated(row.note, to: 64)))</text>\n"
        }
        return out + "</g>\n</svg>\n"
    }
}
