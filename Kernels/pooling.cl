// Pooling and resampling over planes of N·C images. Every backward is a gather (one work-item per
// input pixel or row sums the output gradients that read it) or, for max-pooling windows that do
// not overlap on CPU devices, a scatter into bands of rows no other work-item touches, so no
// atomics are needed.
// Geometry travels as PoolingParameters g (Sources/TandemABI); the window rules mirror
// Sources/TandemCPU/CPUPooling.swift line by line.

// First window (inclusive) and last whose span o·stride − pad ..< … + kernel covers i.
static inline int2 windows_covering(const int i, const int size, const int stride, const int pad, const int outputs) {
    const int t = i + pad - size + 1;
    const int low = t <= 0 ? 0 : (t + stride - 1) / stride;
    return (int2)(low, min((i + pad) / stride, outputs - 1));
}

__kernel void max_pool2d_f32(__global const float* x, __global float* y, __global float* indices,
                             const int total, const PoolingParameters g) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
    const int c = index % OW, r = (index / OW) % OH, p = index / (OW * OH);
    __global const float* plane = x + p * H * W;
    float best = -INFINITY;
    int best_index = -1;
    for (int i = 0; i < g.kernelH; ++i) {
        const int h = r * g.strideH - g.padH + i;
        if (h < 0 || h >= H) continue;
        for (int j = 0; j < g.kernelW; ++j) {
            const int w = c * g.strideW - g.padW + j;
            if (w < 0 || w >= W) continue;
            const float v = plane[h * W + w];
            if (best_index < 0 || v > best || (isnan(v) && !isnan(best))) { best = v; best_index = h * W + w; }
        }
    }
    y[index] = best;
    indices[index] = (float)best_index;
}

// The common 2×2, stride-2, unpadded window: four loads and selects instead of loops and branches
// (the same rules: the first maximum wins, a NaN wins over numbers and the first NaN stays).
__kernel void max_pool2x2_f32(__global const float* x, __global float* y, __global float* indices, const int total,
                              const PoolingParameters g) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
    const int c = index % OW, r = (index / OW) % OH, p = index / (OW * OH);
    __global const float* plane = x + p * H * W;
    const int first = 2 * r * W + 2 * c;
    float best = plane[first];
    int best_index = first;
    const int offsets[3] = {1, W, W + 1};
    for (int k = 0; k < 3; ++k) {
        const float v = plane[first + offsets[k]];
        const int wins = (v > best) || (isnan(v) && !isnan(best));
        best = wins ? v : best;
        best_index = wins ? first + offsets[k] : best_index;
    }
    y[index] = best;
    indices[index] = (float)best_index;
}

// dx at pixel (h, w) of plane p: the gradients of every window covering it whose maximum it was.
static inline float max_pool_gradient_at(__global const float* dy, __global const float* indices, const int p, const int h,
                                         const int w, const PoolingParameters g) {
    const int2 rows = windows_covering(h, g.kernelH, g.strideH, g.padH, g.outHeight);
    const int2 cols = windows_covering(w, g.kernelW, g.strideW, g.padW, g.outWidth);
    const float me = (float)(h * g.width + w);
    float sum = 0.0f;
    for (int r = rows.x; r <= rows.y; ++r) {
        for (int c = cols.x; c <= cols.y; ++c) {
            const int o = (p * g.outHeight + r) * g.outWidth + c;
            if (indices[o] == me) sum += dy[o];
        }
    }
    return sum;
}

__kernel void max_pool2d_backward_f32(__global const float* dy, __global const float* indices, __global float* dx,
                                      const PoolingParameters g) {
    // A three-dimensional range (width, height, planes): no division to find the pixel.
    const int w = get_global_id(0), h = get_global_id(1), p = get_global_id(2);
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
    if (w >= W || h >= H || p >= g.planes) return;
    const int index = (p * H + h) * W + w;
    const float me = (float)(h * W + w);
    if (g.strideH >= g.kernelH && g.strideW >= g.kernelW) {
        // Windows do not overlap: the pixel lies in at most one, found without a loop.
        const int r = (h + g.padH) / g.strideH, c = (w + g.padW) / g.strideW;
        const bool inside = r < OH && c < OW && h + g.padH - r * g.strideH < g.kernelH && w + g.padW - c * g.strideW < g.kernelW;
        const int o = (p * OH + min(r, OH - 1)) * OW + min(c, OW - 1);
        dx[index] = inside && indices[o] == me ? dy[o] : 0.0f;
        return;
    }
    dx[index] = max_pool_gradient_at(dy, indices, p, h, w, g);
}

