// Fused batch normalisation of x viewed as [N, C, S] (S = H*W, 1 for [N, C] input), per channel c
// over its M = N*S values, with per-channel [C] statistics. Mirrors
// Sources/TandemCPU/CPUBatchNorm.swift; Sources/TandemOpenCL/Ops/OpenCLBatchNorm.swift runs
//   forward:  channel sums (training) -> batch_norm_apply_f32
//   backward: channel sums (training, or parameter gradients) -> batch_norm_backward_data_f32
//             (batch_norm_parameter_gradients_f32 instead when x needs no gradient)
// The statistics and the parameter gradients take no launch of their own: every work-item of the
// elementwise pass derives its channel's statistics from the sums (bn_statistics), and the item at
// (p, n) = (0, 0) of each channel also writes what is kept per channel (mean, invstd, the running
// statistics, dweight, dbias); the grids have at least one item per channel for that.
// A channel's two sums ([C, 2]) are, with `gradient` == 0, S1 = sum(x - K) and S2 = sum((x - K)^2)
// with K the channel's first value (shifted, so a mean far from zero cancels nothing), and with
// `gradient` != 0, S1 = sum(dy) and S2 = sum(dy * (x - mean)). They come either from one
// work-group per channel (batch_norm_channel_sums_f32, a tree reduction in local memory: GPUs) or
// from one work-item per channel that sums plane after plane (batch_norm_plane_sums_f32: CPU
// drivers such as PoCL, which run a work-group's items as loops). Either way the long float sums
// are compensated (Kahan), the plain ones short (32 values a lane, or the tree's log2(local) levels),
// so the sums' error stays a few 2^-24 of their terms' magnitudes at any channel length
// (Tests/TandemTests/ReductionAccuracyTests.swift). The BN_* flag bits come from BatchNormFlag in
// Sources/TandemABI through the generated ABI header.

// The two terms one element adds to its channel's sums.
static inline float2 bn_terms(const float v, const float g, const float k, const int gradient) {
    if (gradient) return (float2)(g, g * (v - k));
    const float d = v - k;
    return (float2)(d, d * d);
}

// Adds v into the compensated sum (total, compensation) (Kahan): the error of a long sum then stays
// near 2^-24 of its terms' magnitudes, however many terms it has.
static inline void bn_kahan8(float8* total, float8* compensation, const float8 v) {
    const float8 y = v - *compensation;
    const float8 t = *total + y;
    *compensation = (t - *total) - y;
    *total = t;
}

// sums[c, 0..1] over all of channel c by one work-item, plane after plane; global [channels]. In a
// plane, eight lanes sum blocks of 256 values (32 a lane) in float, and each block's lane sums join
// the channel's lane totals with Kahan's compensation, as the CPU adds its blocks in float64
// (Sources/TandemCPU/CPUBatchNorm.swift); a plane's last inner % 8 values join lane 0 the same way.
__kernel void batch_norm_plane_sums_f32(__global const float* x, __global const float* dy, __global const float* mean,
                                        __global float* sums, const int batch, const int channels, const int inner,
                                        const int gradient) {
    const int c = get_global_id(0);
    if (c >= channels) return;
    const float k = gradient ? mean[c] : x[(size_t)c * inner];
    float8 total1 = (float8)(0.0f), total2 = (float8)(0.0f);
    float8 compensation1 = (float8)(0.0f), compensation2 = (float8)(0.0f);
    for (int n = 0; n < batch; ++n) {
        const size_t base = ((size_t)n * channels + c) * inner;
        __global const float* v = x + base;
        __global const float* g = dy + (gradient ? base : 0);
        int p = 0;
        while (p + 8 <= inner) {
            const int end = min(inner, p + 256);
            float8 s1 = (float8)(0.0f), s2 = (float8)(0.0f);
            for (; p + 8 <= end; p += 8) {
                const float8 d = vload8(0, v + p) - k;
                if (gradient) {
                    const float8 gv = vload8(0, g + p);
                    s1 += gv;
                    s2 += gv * d;
                } else {
                    s1 += d;
                    s2 += d * d;
                }
            }
            bn_kahan8(&total1, &compensation1, s1);
            bn_kahan8(&total2, &compensation2, s2);
        }
        if (p < inner) {
            float2 tail = (float2)(0.0f);
            for (; p < inner; ++p) tail += bn_terms(v[p], gradient ? g[p] : 0.0f, k, gradient);
            bn_kahan8(&total1, &compensation1, (float8)(tail.x, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f));
            bn_kahan8(&total2, &compensation2, (float8)(tail.y, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f));
        }
    }
    // The lanes' corrected totals, added pairwise.
    const float8 t1 = total1 - compensation1, t2 = total2 - compensation2;
    const float4 a1 = t1.lo + t1.hi, a2 = t2.lo + t2.hi;
    const float2 b1 = a1.lo + a1.hi, b2 = a2.lo + a2.hi;
    sums[2 * c] = b1.x + b1.y;
    sums[2 * c + 1] = b2.x + b2.y;
}

