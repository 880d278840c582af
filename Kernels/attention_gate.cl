// MTAN attention gating, y = sigmoid(z) * f, and its gradient, one pass each.
// Mirrors Sources/TandemCPU/CPUAttentionGate.swift.

// y = sigmoid(z) * f
__kernel void attention_gate_f32(__global const float* z, __global const float* f, __global float* y, const int n) {
    const int i = get_global_id(0);
    if (i >= n) return;
    y[i] = f[i] / (1.0f + exp(-z[i]));
}

// dz = dy * f * s(1 - s), df = dy * s with s = sigmoid(z)
__kernel void attention_gate_backward_f32(__global const float* z, __global const float* f, __global const float* dy,
                                          __global float* dz, __global float* df, const int n) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float s = 1.0f / (1.0f + exp(-z[i]));
    const float g = dy[i];
    dz[i] = g * f[i] * s * (1.0f - s);
    df[i] = g * s;
}
