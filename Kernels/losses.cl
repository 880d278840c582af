// Class gathers of the classification losses: x [N, C, S], target [N, S] as float class indices.
// A target outside 0..<C (−1, −100, NaN) selects nothing: the gather gives 0, the scatter writes 0.

static inline int class_index(const float t, const int classes) {
    return (t >= 0.0f && t < (float)classes) ? (int)t : -1;
}

// y[n, s] = x[n, target[n, s], s]; one work-item per (n, s).
__kernel void gather_class_f32(__global const float* x, __global const float* target, __global float* y,
                               const int batch, const int classes, const int inner) {
    const int i = get_global_id(0);
    if (i >= batch * inner) return;
    const int n = i / inner, s = i - n * inner;
    const int c = class_index(target[i], classes);
    y[i] = c >= 0 ? x[(n * classes + c) * inner + s] : 0.0f;
}

// dx[n, c, s] = dy[n, s] where c == target[n, s], else 0; one work-item per element of dx.
__kernel void scatter_class_f32(__global const float* dy, __global const float* target, __global float* dx,
                                const int batch, const int classes, const int inner) {
    const int j = get_global_id(0);
    if (j >= batch * classes * inner) return;
    const int s = j % inner, c = (j / inner) % classes, n = j / (inner * classes);
    const int i = n * inner + s;
    dx[j] = class_index(target[i], classes) == c ? dy[i] : 0.0f;
}
