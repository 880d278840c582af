// Reductions along one axis of x viewed as [outer, extent, inner].
// reduce_f32 writes y[outer, chunks, inner]: each work-item reduces one chunk of the extent, so a
// long reduction with few outputs runs as two passes (chunks, then the partial results).
// Sums use Kahan compensation to keep float32 accuracy over long extents.

__kernel void reduce_f32(__global const float* x, __global float* y, const int outer, const int extent,
                         const int inner, const int chunks, const ReduceOp op) {
    const int gid = get_global_id(0);
    if (gid >= outer * chunks * inner) return;
    const int i = gid % inner;
    const int c = (gid / inner) % chunks;
    const int o = gid / (inner * chunks);
    const int length = (extent + chunks - 1) / chunks;
    const int start = c * length;
    const int end = min(extent, start + length);
    __global const float* base = x + (size_t)o * extent * inner + i;
    if (op == REDUCE_SUM) {
        float sum = 0.0f, compensation = 0.0f;
        for (int e = start; e < end; ++e) {
            const float v = base[(size_t)e * inner] - compensation;
            const float t = sum + v;
            compensation = (t - sum) - v;
            sum = t;
        }
        y[gid] = sum;
    } else if (op == REDUCE_MAX) {
        float best = -INFINITY;
        for (int e = start; e < end; ++e) {
            const float v = base[(size_t)e * inner];
            if (v > best || isnan(v)) best = v;
            if (isnan(best)) break;
        }
        y[gid] = best;
    } else {
        y[gid] = NAN;
    }
}

// Maximum along the extent and its first index (as a float).
__kernel void argmax_f32(__global const float* x, __global float* values, __global float* indices,
                         const int outer, const int extent, const int inner) {
    const int gid = get_global_id(0);
    if (gid >= outer * inner) return;
    const int i = gid % inner, o = gid / inner;
    __global const float* base = x + (size_t)o * extent * inner + i;
    float best = -INFINITY;
    int index = 0;
    for (int e = 0; e < extent; ++e) {
        const float v = base[(size_t)e * inner];
        if (v > best || (e == 0 && !(v < best))) { best = v; index = e; }
    }
    values[gid] = best;
    indices[gid] = (float)index;
}

// y[c] = Σ over n and s of x [batch, channels, inner]: one work-group (of a power-of-two size) per
// channel, each work-item summing a strided share of the channel's values, then a tree in local
// memory. CPU devices run groups of one work-item (a loop over the channel).
__kernel void channel_sums_f32(__global const float* x, __global float* y, const int batch, const int channels,
                               const int inner, __local float* sums) {
    const int c = get_group_id(0), l = get_local_id(0), size = get_local_size(0);
    if (c >= channels) return;
    float sum = 0.0f, compensation = 0.0f;  // Kahan: a work-item may sum a whole channel.
    // Walk e = l, l + size, ... over (n, s) without dividing inside the loop.
    const int stepN = size / inner, stepS = size - stepN * inner;
    int n = l / inner, s = l - n * inner;
    while (n < batch) {
        const float v = x[((size_t)n * channels + c) * inner + s] - compensation;
        const float t = sum + v;
        compensation = (t - sum) - v;
        sum = t;
        n += stepN;
        s += stepS;
        if (s >= inner) { s -= inner; ++n; }
    }
    sums[l] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (l < width) sums[l] += sums[l + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) y[c] = sums[0];
}

// Adds v into the compensated sum (total, compensation) (Kahan).
static inline void reduce_kahan8(float8* total, float8* compensation, const float8 v) {
    const float8 y = v - *compensation;
    const float8 t = *total + y;
    *compensation = (t - *total) - y;
    *total = t;
}

// y[c] = the sum of x [batch, channels, inner] over n and s, by a work-item per channel (CPU devices;
// global [channels]): in a plane, eight lanes sum blocks of 256 values (32 a lane) in float, and
// each block's lane sums join the channel's lane totals with Kahan's compensation (a plane's last
// inner % 8 values join lane 0 the same way), so the error stays a few 2^-24 of the terms'
// magnitudes at any channel length. Independent lanes keep a CPU's adders busy where one
// compensated sum would wait on itself at every value.
__kernel void channel_plane_sums_f32(__global const float* x, __global float* y, const int batch, const int channels,
                                     const int inner) {
    const int c = get_global_id(0);
    if (c >= channels) return;
    float8 total = (float8)(0.0f), compensation = (float8)(0.0f);
    for (int n = 0; n < batch; ++n) {
        __global const float* v = x + ((size_t)n * channels + c) * inner;
        int s = 0;
        while (s + 8 <= inner) {
            const int end = min(inner, s + 256);
            float8 block = (float8)(0.0f);
            for (; s + 8 <= end; s += 8) block += vload8(0, v + s);
            reduce_kahan8(&total, &compensation, block);
        }
        if (s < inner) {
            float tail = 0.0f;
            for (; s < inner; ++s) tail += v[s];
            reduce_kahan8(&total, &compensation, (float8)(tail, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f));
        }
    }
    const float8 t = total - compensation;
    const float4 a = t.lo + t.hi;
    const float2 b = a.lo + a.hi;
    y[c] = b.x + b.y;
}

// ReLU's backward and the bias gradient in one pass: dz = dy where y > 0, else 0, and
// sums[c] = Σ over n and s of dz; one work-group per channel as channel_sums_f32.
__kernel void gated_channel_sums_f32(__global const float* dy, __global const float* y, __global float* dz,
                                     __global float* sums, const int batch, const int channels, const int inner,
                                     __local float* partial) {
    const int c = get_group_id(0), l = get_local_id(0), size = get_local_size(0);
    if (c >= channels) return;
    float sum = 0.0f, compensation = 0.0f;
    const int stepN = size / inner, stepS = size - stepN * inner;
    int n = l / inner, s = l - n * inner;
    while (n < batch) {
        const size_t i = ((size_t)n * channels + c) * inner + s;
        const float g = y[i] > 0.0f ? dy[i] : 0.0f;
        dz[i] = g;
        const float v = g - compensation;
        const float t = sum + v;
        compensation = (t - sum) - v;
        sum = t;
        n += stepN;
        s += stepS;
        if (s >= inner) { s -= inner; ++n; }
    }
    partial[l] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (l < width) partial[l] += partial[l + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) sums[c] = partial[0];
}
