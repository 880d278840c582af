// Counter-based uniform random numbers, bit-identical to RandomStream in
// Sources/TandemCPU/CPURandom.swift: element i of stream `seed` is the SplitMix64 finaliser
// of key + (i + 1)·φ, key = finaliser(seed ^ 0x6A09E667F3BCC909); its top 24 bits / 2^24.

static inline ulong splitmix_finalize(ulong z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}

__kernel void uniform_f32(__global float* y, const int n, const ulong seed, const ulong offset) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const ulong key = splitmix_finalize(seed ^ 0x6A09E667F3BCC909UL);
    const ulong index = offset + (ulong)i;
    const ulong bits = splitmix_finalize(key + (index + 1UL) * 0x9E3779B97F4A7C15UL) >> 40;
    y[i] = (float)(uint)bits * (1.0f / 16777216.0f);
}
