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
