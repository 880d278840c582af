// Fill: set `count` floats of `y` starting at `offset` to `value`.
// Used for zero-initialised outputs and for poisoning buffers in tests.
__kernel void fill_f32(__global float* y, const int offset, const int count, const float value) {
    const int i = get_global_id(0);
    if (i < count) y[offset + i] = value;
}
