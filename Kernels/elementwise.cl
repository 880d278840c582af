// Elementwise ops: unary, binary with broadcasting, select, and strided copy.
// Operands are read through (shape, strides, offset) of up to 8 axes, as built by StridedLayout;
// the op codes match UnaryOp and BinaryOp in Sources/TandemCore/Primitives/Primitives.swift.

inline float unary_op(const int op, const float x, const float p) {
    switch (op) {
    case 0: return -x;
    case 1: return exp(x);
    case 2: return log(x);
    case 3: return sqrt(x);
    case 4: return x > 0.0f ? x : 0.0f;
    case 5: return 1.0f / (1.0f + exp(-x));
    case 6: return tanh(x);
    case 7: return fabs(x);
    case 8: return pow(x, p);
    case 9: return x + p;
    case 10: return x * p;
    case 11: return x > p ? x : p;
    case 12: return x < p ? x : p;
    case 13: return x > p ? 1.0f : 0.0f;
    case 14: return x == p ? 1.0f : 0.0f;
    case 15: return x != p ? 1.0f : 0.0f;
    case 16: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
    case 17: return 1.0f / x;
    case 18: return x * x;
    case 19: return isnan(x) ? 1.0f : 0.0f;
    case 20: return isnan(x) ? p : x;
    }
    return NAN;
}

inline float binary_op(const int op, const float a, const float b) {
    switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return a > b ? a : b;
    case 5: return a < b ? a : b;
    case 6: return a > b ? 1.0f : 0.0f;
    case 7: return a == b ? 1.0f : 0.0f;
    case 8: return b > 0.0f ? a : 0.0f;
    }
    return NAN;
}

// Element offset of flat index i for one operand.
inline int strided_offset(int i, const int rank, const int8 shape, const int8 strides, const int base) {
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

__kernel void unary_f32(__global const float* x, __global float* y, const int n, const int op, const float p) {
    const int i = get_global_id(0);
    if (i < n) y[i] = unary_op(op, x[i], p);
}

__kernel void binary_f32(__global const float* a, __global const float* b, __global float* y, const int n,
                         const int op, const int rank, const int8 shape, const int8 sa, const int8 sb,
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