// sums[c, 0..1] over all of channel c; one work-group per channel (global channels x local, the
// local size a power of two), its items striding over (n, p), each summing its share with Kahan's
// compensation (a share is count / local values, thousands in a long channel), then a tree
// reduction of the corrected shares.
__kernel void batch_norm_channel_sums_f32(__global const float* x, __global const float* dy, __global const float* mean,
                                          __global float* sums, const int batch, const int channels, const int inner,
                                          const int gradient, __local float* scratch) {
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int size = get_local_size(0);
    if (c >= channels) return;
    const float k = gradient ? mean[c] : x[(size_t)c * inner];
    // Walk i = lid, lid + size, ... over (n, p) without dividing inside the loop.
    const int stepN = size / inner, stepP = size % inner;
    int n = lid / inner, p = lid % inner;
    float2 s = (float2)(0.0f), compensation = (float2)(0.0f);
    while (n < batch) {
        const size_t i = ((size_t)n * channels + c) * inner + p;
        const float2 y = bn_terms(x[i], gradient ? dy[i] : 0.0f, k, gradient) - compensation;
        const float2 t = s + y;
        compensation = (t - s) - y;
        s = t;
        n += stepN;
        p += stepP;
        if (p >= inner) { p -= inner; ++n; }
    }
    s -= compensation;
    scratch[lid] = s.x;
    scratch[size + lid] = s.y;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (lid < width) {
            scratch[lid] += scratch[lid + width];
            scratch[size + lid] += scratch[size + lid + width];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        sums[2 * c] = scratch[0];
        sums[2 * c + 1] = scratch[size];
    }
}

// The channel's mean, 1/sqrt(variance + epsilon) and variance: from the shifted sums in training,
// from the running statistics in evaluation. Unused buffers are placeholders, never read.
static inline float3 bn_statistics(const int c, __global const float* x, __global const float* sums,
                                   __global const float* runningMean, __global const float* runningVar, const int inner,
                                   const int count, const float epsilon, const BatchNormFlags flags) {
    if (!(flags & BN_TRAINING)) {
        const float variance = runningVar[c];
        return (float3)(runningMean[c], 1.0f / sqrt(variance + epsilon), variance);
    }
    const float k = x[(size_t)c * inner];
    const float d = sums[2 * c] / (float)count;
    const float variance = max(sums[2 * c + 1] / (float)count - d * d, 0.0f);
    return (float3)(k + d, 1.0f / sqrt(variance + epsilon), variance);
}

