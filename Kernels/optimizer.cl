// Fused optimizer updates, in place, one work-item per element. PyTorch's semantics; the host
// passes bias corrections precomputed. Mirrors Sources/TandemCPU/CPUOptimizer.swift.

// SGD with momentum, dampening, Nesterov and L2 weight decay. The momentum buffer is untouched
// when momentum == 0.
__kernel void sgd_update_f32(__global float* p, __global const float* g, __global float* b, const int n,
                             const SGDParameters s) {
    const int i = get_global_id(0);
    if (i >= n) return;
    float d = g[i];
    if (s.weightDecay != 0.0f) d += s.weightDecay * p[i];
    if (s.momentum != 0.0f) {
        const float buffer = s.first ? d : s.momentum * b[i] + (1.0f - s.dampening) * d;
        b[i] = buffer;
        d = s.nesterov ? d + s.momentum * buffer : buffer;
    }
    p[i] -= s.lr * d;
}

// Adam / AdamW; AdamParameters (Sources/TandemABI) carries the bias corrections.
__kernel void adam_update_f32(__global float* p, __global const float* g, __global float* m, __global float* v,
                              const int n, const AdamParameters s) {
    const int i = get_global_id(0);
    if (i >= n) return;
    float d = g[i];
    if (s.weightDecay != 0.0f) {
        if (s.decoupled) p[i] *= s.decay; else d += s.weightDecay * p[i];
    }
    const float mi = s.beta1 * m[i] + (1.0f - s.beta1) * d;
    const float vi = s.beta2 * v[i] + (1.0f - s.beta2) * d * d;
    m[i] = mi;
    v[i] = vi;
    p[i] -= s.stepSize * mi / (sqrt(vi) / s.correction2 + s.epsilon);
}
