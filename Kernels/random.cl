// Counter-based uniform random numbers, bit-identical to RandomStream in
// Sources/TandemCPU/CPURandom.swift; the algorithm and its constants (RANDOM_*) are those of
// KernelConstants in Sources/TandemABI.

static inline ulong splitmix_finalize(ulong z) {
    z = (z ^ (z >> RANDOM_MIX_SHIFT1)) * RANDOM_MIX_MULTIPLIER1;
    z = (z ^ (z >> RANDOM_MIX_SHIFT2)) * RANDOM_MIX_MULTIPLIER2;
    return z ^ (z >> RANDOM_MIX_SHIFT3);
}

__kernel void uniform_f32(__global float* y, const int n, const ulong seed, const ulong offset) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const ulong key = splitmix_finalize(seed ^ RANDOM_SEED_SCRAMBLE);
    const ulong index = offset + (ulong)i;
    const ulong bits = splitmix_finalize(key + (index + 1UL) * RANDOM_INCREMENT) >> 40;
    y[i] = (float)(uint)bits * (1.0f / 16777216.0f);
}
