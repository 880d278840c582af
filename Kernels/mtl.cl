// Fused multi-task kernels: MTAN attention gating and cross-stitch mixing.
// Cross-stitch tensors are stacked task columns x[T, N, C, S]; alpha is [C, T, T].
// Mirrors Sources/TandemCore/CPU/CPUMultiTask.swift.

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

// y[t, n, c, p] = sum_s alpha[c, t, s] * x[s, n, c, p]  (alpha[c, s, t] when transposed != 0)
__kernel void cross_stitch_f32(__global const float* x, __global const float* alpha, __global float* y,
                               const int tasks, const int batch, const int channels, const int inner,
                               const int transposed) {
    const int i = get_global_id(0);
    const int column = batch * channels * inner;
    if (i >= tasks * column) return;
    const int t = i / column;
    const int within = i - t * column;
    const int c = (within / inner) % channels;
    __global const float* a = alpha + c * tasks * tasks;
    float sum = 0.0f;
    for (int s = 0; s < tasks; ++s) {
        const float w = transposed ? a[s * tasks + t] : a[t * tasks + s];
        sum += w * x[s * column + within];
    }
    y[i] = sum;
}

// dalpha[c, t, s] = sum_{n, p} dy[t, n, c, p] * x[s, n, c, p]
// One work-group per (c, t, s): its items stride over batch x spatial, then a tree reduction in
// local memory (the local size is a power of two).
__kernel void cross_stitch_alpha_gradient_f32(__global const float* x, __global const float* dy,
                                              __global float* dalpha, const int tasks, const int batch,
                                              const int channels, const int inner, __local float* partial) {
    const int group = get_group_id(0);
    const int lid = get_local_id(0);
    const int size = get_local_size(0);
    if (group >= channels * tasks * tasks) return;
    const int s = group % tasks;
    const int t = (group / tasks) % tasks;
    const int c = group / (tasks * tasks);
    const int column = batch * channels * inner;
    const int extent = batch * inner;
    float sum = 0.0f;
    for (int k = lid; k < extent; k += size) {
        const int n = k / inner, p = k - n * inner;
        const int offset = (n * channels + c) * inner + p;
        sum += dy[t * column + offset] * x[s * column + offset];
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (lid < width) partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) dalpha[group] = partial[0];
}
