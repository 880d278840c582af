import TandemCore

extension OpCatalog {
    /// Checks of the fused multi-task kernels: MTAN attention gating and cross-stitch mixing
    /// (T = 2 and 3 task columns, C = 5 channels, batch 3, 7 spatial positions).
    public static var fused: [OpCase] {
        var cases: [OpCase] = []
        cases.append(OpCase("attention gate", [InputSpec([3, 5, 7]), InputSpec([3, 5, 7])],
               run: { try $0[0].attentionGate(features: $0[1]) },
               reference: { x in zip(x[0], x[1]).map { Reference.sigmoid($0) * $1 } }))
        cases.append(OpCase("attention gate 4d into sum", [InputSpec([2, 3, 5, 5]), InputSpec([2, 3, 5, 5])],
               run: { try ($0[0] * 3).attentionGate(features: $0[1]).sum(axes: [1]) },
               reference: { x in
                   let gated = zip(x[0], x[1]).map { Reference.sigmoid(3 * $0) * $1 }
                   return Reference.reduce(gated, [2, 3, 5, 5], axes: [1], initial: 0, +) }))
        // MTAN's mask end to end: batch norm, sigmoid and gating, the logits recomputed in the backward.
        cases.append(OpCase("batch norm + attention gate, training", [InputSpec([3, 4, 5, 3]), InputSpec([3, 4, 5, 3]),
                                                                      InputSpec([4]), InputSpec([4])],
               run: { x in
                   try x[0].batchNormAttentionGate(features: x[1], runningMean: nil, runningVar: nil, weight: x[2], bias: x[3],
                                                   training: true)
               },
               reference: { x in
                   zip(Reference.batchNorm(x[0], [3, 4, 5, 3], weight: x[2], bias: x[3]), x[1]).map { Reference.sigmoid($0) * $1 }
               }))
        cases.append(OpCase("batch norm + attention gate, evaluation", [InputSpec([2, 3, 4, 3]), InputSpec([2, 3, 4, 3]), InputSpec([3])],
               run: { x in
                   let mean = try Tensor([0.1, -0.2, 0.3], shape: [3], on: x[0].device)
                   let variance = try Tensor([0.5, 1.5, 2], shape: [3], on: x[0].device)
                   return try x[0].batchNormAttentionGate(features: x[1], runningMean: mean, runningVar: variance, weight: x[2],
                                                          bias: nil, training: false)
               },
               reference: { x in (0..<x[0].count).map { i in
                   let c = (i / 12) % 3, m = Double(Float([0.1, -0.2, 0.3][c])), v = Double(Float([0.5, 1.5, 2][c]))
                   return Reference.sigmoid((x[0][i] - m) / (v + Double(Float(1e-5))).squareRoot() * x[2][c]) * x[1][i] } }))
        // A linear layer and its ReLU in one pass each way; a bias gradient in one pass.
        cases.append(OpCase("linear + ReLU fused", [InputSpec([5, 7]), InputSpec([4, 7]), InputSpec([4])],
               run: { try $0[0].linear(weight: $0[1], bias: $0[2], relu: true) },
               reference: { x in (0..<20).map { i in
                   let (r, o) = (i / 4, i % 4)
                   return Swift.max(x[2][o] + (0..<7).reduce(0) { $0 + x[0][r * 7 + $1] * x[1][o * 7 + $1] }, 0) } }))
        cases.append(OpCase("sum over every axis but the channels", [InputSpec([3, 5, 4, 2])],
               run: { try $0[0].sum(axes: [0, 2, 3]) },
               reference: { Reference.reduce($0[0], [3, 5, 4, 2], axes: [0, 2, 3], initial: 0, +) }))
        cases.append(OpCase("cross-stitch T=2 stacked", [InputSpec([2, 3, 5, 7]), InputSpec([5, 2, 2])],
               run: { try $0[0].crossStitch(alpha: $0[1]) },
               reference: { Reference.crossStitch($0[0], alpha: $0[1], tasks: 2, batch: 3, channels: 5, inner: 7) }))
        cases.append(OpCase("cross-stitch T=3 columns", [InputSpec([3, 5, 7]), InputSpec([3, 5, 7]), InputSpec([3, 5, 7]),
                                                          InputSpec([5, 3, 3])],
               run: { x in try Tensor.stack(try Tensor.crossStitch(Array(x[0..<3]), alpha: x[3]), axis: 0) },
               reference: { x in Reference.crossStitch(x[0] + x[1] + x[2], alpha: x[3], tasks: 3, batch: 3, channels: 5, inner: 7) }))
        cases.append(OpCase("cross-stitch T=3 on 7x3 maps", [InputSpec([3, 3, 5, 7, 3]), InputSpec([5, 3, 3])],
               run: { try $0[0].crossStitch(alpha: $0[1]) },
               reference: { Reference.crossStitch($0[0], alpha: $0[1], tasks: 3, batch: 3, channels: 5, inner: 21) }))
        cases.append(OpCase("cross-stitch T=2 on units [N, C]", [InputSpec([3, 5]), InputSpec([3, 5]), InputSpec([5, 2, 2])],
               run: { x in
                   let y = try Tensor.crossStitch([x[0], x[1]], alpha: x[2])
                   return try y[0] * 2 + y[1] },
               reference: { x in
                   let y = Reference.crossStitch(x[0] + x[1], alpha: x[2], tasks: 2, batch: 3, channels: 5, inner: 1)
                   return (0..<15).map { 2 * y[$0] + y[15 + $0] } }))
        return cases
    }
}

extension Reference {
    /// Cross-stitch mixing of stacked columns x[T, N, C, S] by alpha[C, T, T] in float64.
    static func crossStitch(_ x: [Double], alpha: [Double], tasks: Int, batch: Int, channels: Int, inner: Int) -> [Double] {
        let column = batch * channels * inner
        return (0..<(tasks * column)).map { i in
            let t = i / column, within = i % column, c = (within / inner) % channels
            return (0..<tasks).reduce(0.0) { $0 + alpha[(c * tasks + t) * tasks + $1] * x[$1 * column + within] }
        }
    }
}
