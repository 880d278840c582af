// Fused optimizer updates, in place, one work-item per element. PyTorch's semantics; the host
// passes bias corrections precomputed. Mirrors Sources/TandemCPU/CPUOptimizer.swift.

// SGD with momentum, dampening, Nesterov and L2 weight decay. The momentum buffer is untouched
// when momentum == 0.
__kernel void sgd_update_f32(__global float* p, __global const float* g, __global float* b, const int n,
                             const float lr, const float momentum, const float dampening,
                             const float weight_decay, const int nesterov, const int first) {
    const int i = get_global_id(0);
    if (i >= n) return;
    float d = g[i];
    if (weight_decay != 0.0f) d += weight_decay * p[i];
    if (momentum != 0.0f) {
        const float buffer = first ? d : momentum * b[i] + (1.0f - dampening) * d;
        b[i] = buffer;
        d = nesterov ? d + momentum * buffer : buffer;
    }
    p[i] -= lr * d;
}

// Adam / AdamW. step_size = lr / (1 - beta1^t), correction2 = sqrt(1 - beta2^t),
// decay = 1 - lr * weight_decay (AdamW only).
__kernel void adam_update_f32(__global float* p, __global const float* g, __global float* m, __global float* v,
                              const int n, const float beta1, const float beta2, const float epsilon,
                              const float weight_decay, const int decoupled, const float step_size,
                              const float correction2, const float decay) {
    const int i = get_global_id(0);
    if (i >= n) return;
    float d = g[i];
    if (weight_decay != 0.0f) {
        if (decoupled) p[i] *= decay; else d += weight_decay * p[i];
    }
    const float mi = beta1 * m[i] + (1.0f - beta1) * d;
    const float vi = beta2 * v[i] + (1.0f - beta2) * d * d;
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * mi / (sqrt(vi) / correction2 + epsilon);
}
