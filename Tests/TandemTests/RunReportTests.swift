import Foundation
import Testing
@testable import Tandem
@testable import TandemMTL
@testable import TandemRunLog

@Suite("Run report: the SVG picture of a run")
struct RunReportTests {
    /// Nil when `text` is well-formed XML as far as an SVG needs (one root element, balanced and
    /// properly nested tags, quoted attributes, `&` only in entities, no `<` in text or attribute
    /// values); else what is wrong and where.
    static func xmlProblem(_ text: String) -> String? {
        let chars = Array(text.unicodeScalars)
        var stack: [String] = [], roots = 0, i = 0
        func entityOK(at start: Int) -> Bool {
            guard let end = chars[start...].prefix(10).firstIndex(of: ";") else { return false }
            let name = String(String.UnicodeScalarView(chars[(start + 1)..<end]))
            return ["amp", "lt", "gt", "quot", "apos"].contains(name) || name.hasPrefix("#")
        }
        while i < chars.count {
            if chars[i] == "&", !entityOK(at: i) { return "bare & at \(i)" }
            guard chars[i] == "<" else {
                if chars[i] == ">" && stack.isEmpty && roots == 0 { return "stray > at \(i)" }
                i += 1
                continue
            }
            let rest = String(String.UnicodeScalarView(chars[i..<min(chars.count, i + 4)]))
            if rest.hasPrefix("<?") || rest.hasPrefix("<!--") {
                let close = rest.hasPrefix("<?") ? "?>" : "-->"
                guard let end = text.unicodeScalars.count > i ? String(String.UnicodeScalarView(chars[i...])).range(of: close) : nil
                else { return "unterminated \(rest) at \(i)" }
                i += String(String.UnicodeScalarView(chars[i...]))[..<end.upperBound].unicodeScalars.count
                continue
            }
            // A tag: scan to its closing '>' outside quotes.
            var j = i + 1, quote: Unicode.Scalar?
            while j < chars.count {
                let c = chars[j]
                if let q = quote {
                    if c == q { quote = nil } else if c == "<" { return "< inside an attribute at \(j)" }
                    else if c == "&", !entityOK(at: j) { return "bare & in an attribute at \(j)" }
                } else if c == "\"" || c == "'" {
                    quote = c
                } else if c == "=" {
                    guard j + 1 < chars.count, chars[j + 1] == "\"" || chars[j + 1] == "'" else { return "unquoted attribute at \(j)" }
                } else if c == "<" {
                    return "< inside a tag at \(j)"
                } else if c == ">" {
                    break
                }
                j += 1
            }
            guard j < chars.count else { return "unterminated tag at \(i)" }
            let body = String(String.UnicodeScalarView(chars[(i + 1)..<j]))
            let name = String(body.drop { $0 == "/" }.prefix { !$0.isWhitespace && $0 != "/" })
            if body.hasPrefix("/") {
                guard stack.popLast() == name else { return "</\(name)> closes the wrong element at \(i)" }
            } else if !body.hasSuffix("/") {
                if stack.isEmpty { roots += 1 }
                stack.append(name)
            } else if stack.isEmpty {
                roots += 1
            }
            i = j + 1
        }
        if !stack.isEmpty { return "unclosed \(stack)" }
        return roots == 1 ? nil : "\(roots) root elements"
    }

    /// The text of the panel titled `title` (up to the next panel), or nil.
    static func panel(_ svg: String, _ title: String) -> Substring? {
        guard let start = svg.range(of: "<g class=\"panel\" data-title=\"\(title)\">") else { return nil }
        let end = svg[start.upperBound...].range(of: "<g class=\"panel\"")?.lowerBound ?? svg.endIndex
        return svg[start.lowerBound..<end]
    }

