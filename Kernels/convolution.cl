// Convolution: im2col and its adjoint col2im (a gather: one work-item per input pixel, no atomics).
// Geometry travels as ConvolutionParameters p (Sources/TandemABI; the header is generated).
// col is [channels·kh·kw, batch·outHeight·outWidth], row-major.

// One work-item per `per` consecutive output lines of a col row (one line on GPUs, all OH on CPU
// devices, where each work-item costs a loop iteration): (row, image, block) → runs of OW
// consecutive col elements. The index arithmetic (divisions) is paid once per work-item.
__kernel void im2col_f32(__global const float* x, __global float* col, const int items, const int per, const ConvolutionParameters p) {
    const int index = get_global_id(0);
    if (index >= items) return;
    const int N = p.batch, C = p.channels, H = p.height, W = p.width, kh = p.kernelH, kw = p.kernelW;
    const int sw = p.strideW, pw = p.padW, dw = p.dilationW, OH = p.outHeight, OW = p.outWidth;
    const int blocks = (OH + per - 1) / per;
    const int block = index % blocks, n = (index / blocks) % N, row = index / (blocks * N);
    const int j = row % kw, i = (row / kw) % kh, c = row / (kw * kh);
    const int w0 = j * dw - pw;
    // Output columns whose input column lies inside the image (stride 1: one contiguous run).
    const int first = min(OW, max(0, -w0)), last = max(first, min(OW, W - w0));
    for (int oh = block * per; oh < min(OH, (block + 1) * per); ++oh) {
        const int h = oh * p.strideH - p.padH + i * p.dilationH;
        __global float* out = col + (size_t)row * (N * OH * OW) + (n * OH + oh) * OW;
        if (h < 0 || h >= H) {
            for (int ow = 0; ow < OW; ++ow) out[ow] = 0.0f;
            continue;
        }
        __global const float* line = x + ((n * C + c) * H + h) * W;
        if (sw == 1) {
            for (int ow = 0; ow < first; ++ow) out[ow] = 0.0f;
            for (int ow = first; ow < last; ++ow) out[ow] = line[ow + w0];
            for (int ow = last; ow < OW; ++ow) out[ow] = 0.0f;
        } else {
            int w = w0;
            for (int ow = 0; ow < OW; ++ow, w += sw) out[ow] = (w >= 0 && w < W) ? line[w] : 0.0f;
        }
    }
}

// col2im for stride-1 columns on CPU devices: one work-item per input line (image, channel, row),
// which starts at zero and adds, tap by tap in the same order as col2im_f32, a run of one col line.
__kernel void col2im_lines_f32(__global const float* col, __global float* x, const int lines, const ConvolutionParameters p) {
    const int index = get_global_id(0);
    if (index >= lines) return;
    const int N = p.batch, C = p.channels, H = p.height, W = p.width, kh = p.kernelH, kw = p.kernelW;
    const int sh = p.strideH, OH = p.outHeight, OW = p.outWidth;
    const int h = index % H, c = (index / H) % C, n = index / (H * C);
    const int cols = N * OH * OW;
    __global float* line = x + (size_t)index * W;
    for (int w = 0; w < W; ++w) line[w] = 0.0f;
    for (int i = 0; i < kh; ++i) {
        const int t = h + p.padH - i * p.dilationH;
        if (t < 0 || t % sh != 0 || t / sh >= OH) continue;
        const int oh = t / sh;
        for (int j = 0; j < kw; ++j) {
            const int shift = j * p.dilationW - p.padW;  // input column = output column + shift
            const int first = max(0, -shift), last = min(OW, W - shift);
            __global const float* source = col + (size_t)((c * kh + i) * kw + j) * cols + (n * OH + oh) * OW;
            for (int ow = first; ow < last; ++ow) line[ow + shift] += source[ow];
        }
    }
}

// One work-item per input pixel: the sum of the col entries that read it.
__kernel void col2im_f32(__global const float* col, __global float* x, const int total, const ConvolutionParameters p) {
    const int index = get_global_id(0);
    if (index >= total) return;
    const int C = p.channels, H = p.height, W = p.width, kh = p.kernelH, kw = p.kernelW;
    const int sh = p.strideH, sw = p.strideW, OH = p.outHeight, OW = p.outWidth;
    const int cols = p.batch * OH * OW;
    const int w = index % W, h = (index / W) % H, c = (index / (W * H)) % C, n = index / (W * H * C);
    float sum = 0.0f;
    for (int i = 0; i < kh; ++i) {
        const int dh = h + p.padH - i * p.dilationH;
        if (dh < 0 || dh % sh != 0 || dh / sh >= OH) continue;
        const int oh = dh / sh;
        for (int j = 0; j < kw; ++j) {
            const int dw = w + p.padW - j * p.dilationW;
            if (dw < 0 || dw % sw != 0 || dw / sw >= OW) continue;
            const int row = (c * kh + i) * kw + j;
            sum += col[row * cols + (n * OH + oh) * OW + dw / sw];
        }
    }
    x[index] = sum;
}
