#if canImport(Glibc)
import Glibc
#endif
import TandemCore

/// The fused optimizer updates on the CPU, in place (`Kernels/optimizer.cl` mirrors them line by line).
extension CPUDevice {
    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "sgdUpdate") }
        let useMomentum = step.momentum != 0
        // The momentum buffer is only touched when momentum is on (callers may pass any buffer otherwise).
        let sp = SharedPointer(host(parameter).pointer), sg = SharedPointer(host(gradient).pointer)
        let sb = useMomentum ? SharedPointer(host(momentum).pointer) : sp
        Parallel.chunks(count, cost: 4) { range in
            let p = sp.base, g = sg.base, b = sb.base
            for i in range {
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
    }

    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "adamUpdate") }
        let sp = SharedPointer(host(parameter).pointer), sg = SharedPointer(host(gradient).pointer)
        let sm = SharedPointer(host(m).pointer), sv = SharedPointer(host(v).pointer)
        let s = step.scalars
        Parallel.chunks(count, cost: 8) { range in
            let p = sp.base, g = sg.base, pm = sm.base, pv = sv.base
            for i in range {
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
}