    /// The series group of `task` inside a panel.
    static func series(_ panel: Substring, _ task: String) -> Substring? {
        guard let start = panel.range(of: "<g class=\"series\" data-task=\"\(task)\">"),
              let end = panel[start.upperBound...].range(of: "</g>") else { return nil }
        return panel[start.upperBound..<end.lowerBound]
    }

    /// The values of attribute `name` in `text`, in order.
    static func numbers(_ text: Substring, _ name: String) -> [Double] {
        var values: [Double] = [], rest = text
        while let at = rest.range(of: " \(name)=\"") {
            let digits = rest[at.upperBound...].prefix { $0 != "\"" }
            if let value = Double(digits) { values.append(value) }
            rest = rest[at.upperBound...]
        }
        return values
    }

    static func epoch(_ index: Int, train: [Float], validation: [(task: String, loss: Double, accuracy: Double)]?,
                      best: Bool = false, deltaM: Double? = nil) -> EpochReport {
        EpochReport(epoch: index, trainLosses: train,
                    validation: validation.map { tasks in
                        EvaluationResult(tasks: tasks.map {
                            TaskMetrics(task: $0.task, loss: $0.loss, metrics: [Metric(name: "accuracy", value: $0.accuracy, higherIsBetter: true)])
                        })
                    },
                    deltaM: deltaM, score: nil, isBest: best, weights: [Float](repeating: 1, count: train.count))
    }

    /// Four epochs of two tasks with validation, and an affinity matrix.
    static let sample: [EpochReport] = [
        epoch(0, train: [3, 2.2], validation: [("left", 2.5, 0.3), ("right", 2.1, 0.4)], best: true, deltaM: 0.01),
        epoch(1, train: [1, 1.5], validation: [("left", 1.4, 0.6), ("right", 1.6, 0.55)], best: true, deltaM: 0.123),
        epoch(2, train: [2, 1.2], validation: [("left", 1.2, 0.7), ("right", 1.5, 0.5)]),
        epoch(3, train: [0.8, 1.0], validation: [("left", 1.3, 0.68), ("right", 1.45, 0.52)]),
    ]

