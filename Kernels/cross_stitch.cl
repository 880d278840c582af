// Cross-stitch mixing: tensors are stacked task columns x[T, N, C, S]; alpha is [C, T, T].
// Mirrors Sources/TandemCPU/CPUCrossStitch.swift.

// y[t, n, c, p] = sum_s alpha[c, t, s] * x[s, n, c, p]  (alpha[c, s, t] when transposed != 0)
// Global range [inner, channels, batch]: one work-item per position (n, c, p) writes all T outputs
// there, so no index arithmetic needs a division.
__kernel void cross_stitch_f32(__global const float* x, __global const float* alpha, __global float* y,
                               const int tasks, const int batch, const int channels, const int inner,
                               const int transposed) {
    const int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (p >= inner || c >= channels || n >= batch) return;
    const int column = batch * channels * inner;
    const int within = (n * channels + c) * inner + p;
    __global const float* a = alpha + c * tasks * tasks;
    if (tasks == 2) {  // The common case, unrolled (PoCL vectorises it far better than the loop).
        const float x0 = x[within], x1 = x[column + within];
        const float a01 = transposed ? a[2] : a[1], a10 = transposed ? a[1] : a[2];
        y[within] = a[0] * x0 + a01 * x1;
        y[column + within] = a10 * x0 + a[3] * x1;
        return;
    }
    const int rowStride = transposed ? 1 : tasks, entryStride = transposed ? tasks : 1;
    for (int t = 0; t < tasks; ++t) {
        float sum = 0.0f;
        for (int s = 0; s < tasks; ++s) sum += a[t * rowStride + s * entryStride] * x[s * column + within];
        y[t * column + within] = sum;
    }
}

// Adds v into the compensated sum (total, compensation) (Kahan).
static inline void cross_stitch_kahan8(float8* total, float8* compensation, const float8 v) {
    const float8 y = v - *compensation;
    const float8 t = *total + y;
    *compensation = (t - *total) - y;
    *total = t;
}

// dalpha[c, t, s] = sum_{n, p} dy[t, n, c, p] * x[s, n, c, p]
// One work-group per (c, t, s): its items stride over batch x spatial, each summing its share with
// Kahan's compensation (thousands of terms in a long channel), then a tree reduction of the
// corrected shares in local memory (the local size is a power of two).
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
    // Walk k = lid, lid + size, ... over (n, p) without dividing inside the loop.
    const int stepN = size / inner, stepP = size % inner;
    int n = lid / inner, p = lid % inner;
    float sum = 0.0f, compensation = 0.0f;
    while (n < batch) {
        const int offset = (n * channels + c) * inner + p;
        const float y = dy[t * column + offset] * x[s * column + offset] - compensation;
        const float total = sum + y;
        compensation = (total - sum) - y;
        sum = total;
        n += stepN;
        p += stepP;
        if (p >= inner) { p -= inner; ++n; }
    }
    partial[lid] = sum - compensation;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (lid < width) partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) dalpha[group] = partial[0];
}

// First pass of dalpha for devices that run work-items as CPU loops: partial[c, t, s, n] =
// sum_p dy[t, n, c, p] * x[s, n, c, p] over global [batch, channels * tasks * tasks], in eight
// lanes summing blocks of 256 values (32 a lane) whose lane sums join the plane's lane totals with
// Kahan's compensation (the last inner % 8 values join lane 0 the same way), as the CPU adds such
// blocks in float64; a compensated reduction over n (reduce_f32) follows.
__kernel void cross_stitch_alpha_partial_f32(__global const float* x, __global const float* dy,
                                             __global float* partial, const int tasks, const int batch,
                                             const int channels, const int inner) {
    const int n = get_global_id(0), entry = get_global_id(1);
    if (n >= batch || entry >= channels * tasks * tasks) return;
    const int s = entry % tasks;
    const int t = (entry / tasks) % tasks;
    const int c = entry / (tasks * tasks);
    const int column = batch * channels * inner;
    const int base = (n * channels + c) * inner;
    __global const float* g = dy + t * column + base;
    __global const float* v = x + s * column + base;
    float8 total = (float8)(0.0f), compensation = (float8)(0.0f);
    int p = 0;
    while (p + 8 <= inner) {
        const int end = min(inner, p + 256);
        float8 block = (float8)(0.0f);
        for (; p + 8 <= end; p += 8) block += vload8(0, g + p) * vload8(0, v + p);
        cross_stitch_kahan8(&total, &compensation, block);
    }
    if (p < inner) {
        float tail = 0.0f;
        for (; p < inner; ++p) tail += g[p] * v[p];
        cross_stitch_kahan8(&total, &compensation, (float8)(tail, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f));
    }
    const float8 sums = total - compensation;
    const float4 a = sums.lo + sums.hi;
    const float2 b = a.lo + a.hi;
    partial[entry * batch + n] = b.x + b.y;
}
