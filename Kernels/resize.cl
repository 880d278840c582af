// Bilinear and nearest-neighbour resizing over planes of N*C images; every backward is a gather.
// The coordinate rules mirror `Resample` in Sources/TandemCPU/CPUResize.swift line by line.

static inline float bilinear_scale(const int input, const int output, const int align_corners) {
    if (align_corners) return output > 1 ? (float)(input - 1) / (float)(output - 1) : 0.0f;
    return (float)input / (float)output;
}

// Taps i0, i1 of output coordinate o; returns the weight of i1.
static inline float bilinear_taps(const int o, const int input, const float scale, const int align_corners, int* i0, int* i1) {
    const float source = align_corners ? (float)o * scale : fmax(0.0f, ((float)o + 0.5f) * scale - 0.5f);
    *i0 = min((int)source, input - 1);
    *i1 = min(*i0 + 1, input - 1);
    return source - (float)(*i0);
}

static inline float bilinear_weight(const int o, const int i, const int input, const float scale, const int align_corners) {
    int i0, i1;
    const float lambda = bilinear_taps(o, input, scale, align_corners, &i0, &i1);
    return (i0 == i ? 1.0f - lambda : 0.0f) + (i1 == i ? lambda : 0.0f);
}

// Output coordinates that may read input coordinate i (a superset; each is checked).
static inline int2 bilinear_candidates(const int i, const int output, const float scale, const int align_corners) {
    if (scale == 0.0f) return (int2)(0, output - 1);
    const float offset = align_corners ? 0.0f : 0.5f;
    const int low = i <= 1 ? 0 : (int)floor(((float)(i - 1) + offset) / scale - offset) - 1;
    const int high = (int)ceil(((float)(i + 1) + offset) / scale - offset) + 1;
    return (int2)(max(low, 0), min(high, output - 1));
}

__kernel void resize_bilinear_f32(__global const float* x, __global float* y, const int total, const ResizeParameters g) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth, align = g.alignCorners;
    const int c = index % OW, r = (index / OW) % OH, p = index / (OW * OH);
    int h0, h1, w0, w1;
    const float ly = bilinear_taps(r, H, bilinear_scale(H, OH, align), align, &h0, &h1);
    const float lx = bilinear_taps(c, W, bilinear_scale(W, OW, align), align, &w0, &w1);
    __global const float* plane = x + p * H * W;
    const float top = (1.0f - lx) * plane[h0 * W + w0] + lx * plane[h0 * W + w1];
    const float bottom = (1.0f - lx) * plane[h1 * W + w0] + lx * plane[h1 * W + w1];
    y[index] = (1.0f - ly) * top + ly * bottom;
}

// dy [planes, OH, OW] → dx [planes, H, W]; one work-item per dx element.
__kernel void resize_bilinear_backward_f32(__global const float* dy, __global float* dx, const int total, const ResizeParameters g) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth, align = g.alignCorners;
    const int w = index % W, h = (index / W) % H, p = index / (W * H);
    const float sh = bilinear_scale(H, OH, align), sw = bilinear_scale(W, OW, align);
    const int2 rows = bilinear_candidates(h, OH, sh, align);
    const int2 cols = bilinear_candidates(w, OW, sw, align);
    __global const float* plane = dy + p * OH * OW;
    float sum = 0.0f;
    for (int r = rows.x; r <= rows.y; ++r) {
        const float wy = bilinear_weight(r, h, H, sh, align);
        if (wy == 0.0f) continue;
        float row = 0.0f;
        for (int c = cols.x; c <= cols.y; ++c) row += bilinear_weight(c, w, W, sw, align) * plane[r * OW + c];
        sum += wy * row;
    }
    dx[index] = sum;
}

// Output r reads input ⌊r·in/out⌋.
__kernel void resize_nearest_f32(__global const float* x, __global float* y, const int total, const ResizeParameters g) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
    const int c = index % OW, r = (index / OW) % OH, p = index / (OW * OH);
    y[index] = x[(p * H + r * H / OH) * W + c * W / OW];
}

// Input h is read by outputs ⌈h·out/in⌉ ..< ⌈(h+1)·out/in⌉.
__kernel void resize_nearest_backward_f32(__global const float* dy, __global float* dx, const int total, const ResizeParameters g) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int H = g.height, W = g.width, OH = g.outHeight, OW = g.outWidth;
    const int w = index % W, h = (index / W) % H, p = index / (W * H);
    const int r0 = (h * OH + H - 1) / H, r1 = ((h + 1) * OH + H - 1) / H;
    const int c0 = (w * OW + W - 1) / W, c1 = ((w + 1) * OW + W - 1) / W;
    float sum = 0.0f;
    for (int r = r0; r < r1; ++r) {
        for (int c = c0; c < c1; ++c) sum += dy[(p * OH + r) * OW + c];
    }
    dx[index] = sum;
}
