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

// Log-softmax along the middle axis of x [outer, extent, inner]: one work-item per (outer, inner)
// column; the maximum is subtracted first so exp cannot overflow.
__kernel void log_softmax_f32(__global const float* x, __global float* y, const int outer, const int extent,
                              const int inner) {
    const int gid = get_global_id(0);
    if (gid >= outer * inner) return;
    const int o = gid / inner, i = gid - o * inner;
    const size_t base = (size_t)o * extent * inner + i;
    float maximum = -INFINITY;
    for (int e = 0; e < extent; ++e) {
        const float v = x[base + (size_t)e * inner];
        if (!(v <= maximum)) maximum = v;
    }
    float sum = 0.0f;
    for (int e = 0; e < extent; ++e) sum += exp(x[base + (size_t)e * inner] - maximum);
    const float shift = maximum + log(sum);
    for (int e = 0; e < extent; ++e) y[base + (size_t)e * inner] = x[base + (size_t)e * inner] - shift;
}

// dx = dy − exp(y)·Σ dy along the axis, one work-item per column.
__kernel void log_softmax_backward_f32(__global const float* y, __global const float* dy, __global float* dx,
                                       const int outer, const int extent, const int inner) {
    const int gid = get_global_id(0);
    if (gid >= outer * inner) return;
    const int o = gid / inner, i = gid - o * inner;
    const size_t base = (size_t)o * extent * inner + i;
    float sum = 0.0f;
    for (int e = 0; e < extent; ++e) sum += dy[base + (size_t)e * inner];
    for (int e = 0; e < extent; ++e) {
        const size_t j = base + (size_t)e * inner;
        dx[j] = dy[j] - exp(y[j]) * sum;
    }
}

// The weight of label i of sample n (ClassLossParameters says which labels count): the mask's
// value, 1 without a mask, 0 for a label that names no class or the ignored one. Sets *c to the class.
static inline float label_weight(const float t, __global const float* mask, const int n, const int i,
                                 const ClassLossParameters p, int* c) {
    *c = class_index(t, p.classes);
    if (!(t > -0.5f && t < (float)p.classes - 0.5f) || *c < 0 || *c == p.ignoreIndex) return 0.0f;
    return p.maskKind == 0 ? 1.0f : mask[p.maskKind == 1 ? n : i];
}

// The NLL loss in one work-group (of a power-of-two size): each work-item sums a strided share of
// the labels, then a tree in local memory. loss[0] = −Σ x[n, t, s] / max(W, 1), weight[0] = W.
__kernel void nll_loss_f32(__global const float* x, __global const float* target, __global const float* mask,
                           __global float* loss, __global float* weight, const ClassLossParameters p,
                           __local float* sums, __local float* weights) {
    const int l = get_local_id(0), size = get_local_size(0);
    float sum = 0.0f, total = 0.0f;
    for (int i = l; i < p.batch * p.inner; i += size) {
        const int n = i / p.inner, s = i - n * p.inner;
        int c;
        const float w = label_weight(target[i], mask, n, i, p, &c);
        if (w != 0.0f) {
            sum += x[((size_t)n * p.classes + c) * p.inner + s];
            total += w;
        }
    }
    sums[l] = sum;
    weights[l] = total;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (l < width) {
            sums[l] += sums[l + width];
            weights[l] += weights[l + width];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) {
        loss[0] = -sums[0] / fmax(weights[0], 1.0f);
        weight[0] = weights[0];
    }
}

// dx[n, c, s] = −dloss / max(W, 1) where c is a counted label's class, else 0; one work-item per
// element of dx.
__kernel void nll_loss_backward_f32(__global const float* target, __global const float* mask, __global const float* weight,
                                    __global const float* dloss, __global float* dx, const ClassLossParameters p) {
    const int j = get_global_id(0);
    if (j >= p.batch * p.classes * p.inner) return;
    const int s = j % p.inner, c = (j / p.inner) % p.classes, n = j / (p.inner * p.classes);
    const int i = n * p.inner + s;
    int chosen;
    const float w = label_weight(target[i], mask, n, i, p, &chosen);
    dx[j] = (w != 0.0f && chosen == c) ? -dloss[0] / fmax(weight[0], 1.0f) : 0.0f;
}
