import TandemCore

extension OpCatalog {
    /// Batch norm in training and evaluation mode, 1-d and 2-d, with and without weight and bias, and
    /// with the gradients of x, weight and bias checked independently.
    public static var normalization: [OpCase] {
        var cases: [OpCase] = []
        cases.append(OpCase("batch norm 2d training", [InputSpec([3, 4, 5, 7]), InputSpec([4]), InputSpec([4])],
                            run: { x in
                                let mean = try Tensor.zeros([4], on: x[0].device), variance = try Tensor.ones([4], on: x[0].device)
                                return try x[0].batchNorm(runningMean: mean, runningVar: variance, weight: x[1], bias: x[2], training: true)
                            },
                            reference: { x in Reference.batchNorm(x[0], [3, 4, 5, 7], weight: x[1], bias: x[2]) }))
        cases.append(OpCase("batch norm 2d training + ReLU, fused", [InputSpec([3, 4, 5, 7]), InputSpec([4]), InputSpec([4])],
                            run: { x in
                                try x[0].batchNorm(runningMean: nil, runningVar: nil, weight: x[1], bias: x[2], training: true, relu: true)
                            },
                            reference: { x in Reference.batchNorm(x[0], [3, 4, 5, 7], weight: x[1], bias: x[2]).map { Swift.max($0, 0) } }))
        cases.append(OpCase("batch norm 1d evaluation + ReLU, fused", [InputSpec([7, 5]), InputSpec([5])],
                            run: { x in
                                let mean = try Tensor([0.1, -0.2, 0.3, 0, 0.05], shape: [5], on: x[0].device)
                                let variance = try Tensor([0.5, 1, 2, 1.5, 0.8], shape: [5], on: x[0].device)
                                return try x[0].batchNorm(runningMean: mean, runningVar: variance, weight: nil, bias: x[1], training: false,
                                                          relu: true)
                            },
                            reference: { x in (0..<x[0].count).map { i in
                                let c = i % 5, m = Double(Float([0.1, -0.2, 0.3, 0, 0.05][c])), v = Double(Float([0.5, 1, 2, 1.5, 0.8][c]))
                                return Swift.max(0, (x[0][i] - m) / (v + Double(Float(1e-5))).squareRoot() + x[1][c]) } }))
        cases.append(OpCase("batch norm 1d training", [InputSpec([9, 5]), InputSpec([5]), InputSpec([5])],
                            run: { x in try x[0].batchNorm(runningMean: nil, runningVar: nil, weight: x[1], bias: x[2], training: true) },
                            reference: { x in Reference.batchNorm(x[0], [9, 5], weight: x[1], bias: x[2]) }))
        cases.append(OpCase("batch norm running statistics", [InputSpec([6, 3, 2, 5], differentiable: false)],
                            run: { x in
                                let mean = try Tensor.full([3], 0.2, on: x[0].device), variance = try Tensor.full([3], 2, on: x[0].device)
                                _ = try x[0].batchNorm(runningMean: mean, runningVar: variance, weight: nil, bias: nil, training: true, momentum: 0.3)
                                return try Tensor.concat([mean, variance], axis: 0)
                            },
                            reference: { x in
                                let stats = Reference.channelStatistics(x[0], [6, 3, 2, 5])
                                return stats.mean.map { 0.7 * 0.2 + 0.3 * $0 } + stats.variance.map { 0.7 * 2 + 0.3 * $0 * 60 / 59 }
                            }))
        cases.append(OpCase("batch norm 2d evaluation", [InputSpec([2, 3, 4, 3]), InputSpec([3], .positive, differentiable: false), InputSpec([3])],
                            run: { x in
                                let mean = try Tensor([0.1, -0.2, 0.3], shape: [3], on: x[0].device)
                                return try x[0].batchNorm(runningMean: mean, runningVar: x[1], weight: nil, bias: x[2], training: false)
                            },
                            reference: { x in (0..<x[0].count).map { i in
                                let c = (i / 12) % 3, m = [0.1, -0.2, 0.3][c]
                                return (x[0][i] - Double(Float(m))) / (x[1][c] + 1e-5).squareRoot() + x[2][c] } }))
        cases.append(OpCase("batch norm 2d training without weight and bias", [InputSpec([3, 5, 9, 11])],
                            run: { x in try x[0].batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true) },
                            reference: { x in Reference.batchNorm(x[0], [3, 5, 9, 11], weight: nil, bias: nil) }))
        cases.append(OpCase("batch norm 2d training, weight gradient only", [InputSpec([5, 2, 3, 7], differentiable: false), InputSpec([2])],
                            run: { x in
                                let mean = try Tensor.zeros([2], on: x[0].device), variance = try Tensor.ones([2], on: x[0].device)
                                return try x[0].batchNorm(runningMean: mean, runningVar: variance, weight: x[1], bias: nil, training: true)
                            },
                            reference: { x in Reference.batchNorm(x[0], [5, 2, 3, 7], weight: x[1], bias: nil) }))
        cases.append(OpCase("batch norm 1d training with bias", [InputSpec([6, 7]), InputSpec([7])],
                            run: { x in
                                // Off-centre input: the statistics must not lose precision to a large mean.
                                try (x[0] + 40).batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: x[1], training: true)
                            },
                            reference: { x in Reference.batchNorm(x[0].map { $0 + 40 }, [6, 7], weight: nil, bias: x[1]) }))
        cases.append(OpCase("batch norm 1d evaluation", [InputSpec([7, 5]), InputSpec([5], differentiable: false),
                                                         InputSpec([5], .positive, differentiable: false), InputSpec([5]), InputSpec([5])],
                            run: { x in
                                try x[0].batchNorm(runningMean: x[1], runningVar: x[2], weight: x[3], bias: x[4], training: false, epsilon: 1e-3)
                            },
                            reference: { x in (0..<x[0].count).map { i in
                                let c = i % 5
                                return (x[0][i] - x[1][c]) / (x[2][c] + Double(Float(1e-3))).squareRoot() * x[3][c] + x[4][c] } }))
        cases.append(OpCase("batch norm 2d evaluation with weight, odd planes", [InputSpec([3, 4, 5, 3]), InputSpec([4])],
                            run: { x in
                                let mean = try Tensor([0.1, -0.2, 0.3, 0], shape: [4], on: x[0].device)
                                let variance = try Tensor([0.5, 1.5, 2, 0.9], shape: [4], on: x[0].device)
                                return try x[0].batchNorm(runningMean: mean, runningVar: variance, weight: x[1], bias: nil, training: false)
                            },
                            reference: { x in (0..<x[0].count).map { i in
                                let c = (i / 15) % 4
                                let m = Double(Float([0.1, -0.2, 0.3, 0][c])), v = Double(Float([0.5, 1.5, 2, 0.9][c]))
                                return (x[0][i] - m) / (v + Double(Float(1e-5))).squareRoot() * x[1][c] } }))
        return cases
    }
}

extension Reference {
    /// Per-channel mean and biased variance of [N, C, ...] values.
    static func channelStatistics(_ x: [Double], _ shape: [Int]) -> (mean: [Double], variance: [Double]) {
        let c = shape[1], inner = shape[2...].reduce(1, *), n = shape[0] * inner
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for i in x.indices { mean[(i / inner) % c] += x[i] / Double(n) }
        for i in x.indices { variance[(i / inner) % c] += (x[i] - mean[(i / inner) % c]) * (x[i] - mean[(i / inner) % c]) / Double(n) }
        return (mean, variance)
    }

    /// Training-mode batch norm in float64 (nil weight 1, nil bias 0).
    static func batchNorm(_ x: [Double], _ shape: [Int], weight: [Double]?, bias: [Double]?, epsilon: Double = 1e-5) -> [Double] {
        let c = shape[1], inner = shape[2...].reduce(1, *)
        let stats = channelStatistics(x, shape)
        return x.indices.map { i in
            let k = (i / inner) % c
            return (x[i] - stats.mean[k]) / (stats.variance[k] + Double(Float(epsilon))).squareRoot() * (weight?[k] ?? 1) + (bias?[k] ?? 0)
        }
    }
}
