import Testing
@testable import Tandem

/// Issue 19, item 2: data where the right task grouping is known (mmoe-synth with T tasks and a
/// planted correlation structure).
@Suite("Data with a planted task grouping")
struct GroupingDataTests {
    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        return dot / (a.reduce(0) { $0 + $1 * $1 }.squareRoot() * b.reduce(0) { $0 + $1 * $1 }.squareRoot())
    }

    static func correlation(_ a: [Float], _ b: [Float]) -> Double {
        let n = Double(a.count)
        let ma = a.reduce(0) { $0 + Double($1) } / n, mb = b.reduce(0) { $0 + Double($1) } / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(a, b) {
            sab += (Double(x) - ma) * (Double(y) - mb)
            saa += (Double(x) - ma) * (Double(x) - ma)
            sbb += (Double(y) - mb) * (Double(y) - mb)
        }
        return sab / (saa * sbb).squareRoot()
    }

    @Test("the weight vectors' cosines are the planted correlations; two tasks reproduce mmoe-synth's weights", arguments: [0.9, -0.9])
    func plantedCosines(within: Double) throws {
        let planted = MMoESynthetic.pairs(within: within)
        let w = try MMoESynthetic.weights(correlations: planted, seed: 5)
        for i in 0..<4 {
            for k in 0..<4 { #expect(abs(Self.cosine(w[i], w[k]) - planted[i][k]) < 1e-9, "(\(i), \(k))") }
        }
        let two = try MMoESynthetic.weights(correlations: [[1, within], [within, 1]], seed: 5)
        let old = MMoESynthetic.weights(correlation: within, seed: 5)
        #expect(zip(two[0], old.w1).allSatisfy { abs($0 - $1) < 1e-12 } && zip(two[1], old.w2).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    @Test("mmoe-pairs: labels correlate within a pair and not across; bad matrices are refused")
    func pairs() throws {
        var options = DatasetCatalog.Options()
        options.trainCount = 4000
        let data = try #require(try DatasetCatalog.load("mmoe-pairs", options: options).train as? ArrayDataset)
        #expect(data.tasks.map(\.name) == ["task1", "task2", "task3", "task4"] && data.inputShape == [100] && data.count == 4000)
        let within = [Self.correlation(data.labels[0], data.labels[1]), Self.correlation(data.labels[2], data.labels[3])]
        let across = [(0, 2), (0, 3), (1, 2), (1, 3)].map { Self.correlation(data.labels[$0.0], data.labels[$0.1]) }
        #expect(within.allSatisfy { $0 > 0.3 }, "within pairs: \(within)")
        #expect(across.allSatisfy { abs($0) < 0.08 }, "across pairs: \(across)")
        #expect(try DatasetCatalog.load("mmoe-pairs-neg", options: options).train.tasks.count == 4)
        for bad in [[[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]], [[1, 0.5], [0.4, 1]], [[2, 0], [0, 1]], [[1, 1.5], [1.5, 1]]] {
            #expect(throws: TandemError.self, "\(bad)") { try MMoESynthetic.weights(correlations: bad, seed: 1) }
        }
    }
}
