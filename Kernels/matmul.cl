// Helpers around CLBlast's GEMM.

// C = beta·C over an m×n matrix with leading dimension ldc, for each batch (global size n, m, batch).
// BLAS semantics for k = 0, which CLBlast rejects.
__kernel void scale_matrix_f32(__global float* c, const int offset, const int ldc, const int stride,
                               const int m, const int n, const float beta) {
    const int col = get_global_id(0), row = get_global_id(1), batch = get_global_id(2);
    if (col >= n || row >= m) return;
    const int i = offset + batch * stride + row * ldc + col;
    c[i] = beta == 0.0f ? 0.0f : beta * c[i];
}

// C = alpha·op(A)·op(B) + beta·C for OpenCL devices that run on a CPU (PoCL), where CLBlast's
// GPU-tuned kernels are slow: one work-item computes a GEMM_TILE_ROWS × GEMM_TILE_COLUMNS block of
// C (8×16, KernelConstants in Sources/TandemABI) in eight float16 registers, reading one row of op(B)
// as a vector and broadcasting one element of op(A) per row,
// like a CPU BLAS micro-kernel. Rows beyond m repeat the last row (computed, never stored), so the
// inner loop has no branches. Work-item (x, y, z) = (column block, row block, batch).
__kernel void gemm_tile_f32(__global const float* A, __global const float* B, __global float* C,
                            const GEMMParameters g) {
    const int m = g.m, n = g.n, k = g.k;
    const int j0 = get_global_id(0) * GEMM_TILE_COLUMNS, i0 = get_global_id(1) * GEMM_TILE_ROWS, batch = get_global_id(2);
    if (j0 >= n || i0 >= m) return;
    A += g.offsetA + batch * g.strideA;
    B += g.offsetB + batch * g.strideB;
    C += g.offsetC + batch * g.strideC;
    // Strides of op(A) along its rows i and depth p, and of op(B) along p and its columns j.
    const int ai = g.transposeA ? 1 : g.lda, ap = g.transposeA ? g.lda : 1;
    const int bp = g.transposeB ? 1 : g.ldb, bj = g.transposeB ? g.ldb : 1;
    const int cols = min(GEMM_TILE_COLUMNS, n - j0);
    __global const float* a[GEMM_TILE_ROWS];
    float16 acc[GEMM_TILE_ROWS];
    for (int r = 0; r < GEMM_TILE_ROWS; ++r) {
        a[r] = A + min(i0 + r, m - 1) * ai;
        acc[r] = (float16)(0.0f);
    }
    if (cols == GEMM_TILE_COLUMNS && !g.transposeB) {
        for (int p = 0; p < k; ++p) {
            const float16 b = vload16(0, B + p * bp + j0);
            for (int r = 0; r < GEMM_TILE_ROWS; ++r) acc[r] = fma((float16)(a[r][p * ap]), b, acc[r]);
        }
    } else {
        // op(B) transposed or a partial block: gather the row, columns beyond n repeat the last.
        int column[GEMM_TILE_COLUMNS];
        for (int c = 0; c < GEMM_TILE_COLUMNS; ++c) column[c] = min(j0 + c, n - 1) * bj;
        for (int p = 0; p < k; ++p) {
            __global const float* row = B + p * bp;
            float values[GEMM_TILE_COLUMNS];
            for (int c = 0; c < GEMM_TILE_COLUMNS; ++c) values[c] = row[column[c]];
            const float16 b = vload16(0, values);
            for (int r = 0; r < GEMM_TILE_ROWS; ++r) acc[r] = fma((float16)(a[r][p * ap]), b, acc[r]);
        }
    }
    const int rows = min(GEMM_TILE_ROWS, m - i0);
    for (int r = 0; r < rows; ++r) {
        float out[GEMM_TILE_COLUMNS];
        vstore16(acc[r], 0, out);
        __global float* target = C + (i0 + r) * g.ldc + j0;
        for (int c = 0; c < cols; ++c) target[c] = g.beta == 0.0f ? g.alpha * out[c] : g.alpha * out[c] + g.beta * target[c];
    }
}
