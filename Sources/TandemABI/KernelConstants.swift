/// Numbers that a kernel and the Swift side must agree on: each field `camelCase` becomes
/// `#define CAMEL_CASE value` in the generated header (`UL` for 64-bit values), and Swift reads the
/// same field, so neither side spells a value out.
public struct KernelConstants: Sendable {
    /// The tiled GEMM's block of C per work-item (`gemm_tile_f32`): rows, and columns (the kernel
    /// holds a row of the block as one float16).
    public var gemmTileRows: Int32 = 8
    public var gemmTileColumns: Int32 = 16

    /// The counter-based random stream every device produces bit for bit (`uniform_f32`, the CPU's
    /// `RandomStream`): element i of stream `seed` is mix(key + (i + 1)·increment), where
    /// key = mix(seed ^ randomSeedScramble) and mix is SplitMix64's finaliser,
    /// z ^= z >> s1; z *= m1; z ^= z >> s2; z *= m2; z ^= z >> s3; the top 24 bits of the result,
    /// scaled by 2^−24, are the float.
    public var randomSeedScramble: UInt64 = 0x6A09_E667_F3BC_C909
    /// φ = 2^64 / golden ratio, SplitMix64's increment.
    public var randomIncrement: UInt64 = 0x9E37_79B9_7F4A_7C15
    public var randomMixMultiplier1: UInt64 = 0xBF58_476D_1CE4_E5B9
    public var randomMixMultiplier2: UInt64 = 0x94D0_49BB_1331_11EB
    public var randomMixShift1: Int32 = 30
    public var randomMixShift2: Int32 = 27
    public var randomMixShift3: Int32 = 31

    /// The constants the kernels are built with.
    public static let kernels = KernelConstants()
}
