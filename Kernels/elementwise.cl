// Elementwise ops: unary, binary with broadcasting, select, and strided copy.
// Operands are read through (shape, strides, offset) of up to 8 axes, as built by StridedLayout
// (shape and strides as int8 vectors, one lane per axis); the op codes (UNARY_*, BINARY_*) come
// from Sources/TandemABI through the generated ABI header.

static inline float unary_op(const UnaryOp op, const float x, const float p) {
    switch (op) {
    case UNARY_NEG: return -x;
    case UNARY_EXP: return exp(x);
    case UNARY_LOG: return log(x);
    case UNARY_SQRT: return sqrt(x);
    case UNARY_RELU: return x <= 0.0f ? 0.0f : x;  // NaN stays NaN, as in PyTorch.
    case UNARY_SIGMOID: return 1.0f / (1.0f + exp(-x));
    case UNARY_TANH: return tanh(x);
    case UNARY_ABS: return fabs(x);
    case UNARY_POW: return pow(x, p);
    case UNARY_ADD_SCALAR: return x + p;
    case UNARY_MUL_SCALAR: return x * p;
    case UNARY_MAX_SCALAR: return x > p ? x : p;
    case UNARY_MIN_SCALAR: return x < p ? x : p;
    case UNARY_GREATER_SCALAR: return x > p ? 1.0f : 0.0f;
    case UNARY_EQUAL_SCALAR: return x == p ? 1.0f : 0.0f;
    case UNARY_NOT_EQUAL_SCALAR: return x != p ? 1.0f : 0.0f;
    case UNARY_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
    case UNARY_RECIPROCAL: return 1.0f / x;
    case UNARY_SQUARE: return x * x;
    case UNARY_IS_NAN: return isnan(x) ? 1.0f : 0.0f;
    case UNARY_REPLACE_NAN: return isnan(x) ? p : x;
    case UNARY_SOFTPLUS: return fmax(x, 0.0f) + log1p(exp(-fabs(x)));
    }
    return NAN;
}

static inline float binary_op(const BinaryOp op, const float a, const float b) {
    switch (op) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    case BINARY_MAX: return a > b ? a : b;
    case BINARY_MIN: return a < b ? a : b;
    case BINARY_GREATER: return a > b ? 1.0f : 0.0f;
    case BINARY_EQUAL: return a == b ? 1.0f : 0.0f;
    case BINARY_GATE: return b > 0.0f ? a : 0.0f;
    }
    return NAN;
}

// Element offset of flat index i for one operand.
static inline int strided_offset(int i, const int rank, const int8 shape, const int8 strides, const int base) {
    int sh[8], st[8];
    vstore8(shape, 0, sh);
    vstore8(strides, 0, st);
    int offset = base;
    for (int d = rank - 1; d >= 0; --d) {
        offset += (i % sh[d]) * st[d];
        i /= sh[d];
    }
    return offset;
}

__kernel void unary_f32(__global const float* x, __global float* y, const int n, const UnaryOp op, const float p) {
    const int i = get_global_id(0);
    if (i < n) y[i] = unary_op(op, x[i], p);
}

__kernel void binary_f32(__global const float* a, __global const float* b, __global float* y, const int n,
                         const BinaryOp op, const int rank, const int8 shape, const int8 sa, const int8 sb,
                         const int oa, const int ob) {
    const int i = get_global_id(0);
    if (i >= n) return;
    if (rank == 1) {
        y[i] = binary_op(op, a[oa + i * sa.s0], b[ob + i * sb.s0]);
    } else {
        y[i] = binary_op(op, a[strided_offset(i, rank, shape, sa, oa)], b[strided_offset(i, rank, shape, sb, ob)]);
    }
}

__kernel void select_f32(__global const float* c, __global const float* a, __global const float* b,
                         __global float* y, const int n, const int rank, const int8 shape,
                         const int8 sc, const int8 sa, const int8 sb, const int oc, const int oa, const int ob) {
    const int i = get_global_id(0);
    if (i >= n) return;
    y[i] = c[strided_offset(i, rank, shape, sc, oc)] != 0.0f ? a[strided_offset(i, rank, shape, sa, oa)]
                                                              : b[strided_offset(i, rank, shape, sb, ob)];
}

// One work-item per row of `inner` contiguous floats on both sides (CPU devices, where the row's copy
// vectorises); the layout arguments describe the rows.
__kernel void copy_rows_f32(__global const float* x, __global float* y, const int rows, const int inner, const int rank,
                            const int8 shape, const int8 sx, const int8 sy, const int ox, const int oy) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int from = strided_offset(r, rank, shape, sx, ox), to = strided_offset(r, rank, shape, sy, oy);
    for (int p = 0; p < inner; ++p) y[to + p] = x[from + p];
}

__kernel void copy_f32(__global const float* x, __global float* y, const int n, const int rank, const int8 shape,
                       const int8 sx, const int8 sy, const int ox, const int oy) {
    const int i = get_global_id(0);
    if (i >= n) return;
    if (rank == 1) {
        y[oy + i * sy.s0] = x[ox + i * sx.s0];
    } else {
        y[strided_offset(i, rank, shape, sy, oy)] = x[strided_offset(i, rank, shape, sx, ox)];
    }
}

// y [batch, channels, inner] += bias[c] in place, then max(y, 0) when relu != 0; one work-item per
// element over a range (inner, channels, batch), so no division finds the channel.
__kernel void add_channel_bias_f32(__global float* y, __global const float* bias, const int batch, const int channels,
                                   const int inner, const int relu) {
    const int s = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (s >= inner || c >= channels || n >= batch) return;
    const size_t i = ((size_t)n * channels + c) * inner + s;
    const float v = y[i] + bias[c];
    y[i] = relu && v <= 0.0f ? 0.0f : v;  // As relu in unary_f32: NaN stays NaN.
}
