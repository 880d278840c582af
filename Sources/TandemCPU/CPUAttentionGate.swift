#if canImport(Glibc)
import Glibc
#endif
import TandemCore

/// MTAN attention gating on the CPU, one pass over memory each way (`Kernels/attention_gate.cl`
/// computes the same expressions on OpenCL).
extension CPUDevice {
    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "attentionGate") }
        let pz = SharedPointer(host(z).pointer), pf = SharedPointer(host(f).pointer), py = SharedPointer(host(y).pointer)
        Parallel.chunks(count, cost: 8) { range in
            let pz = pz.base, pf = pf.base, py = py.base
            var i = range.lowerBound
            while i &+ 8 <= range.upperBound {
                let s = Self.sigmoid(UnsafeRawPointer(pz + i).loadUnaligned(as: SIMD8<Float>.self))
                UnsafeMutableRawPointer(py + i).storeBytes(of: s * UnsafeRawPointer(pf + i).loadUnaligned(as: SIMD8<Float>.self),
                                                           as: SIMD8<Float>.self)
                i &+= 8
            }
            while i < range.upperBound { py[i] = pf[i] / (1 + expf(-pz[i])); i &+= 1 }
        }
    }

    /// 1 / (1 + e^−z), eight lanes at a time; within 3e-7 relative of the scalar formula.
    @inline(__always)
    static func sigmoid(_ z: SIMD8<Float>) -> SIMD8<Float> {
        var s = 1 / (1 + exp(-z))
        s.replace(with: z, where: z .!= z)  // NaN stays NaN, as in the scalar formula
        return s
    }

    /// e^x, eight lanes at a time: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its degree-7 Taylor
    /// polynomial (error below 1e-7 relative), and 2^n put into the exponent bits. Inputs are clamped
    /// to [−87, 88], where e^x stays a normal float (beyond, the sigmoid is 0 or 1 anyway in float).
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var x = x
        x.replace(with: -87, where: x .< -87)
        x.replace(with: 88, where: x .> 88)
        // Adding 1.5·2²³ rounds x·log₂e to an integer n, which then sits in the low mantissa bits.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let shifted = x * 1.442695041 + magic
        let n = shifted - magic
        let r = x - n * 0.693145752 - n * 1.428606765e-6  // ln 2 in two parts, the first exact in float
        var p = SIMD8<Float>(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        return p * unsafeBitCast((integer &+ 127) &<< 23, to: SIMD8<Float>.self)
    }

    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "attentionGateBackward") }
        let pz = SharedPointer(host(z).pointer), pf = SharedPointer(host(f).pointer), pg = SharedPointer(host(dy).pointer)
        let pdz = SharedPointer(host(dz).pointer), pdf = SharedPointer(host(df).pointer)
        Parallel.chunks(count, cost: 8) { range in
            let pz = pz.base, pf = pf.base, pg = pg.base, pdz = pdz.base, pdf = pdf.base
            var i = range.lowerBound
            while i &+ 8 <= range.upperBound {
                let s = Self.sigmoid(UnsafeRawPointer(pz + i).loadUnaligned(as: SIMD8<Float>.self))
                let g = UnsafeRawPointer(pg + i).loadUnaligned(as: SIMD8<Float>.self)
                let f = UnsafeRawPointer(pf + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(pdz + i).storeBytes(of: g * f * s * (1 - s), as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(pdf + i).storeBytes(of: g * s, as: SIMD8<Float>.self)
                i &+= 8
            }
            while i < range.upperBound {
                let s = 1 / (1 + expf(-pz[i])), g = pg[i]
                pdz[i] = g * pf[i] * s * (1 - s)
                pdf[i] = g * s
                i &+= 1
            }
        }
    }
}
