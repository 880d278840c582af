#if canImport(Glibc)
import Glibc
#endif

/// The fused optimizer updates on the CPU, in place (`Kernels/optim.cl` mirrors them line by line).
extension CPUDevice {
    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "sgdUpdate") }
        let p = host(parameter).pointer, g = host(gradient).pointer
        let useMomentum = step.momentum != 0
        // The momentum buffer is only touched when momentum is on (callers may pass any buffer otherwise).
        let b = useMomentum ? host(momentum).pointer : p
        for i in 0..<count {
            var d = g[i]
            if step.weightDecay != 0 { d += step.weightDecay * p[i] }
            if useMomentum {
                let buffer = step.first ? d : step.momentum * b[i] + (1 - step.dampening) * d
                b[i] = buffer
                d = step.nesterov ? d + step.momentum * buffer : buffer
            }
            p[i] -= step.lr * d
        }
    }

    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "adamUpdate") }
        let p = host(parameter).pointer, g = host(gradient).pointer, pm = host(m).pointer, pv = host(v).pointer
        let s = step.scalars
        for i in 0..<count {
            var d = g[i]
            if step.weightDecay != 0 {
                if step.decoupled { p[i] *= s.decay } else { d += step.weightDecay * p[i] }
            }
            let mi = step.beta1 * pm[i] + (1 - step.beta1) * d
            let vi = step.beta2 * pv[i] + (1 - step.beta2) * d * d
            pm[i] = mi
            pv[i] = vi
            p[i] -= s.stepSize * mi / (sqrtf(vi) / s.correction2 + step.epsilon)
        }
    }
}
