import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// Hyper-parameters of an SGD reference run.
struct SGDSettings: Sendable {
    var lr: Double, momentum = 0.0, dampening = 0.0, weightDecay = 0.0, nesterov = false
}

/// Hyper-parameters of an Adam or AdamW reference run.
struct AdamSettings: Sendable {
    var lr: Double, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, weightDecay = 0.0, decoupled = false
}

extension OpCatalog {
    /// Checks of the fused optimizer updates (forward only): a copy of the parameter takes one or two
    /// steps with the given gradients, compared with the same updates in float64.
    public static var optimizers: [OpCase] {
        var cases: [OpCase] = []
        let shape = [5, 7]
        let specs = (0..<3).map { _ in InputSpec(shape, differentiable: false) }

        /// Copies the parameter, runs `steps` with gradients x[1], x[2], ..., returns the parameter.
        func stepping(_ steps: Int, _ make: @escaping @Sendable ([Tensor]) throws -> any Optimizer) -> @Sendable ([Tensor]) throws -> Tensor {
            { x in
                let parameter = try x[0] * 1
                let optimizer = try make([parameter])
                for k in 1...steps {
                    parameter.grad = x[k]
                    try optimizer.step()
                }
                return parameter
            }
        }

        func sgd(_ name: String, _ s: SGDSettings) -> OpCase {
            OpCase(name, specs,
                   run: stepping(2) { try SGD($0, learningRate: Float(s.lr), momentum: Float(s.momentum), dampening: Float(s.dampening),
                                              weightDecay: Float(s.weightDecay), nesterov: s.nesterov) },
                   reference: { x in Reference.sgd(x[0], gradients: [x[1], x[2]], s) })
        }
        cases.append(sgd("SGD update, weight decay", SGDSettings(lr: 0.1, weightDecay: 0.01)))
        cases.append(sgd("SGD momentum, dampening", SGDSettings(lr: 0.05, momentum: 0.9, dampening: 0.3)))
        cases.append(sgd("SGD Nesterov, weight decay", SGDSettings(lr: 0.05, momentum: 0.9, weightDecay: 0.02, nesterov: true)))

        func adam(_ name: String, _ s: AdamSettings) -> OpCase {
            OpCase(name, specs,
                   run: stepping(2) { p in
                       s.decoupled
                           ? try AdamW(p, learningRate: Float(s.lr), beta1: Float(s.beta1), beta2: Float(s.beta2),
                                       epsilon: Float(s.epsilon), weightDecay: Float(s.weightDecay))
                           : try Adam(p, learningRate: Float(s.lr), beta1: Float(s.beta1), beta2: Float(s.beta2),
                                      epsilon: Float(s.epsilon), weightDecay: Float(s.weightDecay)) },
                   reference: { x in Reference.adam(x[0], gradients: [x[1], x[2]], s) })
        }
        cases.append(adam("Adam update", AdamSettings(lr: 0.01)))
        cases.append(adam("Adam L2 weight decay, betas 0.8/0.99", AdamSettings(lr: 0.02, beta1: 0.8, beta2: 0.99, weightDecay: 0.1)))
        cases.append(adam("AdamW decoupled weight decay", AdamSettings(lr: 0.01, weightDecay: 0.1, decoupled: true)))

        cases.append(OpCase("SGD group learning-rate multiplier", specs + [InputSpec([5, 2, 2], differentiable: false)],
               run: { x in
                   let weight = try x[0] * 1, alpha = try x[3] * 1
                   let optimizer = try SGD([ParameterGroup([weight]), ParameterGroup([alpha], learningRateMultiplier: 10, weightDecay: 0)],
                                           learningRate: 0.01, momentum: 0.9, weightDecay: 0.05)
                   weight.grad = x[1]
                   alpha.grad = try x[2].reshape([35]).slice(axis: 0, 0..<20).reshape([5, 2, 2])
                   try optimizer.step()
                   return try Tensor.concat([weight.reshape([35]), alpha.reshape([20])], axis: 0) },
               reference: { x in
                   Reference.sgd(x[0], gradients: [x[1]], SGDSettings(lr: 0.01, momentum: 0.9, weightDecay: 0.05))
                       + Reference.sgd(x[3], gradients: [Array(x[2][0..<20])], SGDSettings(lr: 0.1, momentum: 0.9)) }))

        for maxNorm in [0.5, 100] {
            cases.append(OpCase("clip gradient norm to \(maxNorm)", [InputSpec([5, 7], differentiable: false), InputSpec([3], differentiable: false)],
                   run: { x in
                       let a = try Tensor.zeros([5, 7], on: x[0].device), b = try Tensor.zeros([3], on: x[0].device)
                       let unused = try Tensor.zeros([2], on: x[0].device)
                       a.grad = x[0]
                       b.grad = x[1]
                       let norm = try Tensor.clipGradientNorm([a, unused, b], maxNorm: Float(maxNorm))
                       guard let ga = a.grad, let gb = b.grad else {
                           throw TandemError.invalidArgument(op: "clipGradientNorm", message: "a gradient disappeared")
                       }
                       return try Tensor.concat([norm.reshape([1]), ga.reshape([35]), gb], axis: 0) },
                   reference: { x in
                       let norm = (x[0] + x[1]).reduce(0) { $0 + $1 * $1 }.squareRoot()
                       let scale = Swift.min(1, maxNorm / (norm + 1e-6))
                       return [norm] + (x[0] + x[1]).map { $0 * scale } }))
        }
        return cases
    }
}

extension Reference {
    /// `gradients.count` SGD steps from `parameter` in float64, as `torch.optim.SGD` computes them.
    static func sgd(_ parameter: [Double], gradients: [[Double]], _ s: SGDSettings) -> [Double] {
        var p = parameter, buffer = [Double](repeating: 0, count: parameter.count)
        for (k, g) in gradients.enumerated() {
            for i in p.indices {
                var d = g[i] + s.weightDecay * p[i]
                if s.momentum != 0 {
                    buffer[i] = k == 0 ? d : s.momentum * buffer[i] + (1 - s.dampening) * d
                    d = s.nesterov ? d + s.momentum * buffer[i] : buffer[i]
                }
                p[i] -= s.lr * d
            }
        }
        return p
    }

    /// `gradients.count` Adam (or AdamW) steps from `parameter` in float64, as PyTorch computes them.
    static func adam(_ parameter: [Double], gradients: [[Double]], _ s: AdamSettings) -> [Double] {
        var p = parameter
        var m = [Double](repeating: 0, count: p.count), v = m
        for (k, g) in gradients.enumerated() {
            let t = Double(k + 1)
            let bias1 = 1 - pow(s.beta1, t), bias2 = 1 - pow(s.beta2, t)
            for i in p.indices {
                var d = g[i]
                if s.decoupled { p[i] *= 1 - s.lr * s.weightDecay } else { d += s.weightDecay * p[i] }
                m[i] = s.beta1 * m[i] + (1 - s.beta1) * d
                v[i] = s.beta2 * v[i] + (1 - s.beta2) * d * d
                p[i] -= s.lr / bias1 * m[i] / (v[i].squareRoot() / bias2.squareRoot() + s.epsilon)
            }
        }
        return p
    }
}