    @Test("the picture is well-formed, names every task and panel, and draws a higher value higher")
    func picture() throws {
        let svg = RunReport.svg(title: "W2 run", tasks: ["left", "right"], epochs: Self.sample,
                                affinity: (tasks: ["left", "right"], cosine: [[1, -0.3], [-0.3, 1]]))
        #expect(Self.xmlProblem(svg) == nil, "\(Self.xmlProblem(svg) ?? "")")
        // The checker itself finds what it looks for.
        #expect(Self.xmlProblem("<a><b></a></b>") != nil && Self.xmlProblem("<a>x & y</a>") != nil)
        #expect(Self.xmlProblem("<a x=1/>") != nil && Self.xmlProblem("<a/><b/>") != nil && Self.xmlProblem("<a><b/></a>") == nil)
        #expect(svg.hasPrefix("<?xml") && svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        for text in ["W2 run", ">left<", ">right<", "Training loss", "Validation loss",
                     "Validation accuracy (higher is better)", "Task affinity (gradient cosine)", "best epoch 2 (Δm +12.30%)"] {
            #expect(svg.contains(text), "\(text)")
        }
        // Training loss of left: 3, 1, 2, 0.8 over epochs 1–4.
        let training = try #require(Self.panel(svg, "Training loss"))
        let left = try #require(Self.series(training, "left"))
        let y = Self.numbers(left, "cy"), x = Self.numbers(left, "cx")
        try #require(y.count == 4 && x.count == 4)
        #expect(y[0] < y[2] && y[2] < y[1] && y[1] < y[3], "higher loss, smaller y: \(y)")
        #expect(x[0] < x[1] && x[1] < x[2] && x[2] < x[3])
        #expect(left.contains("<polyline"))
        // Accuracy: right's 0.4 < 0.55, so drawn lower (larger y).
        let accuracyPanel = try #require(Self.panel(svg, "Validation accuracy (higher is better)"))
        let accuracy = try #require(Self.series(accuracyPanel, "right"))
        let ay = Self.numbers(accuracy, "cy")
        #expect(ay.count == 4 && ay[0] > ay[1])
        // The heat map: four cells with their values.
        let affinity = try #require(Self.panel(svg, "Task affinity (gradient cosine)"))
        #expect(affinity.components(separatedBy: "<rect").count - 1 == 4 + 1)  // cells and the colour key
        #expect(affinity.contains(">1.00<") && affinity.contains(">-0.30<"))
    }

    @Test("one epoch is a dot; no validation leaves out its panels; a NaN is skipped and breaks the line")
    func edgeCases() throws {
        let one = RunReport.svg(title: "one", tasks: ["a", "b"], epochs: [Self.epoch(0, train: [1, 2], validation: nil)], affinity: nil)
        #expect(Self.xmlProblem(one) == nil)
        let panel = try #require(Self.panel(one, "Training loss"))
        #expect(!panel.contains("<polyline") && Self.numbers(panel, "cy").count == 2)
        #expect(!one.contains("Validation") && !one.contains("Task affinity") && one.contains("no validation"))

        let epochs = [Self.epoch(0, train: [1, 2], validation: nil), Self.epoch(1, train: [.nan, 2], validation: nil),
                      Self.epoch(2, train: [0.5, .infinity], validation: nil), Self.epoch(3, train: [0.4, 1], validation: nil)]
        let gaps = RunReport.svg(title: "gaps", tasks: ["a", "b"], epochs: epochs, affinity: nil)
        #expect(Self.xmlProblem(gaps) == nil)
        let gapsPanel = try #require(Self.panel(gaps, "Training loss"))
        let a = try #require(Self.series(gapsPanel, "a"))
        #expect(Self.numbers(a, "cy").count == 3)
        #expect(a.components(separatedBy: "<polyline").count - 1 == 1)  // epochs 3–4; epoch 1 alone is a dot
        #expect(!gaps.contains("NaN") && !gaps.contains("nan"))

        let empty = RunReport.svg(title: "empty", tasks: ["a"], epochs: [], affinity: nil)
        #expect(Self.xmlProblem(empty) == nil && empty.contains("no finite values"))
    }

    @Test("eight tasks get eight colours, a ninth is dashed; names and titles are escaped")
    func coloursAndEscaping() throws {
        let names = (1...9).map { "task\($0)" }
        let svg = RunReport.svg(title: "many", tasks: names,
                                epochs: [Self.epoch(0, train: [Float](repeating: 1, count: 9), validation: nil),
                                         Self.epoch(1, train: (1...9).map(Float.init), validation: nil)], affinity: nil)
        let panel = try #require(Self.panel(svg, "Training loss"))
        var colours: [String] = []
        for name in names {
            let line = try #require(Self.series(panel, name))
            let stroke = try #require(line.range(of: "stroke=\""))
            colours.append(String(line[stroke.upperBound...].prefix { $0 != "\"" }))
        }
        #expect(Set(colours.prefix(8)).count == 8)
        let ninth = try #require(Self.series(panel, "task9")), first = try #require(Self.series(panel, "task1"))
        #expect(ninth.contains("stroke-dasharray") && !first.contains("stroke-dasharray"))

        let nasty = "a<b&\"c\"'"
        let escaped = RunReport.svg(title: "</svg><script>alert(1)</script>", tasks: [nasty, "ok"],
                                    epochs: [Self.epoch(0, train: [1, 2], validation: [(nasty, 1, 0.5), ("ok", 2, 0.25)])],
                                    affinity: (tasks: [nasty, "ok"], cosine: [[1, .nan], [.nan, 1]]))
        #expect(Self.xmlProblem(escaped) == nil, "\(Self.xmlProblem(escaped) ?? "")")
        #expect(!escaped.contains("<script>") && !escaped.contains(nasty))
        #expect(escaped.contains("a&lt;b&amp;&quot;c&quot;&apos;"))
        #expect(escaped.contains(">n/a<"))
    }

    @Test("axis ticks are round numbers covering the values; fixed-point text rounds and signs correctly")
    func scales() {
        let scale = AxisScale.nice([0.71, 0.69, 0.65], start: 100, end: 0)
        #expect(scale.lower <= 0.65 && scale.upper >= 0.71 && scale.ticks.count >= 3)
        #expect(scale.position(0.71) < scale.position(0.65))
        #expect(scale.ticks.map(scale.label) == ["0.64", "0.66", "0.68", "0.70", "0.72"])
        #expect(AxisScale.epochs(1, 10, start: 0, end: 1).ticks == [2, 4, 6, 8, 10])
        #expect(AxisScale.epochs(1, 30, start: 0, end: 1).ticks == [1, 5, 10, 15, 20, 25, 30])
        #expect(AxisScale.epochs(3, 3, start: 0, end: 10).position(3) == 5)
        #expect(SVG.fixed(2, 1) == "2.0" && SVG.fixed(-0.004, 2) == "0.00" && SVG.fixed(-1.25, 1) == "-1.3")
        #expect(SVG.fixed(0.07, 2) == "0.07" && SVG.fixed(123.456, 0) == "123")
    }

    @Test("a realistic report and a one-epoch report are written to files (for looking at them)")
    func writesFile() throws {
        var epochs: [EpochReport] = []
        for e in 0..<12 {
            let t = Double(e)
            let left = 2.3 * (0.78 + 0.22 * (1 - t / 11)) - 0.9 * (1 - 1 / (1 + t / 3)), right = 2.2 - 0.6 * (1 - 1 / (1 + t / 2))
            epochs.append(Self.epoch(e, train: [Float(left), Float(right), Float(1.1 - 0.05 * t)],
                                     validation: [("left", left + 0.1 + 0.01 * t, min(0.95, 0.2 + 0.06 * t)),
                                                  ("right", right + 0.15, 0.3 + 0.04 * t - 0.002 * t * t),
                                                  ("size", 1.15 - 0.04 * t, e == 5 ? .nan : 0.1 + 0.03 * t)],
                                     best: e == 3 || e == 8, deltaM: 0.02 * t - 0.05))
        }
        let svg = RunReport.svg(title: "lenet-hps · multifashion · uw", tasks: ["left", "right", "size"], epochs: epochs,
                                affinity: (tasks: ["left", "right", "size"],
                                           cosine: [[1, 0.12, -0.41], [0.12, 1, 0.63], [-0.41, 0.63, 1]]))
        let directory = temporaryDirectory("runreport")
        #expect(System.writeFileAtomically(directory + "/report.svg", Array(svg.utf8)))
        #expect(Self.xmlProblem(svg) == nil)
        let one = RunReport.svg(title: "one epoch, <no> validation", tasks: ["left", "right"],
                                epochs: [Self.epoch(0, train: [2.3, 2.1], validation: nil, best: true)], affinity: nil)
        #expect(System.writeFileAtomically(directory + "/one-epoch.svg", Array(one.utf8)))
        let names = ["semantic_segmentation", "depth", "normals", "a<b&c", "t5", "t6", "t7", "t8", "t9"]
        let many = RunReport.svg(title: "nine tasks", tasks: names,
                                 epochs: (0..<5).map { e in Self.epoch(e, train: names.indices.map { Float($0 + 1) / Float(e + 2) }, validation: nil) },
                                 affinity: (tasks: names, cosine: names.indices.map { i in names.indices.map { j in i == j ? 1 : Float((i * 7 + j * 3) % 11) / 5 - 1 } }))
        #expect(System.writeFileAtomically(directory + "/nine-tasks.svg", Array(many.utf8)))
        #expect(Self.xmlProblem(many) == nil)
    }
}
