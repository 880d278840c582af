// Fused optimizer updates, in place, one work-item per element. PyTorch's semantics; the host
// passes bias corrections precomputed. Mirrors Sources/TandemCPU/CPUOptimizer.swift.
//
// One launch updates up to eight tensors (OpenCL C 1.2 has no arrays of pointers, so each slot is
// its own arguments): work-item i belongs to the slot k whose range [ends[k - 1], ends[k]) holds it,
// with ends[-1] = 0. The host fills unused slots with a used slot's buffers and an empty range.
// Eight slots of pointers and parameter blocks stay under the 1,024 bytes of arguments every
// OpenCL device accepts.

// SGD with momentum, dampening, Nesterov and L2 weight decay. The momentum buffer is untouched
// when momentum == 0.
static inline void sgd_element(__global float* p, __global const float* g, __global float* b, const int i,
                               const SGDParameters s) {
    float d = g[i];
    if (s.weightDecay != 0.0f) d += s.weightDecay * p[i];
    if (s.momentum != 0.0f) {
        const float buffer = s.first ? d : s.momentum * b[i] + (1.0f - s.dampening) * d;
        b[i] = buffer;
        d = s.nesterov ? d + s.momentum * buffer : buffer;
    }
    p[i] -= s.lr * d;
}

// Adam / AdamW; AdamParameters (Sources/TandemABI) carries the bias corrections.
static inline void adam_element(__global float* p, __global const float* g, __global float* m, __global float* v,
                                const int i, const AdamParameters s) {
    float d = g[i];
    if (s.weightDecay != 0.0f) {
        if (s.decoupled) p[i] *= s.decay; else d += s.weightDecay * p[i];
    }
    const float mi = s.beta1 * m[i] + (1.0f - s.beta1) * d;
    const float vi = s.beta2 * v[i] + (1.0f - s.beta2) * d * d;
    m[i] = mi;
    v[i] = vi;
    p[i] -= s.stepSize * mi / (sqrt(vi) / s.correction2 + s.epsilon);
}

#define SGD_SLOT(k, end, start) \
    if (i < (end)) { sgd_element(p##k, g##k, b##k, i - (start), s##k); return; }
#define ADAM_SLOT(k, end, start) \
    if (i < (end)) { adam_element(p##k, g##k, m##k, v##k, i - (start), s##k); return; }

__kernel void sgd_update_f32(__global float* p0, __global const float* g0, __global float* b0,
                             __global float* p1, __global const float* g1, __global float* b1,
                             __global float* p2, __global const float* g2, __global float* b2,
                             __global float* p3, __global const float* g3, __global float* b3,
                             __global float* p4, __global const float* g4, __global float* b4,
                             __global float* p5, __global const float* g5, __global float* b5,
                             __global float* p6, __global const float* g6, __global float* b6,
                             __global float* p7, __global const float* g7, __global float* b7,
                             const int8 ends, const SGDParameters s0, const SGDParameters s1, const SGDParameters s2, const SGDParameters s3, const SGDParameters s4, const SGDParameters s5, const SGDParameters s6, const SGDParameters s7) {
    const int i = get_global_id(0);
    SGD_SLOT(0, ends.s0, 0) SGD_SLOT(1, ends.s1, ends.s0) SGD_SLOT(2, ends.s2, ends.s1) SGD_SLOT(3, ends.s3, ends.s2)
    SGD_SLOT(4, ends.s4, ends.s3) SGD_SLOT(5, ends.s5, ends.s4) SGD_SLOT(6, ends.s6, ends.s5) SGD_SLOT(7, ends.s7, ends.s6)
}

__kernel void adam_update_f32(__global float* p0, __global const float* g0, __global float* m0, __global float* v0,
                              __global float* p1, __global const float* g1, __global float* m1, __global float* v1,
                              __global float* p2, __global const float* g2, __global float* m2, __global float* v2,
                              __global float* p3, __global const float* g3, __global float* m3, __global float* v3,
                              __global float* p4, __global const float* g4, __global float* m4, __global float* v4,
                              __global float* p5, __global const float* g5, __global float* m5, __global float* v5,
                              __global float* p6, __global const float* g6, __global float* m6, __global float* v6,
                              __global float* p7, __global const float* g7, __global float* m7, __global float* v7,
                              const int8 ends, const AdamParameters s0, const AdamParameters s1, const AdamParameters s2, const AdamParameters s3, const AdamParameters s4, const AdamParameters s5, const AdamParameters s6, const AdamParameters s7) {
    const int i = get_global_id(0);
    ADAM_SLOT(0, ends.s0, 0) ADAM_SLOT(1, ends.s1, ends.s0) ADAM_SLOT(2, ends.s2, ends.s1) ADAM_SLOT(3, ends.s3, ends.s2)
    ADAM_SLOT(4, ends.s4, ends.s3) ADAM_SLOT(5, ends.s5, ends.s4) ADAM_SLOT(6, ends.s6, ends.s5) ADAM_SLOT(7, ends.s7, ends.s6)
}
