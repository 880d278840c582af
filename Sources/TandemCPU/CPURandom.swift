import TandemCore

/// The counter-based random stream shared by every device (`Kernels/random.cl` mirrors it): element
/// `i` of stream `seed` depends only on `(seed, i)`, so any slice of the stream can be produced by
/// any device in any order, bit for bit.
///
/// Construction: the seed is first scrambled by the SplitMix64 finaliser into a key; element `i`
/// is the finaliser applied to `key + (i + 1) · φ` (φ = 2^64 / golden ratio, the SplitMix64
/// increment), and its top 24 bits scaled by 2^-24 give a float in [0, 1) that is exact in float32.
/// The constants are `KernelConstants` (Sources/TandemABI), shared with the kernel.
enum RandomStream {
    static let constants = KernelConstants.kernels

    /// The SplitMix64 output function (Stafford's "Mix13" variant).
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> constants.randomMixShift1)) &* constants.randomMixMultiplier1
        z = (z ^ (z >> constants.randomMixShift2)) &* constants.randomMixMultiplier2
        return z ^ (z >> constants.randomMixShift3)
    }

    /// The key of stream `seed`.
    @inline(__always)
    static func key(_ seed: UInt64) -> UInt64 { mix(seed ^ constants.randomSeedScramble) }

    /// Element `index` of the stream with `key`, uniform in [0, 1).
    @inline(__always)
    static func uniform(key: UInt64, index: UInt64) -> Float {
        let bits = mix(key &+ (index &+ 1) &* constants.randomIncrement) >> 40
        return Float(UInt32(truncatingIfNeeded: bits)) * (1 / 16_777_216)
    }
}

extension CPUDevice {
    public func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "uniform") }
        guard count > 0 else { return }
        guard offset >= 0 else {
            throw TandemError.invalidArgument(op: "uniform", message: "negative stream offset \(offset) on \(info.selector)")
        }
        let py = host(y).pointer
        let key = RandomStream.key(seed), start = UInt64(offset)
        for i in 0..<count { py[i] = RandomStream.uniform(key: key, index: start &+ UInt64(i)) }
    }
}