// max_pool2d_backward_f32 with a work-item per input row (CPU devices, overlapping windows; those
// that do not overlap go to max_pool2d_backward_bands_f32): global [height, planes].
__kernel void max_pool2d_backward_rows_f32(__global const float* dy, __global const float* indices, __global float* dx,
                                           const PoolingParameters g) {
    const int h = get_global_id(0), p = get_global_id(1);
    if (h >= g.height || p >= g.planes) return;
    __global float* out = dx + ((size_t)p * g.height + h) * g.width;
    for (int w = 0; w < g.width; ++w) out[w] = max_pool_gradient_at(dy, indices, p, h, w, g);
}

// max_pool2d_backward_f32 for windows that do not overlap, on CPU devices: a work-item per output
// row r of a plane (global [outHeight, planes]) owns the band of input rows from r * strideH - padH
// up to the next row's band (the first band from row 0, the last to the bottom), which holds every
// window of its output row and nothing of another's: it zeroes the band, then writes each window's
// gradient at the index its maximum came from.
__kernel void max_pool2d_backward_bands_f32(__global const float* dy, __global const float* indices, __global float* dx,
                                            const PoolingParameters g) {
    const int r = get_global_id(0), p = get_global_id(1);
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
    if (r >= OH || p >= g.planes) return;
    const int first = r == 0 ? 0 : min(H, r * g.strideH - g.padH);
    const int end = r == OH - 1 ? H : min(H, (r + 1) * g.strideH - g.padH);
    __global float* plane = dx + (size_t)p * H * W;
    for (int i = first * W; i < end * W; ++i) plane[i] = 0.0f;
    const int base = (p * OH + r) * OW;
    for (int c = 0; c < OW; ++c) {
        const int index = (int)indices[base + c];
        if (index >= first * W && index < end * W) plane[index] = dy[base + c];
    }
}

// count_include_pad: the divisor is always kernelH·kernelW.
__kernel void avg_pool2d_f32(__global const float* x, __global float* y, const int total, const PoolingParameters g) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
    const int c = index % OW, r = (index / OW) % OH, p = index / (OW * OH);
    __global const float* plane = x + p * H * W;
    float sum = 0.0f;
    for (int i = 0; i < g.kernelH; ++i) {
        const int h = r * g.strideH - g.padH + i;
        if (h < 0 || h >= H) continue;
        for (int j = 0; j < g.kernelW; ++j) {
            const int w = c * g.strideW - g.padW + j;
            if (w >= 0 && w < W) sum += plane[h * W + w];
        }
    }
    y[index] = sum / (float)(g.kernelH * g.kernelW);
}

__kernel void avg_pool2d_backward_f32(__global const float* dy, __global float* dx, const int total, const PoolingParameters g) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
    const int w = index % W, h = (index / W) % H, p = index / (W * H);
    const int2 rows = windows_covering(h, g.kernelH, g.strideH, g.padH, OH);
    const int2 cols = windows_covering(w, g.kernelW, g.strideW, g.padW, OW);
    float sum = 0.0f;
    for (int r = rows.x; r <= rows.y; ++r) {
        for (int c = cols.x; c <= cols.y; ++c) sum += dy[(p * OH + r) * OW + c];
    }
    dx[index] = sum / (float)(g.kernelH * g.kernelW);
}

// y must be zero beforehand; indices outside 0..<output_size are skipped.
__kernel void scatter_planes_f32(__global const float* x, __global const float* indices, __global float* y,
                                 const int total, const int input_size, const int output_size) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int p = index / input_size;
    const float v = indices[index];
    if (v >= 0.0f && v < (float)output_size) y[p * output_size + (int)v] = x[index];
}

__kernel void gather_planes_f32(__global const float* x, __global const float* indices, __global float* y,
                                const int total, const int input_size, const int output_size) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int p = index / output_size;
    const float v = indices[index];
    y[index] = (v >= 0.0f && v < (float)input_size) ? x[p * input_size + (int)v] : 0.0f;
}
