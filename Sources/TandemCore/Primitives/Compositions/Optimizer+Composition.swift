extension Composed {
    /// SGD as PyTorch defines it: d = g + λ·p; with momentum μ, b = d on the first step, else
    /// μ·b + (1 − dampening)·d, and d = d + μ·b (Nesterov) or b; then p = p − lr·d.
    public static func sgdUpdate(on device: any Device, _ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int,
                                 step: SGDStep) throws {
        guard count > 0 else { return }
        var d = gradient
        if step.weightDecay != 0 {
            d = try binary(device, .add, d, try unary(device, .mulScalar, parameter, count: count, scalar: step.weightDecay),
                           count: count)
        }
        if step.momentum != 0 {
            if step.first {
                try copy(device, d, into: momentum, count: count)
            } else {
                let kept = try unary(device, .mulScalar, momentum, count: count, scalar: step.momentum)
                let added = try unary(device, .mulScalar, d, count: count, scalar: 1 - step.dampening)
                try device.binary(.add, kept, added, momentum, layout: flat(count))
            }
            d = step.nesterov
                ? try binary(device, .add, d, try unary(device, .mulScalar, momentum, count: count, scalar: step.momentum),
                             count: count)
                : momentum
        }
        let moved = try binary(device, .sub, parameter, try unary(device, .mulScalar, d, count: count, scalar: step.lr),
                               count: count)
        try copy(device, moved, into: parameter, count: count)
    }

    /// Adam / AdamW with the bias corrections of `AdamStep.scalars`: m = β₁·m + (1 − β₁)·d,
    /// v = β₂·v + (1 − β₂)·d², p = p − stepSize·m / (√v / correction2 + ε), where d = g + λ·p
    /// (Adam) or p is first scaled by 1 − lr·λ (AdamW).
    public static func adamUpdate(on device: any Device, _ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer,
                                  count: Int, step: AdamStep) throws {
        guard count > 0 else { return }
        let s = step.scalars
        var d = gradient
        if step.weightDecay != 0 {
            if step.decoupled {
                try copy(device, try unary(device, .mulScalar, parameter, count: count, scalar: s.decay), into: parameter,
                         count: count)
            } else {
                d = try binary(device, .add, d, try unary(device, .mulScalar, parameter, count: count, scalar: step.weightDecay),
                               count: count)
            }
        }
        let m1 = try binary(device, .add, try unary(device, .mulScalar, m, count: count, scalar: step.beta1),
                            try unary(device, .mulScalar, d, count: count, scalar: 1 - step.beta1), count: count)
        let v1 = try binary(device, .add, try unary(device, .mulScalar, v, count: count, scalar: step.beta2),
                            try unary(device, .mulScalar, try unary(device, .square, d, count: count), count: count,
                                      scalar: 1 - step.beta2), count: count)
        try copy(device, m1, into: m, count: count)
        try copy(device, v1, into: v, count: count)
        let denominator = try unary(device, .addScalar, try unary(device, .mulScalar, try unary(device, .sqrt, v1, count: count),
                                                                  count: count, scalar: 1 / s.correction2),
                                    count: count, scalar: step.epsilon)
        let update = try binary(device, .div, try unary(device, .mulScalar, m1, count: count, scalar: s.stepSize), denominator,
                                count: count)
        try copy(device, try binary(device, .sub, parameter, update, count: count), into: parameter, count: count)
    }
}