// y = (x - mean) * invstd * weight + bias, then max(y, 0) with BN_RELU; global [max(ceil(inner /
// per), 1), channels, max(batch, 1)], each item `per` consecutive values of a plane (a whole plane
// on CPU devices, so the statistics are derived once per plane; one value on GPUs). Item (0, c, 0)
// writes mean[c] and invstd[c] and, in training, updates the running statistics in place (the
// variance unbiased); in training no item reads them, in evaluation none writes them.
__kernel void batch_norm_apply_f32(__global const float* x, __global const float* sums, __global float* mean,
                                   __global float* invstd, __global float* runningMean, __global float* runningVar,
                                   __global const float* weight, __global const float* bias, __global float* y,
                                   const int batch, const int channels, const int inner, const int count, const int per,
                                   const float momentum, const float epsilon, const BatchNormFlags flags) {
    const int item = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (c >= channels) return;
    const float3 s = bn_statistics(c, x, sums, runningMean, runningVar, inner, count, epsilon, flags);
    if (item == 0 && n == 0) {
        mean[c] = s.x;
        invstd[c] = s.y;
        if ((flags & BN_TRAINING) && (flags & BN_RUNNING_MEAN)) runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * s.x;
        if ((flags & BN_TRAINING) && (flags & BN_RUNNING_VAR)) {
            const float unbiased = s.z * ((float)count / (float)(count - 1));
            runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * unbiased;
        }
    }
    if (n >= batch) return;
    const float scale = s.y * ((flags & BN_WEIGHT) ? weight[c] : 1.0f);
    const float offset = (flags & BN_BIAS) ? bias[c] : 0.0f;
    const size_t base = ((size_t)n * channels + c) * inner;
    const int first = item * per, end = min(inner, first + per);
    for (int p = first; p < end; ++p) {
        const float v = (x[base + p] - s.x) * scale + offset;
        y[base + p] = (flags & BN_RELU) && v <= 0.0f ? 0.0f : v;  // NaN stays NaN.
    }
}

// dbias = S1 = sum(dy), dweight = invstd * S2 = sum(dy * xhat) as BN_WEIGHT_GRADIENT and
// BN_BIAS_GRADIENT ask, when no dx is wanted; global [channels].
__kernel void batch_norm_parameter_gradients_f32(__global const float* sums, __global const float* invstd,
                                                 __global float* dweight, __global float* dbias, const int channels,
                                                 const BatchNormFlags flags) {
    const int c = get_global_id(0);
    if (c >= channels) return;
    if (flags & BN_WEIGHT_GRADIENT) dweight[c] = sums[2 * c + 1] * invstd[c];
    if (flags & BN_BIAS_GRADIENT) dbias[c] = sums[2 * c];
}

// dx = weight * invstd * (dy - S1/M - (x - mean) * invstd^2 * S2/M) in training, weight * invstd * dy
// in evaluation (sums unread unless a parameter gradient is asked for); global [max(ceil(inner /
// per), 1), channels, max(batch, 1)], each item `per` consecutive values of a plane as in
// batch_norm_apply_f32. Item (0, c, 0) also writes dweight[c] and dbias[c] as BN_WEIGHT_GRADIENT
// and BN_BIAS_GRADIENT ask.
__kernel void batch_norm_backward_data_f32(__global const float* x, __global const float* dy, __global const float* mean,
                                           __global const float* invstd, __global const float* weight,
                                           __global const float* sums, __global float* dx, __global float* dweight,
                                           __global float* dbias, const int batch, const int channels, const int inner,
                                           const int count, const int per, const BatchNormFlags flags) {
    const int item = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (c >= channels) return;
    const float inv = invstd[c];
    if (item == 0 && n == 0) {
        if (flags & BN_WEIGHT_GRADIENT) dweight[c] = sums[2 * c + 1] * inv;
        if (flags & BN_BIAS_GRADIENT) dbias[c] = sums[2 * c];
    }
    if (n >= batch) return;
    const float k = inv * ((flags & BN_WEIGHT) ? weight[c] : 1.0f);
    const int training = (flags & BN_TRAINING) != 0;
    const float meanG = training ? sums[2 * c] / (float)count : 0.0f;
    const float coefficient = training ? sums[2 * c + 1] / (float)count * inv * inv : 0.0f;
    const float mu = training ? mean[c] : 0.0f;
    const size_t base = ((size_t)n * channels + c) * inner;
    const int first = item * per, end = min(inner, first + per);
    for (int p = first; p < end; ++p) {
        const size_t i = base + p;
        dx[i] = training ? k * (dy[i] - meanG - (x[i] - mu) * coefficient) : k * dy[i];
    }
}
