#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Tandem
@testable import TandemOpenCL

/// Long sums that feed gradients (issue 17, item 7): batch norm's channel sums (dweight, dbias and
/// dx in the backward, the statistics in the forward), the per-channel and per-axis sums of bias
/// gradients and the cross-stitch α gradient, over 2^18 values whose terms nearly cancel, against
/// float64 computed from the same float32 inputs. Each result must lie within
/// `bound`·2^-24·Σ|terms| of float64, float32 accuracy relative to the terms' magnitudes however
/// many terms there are, on the CPU and on each OpenCL device both ways it sums a channel (a
/// work-group per channel, or a work-item per channel plane after plane). Float32 recursive
/// summation of the same terms in order misses that bound (`recursiveSummationFails`), so the
/// bound tells an accurate summation from a naive one.
@Suite("Reduction accuracy")
struct ReductionAccuracyTests {
    /// 2^-24, float32's unit roundoff.
    static let unit = 0x1p-24
    /// The constant c of the bound c·2^-24·Σ|terms|.
    static let bound = 8.0
    /// [N, C, S] = [16, 2, 128·128]: 2^18 values a channel.
    static let geometry = BatchNormGeometry(batch: 16, channels: 2, inner: 128 * 128, training: true)

    /// How the inputs are drawn. `varied`: x uniform in 100 ± 0.5, gradients of magnitudes spread
    /// over two decades. `twoValued`: x = 100 ± 0.3 and gradients ±0.1, as quantised data or a
    /// constant gradient give: few distinct terms, whose roundings in a running sum do not average out.
    enum Data: String, CaseIterable, Sendable { case varied, twoValued }

    /// A device and the way it sums a channel: the CPU, or an OpenCL device with a work-group per
    /// channel (`rows` false, GPUs) or a work-item per channel (`rows` true, CPU drivers).
    struct Way: Sendable, CustomTestStringConvertible {
        let selector: String, rows: Bool?
        var testDescription: String { rows.map { "\(selector) \($0 ? "planes" : "work-groups")" } ?? selector }
        /// A private OpenCL device of the wanted kind, so both kinds run on any OpenCL device.
        func device() throws -> any Device {
            guard let rows else { return CPUDevice.shared }
            return try privateOpenCL(selector, options: .init(rowKernels: rows))
        }
        static let all: [Way] = [Way(selector: CPUDevice.shared.info.selector, rows: nil)]
            + openCLSelectors.flatMap { [Way(selector: $0, rows: false), Way(selector: $0, rows: true)] }
    }

    /// Batch-norm inputs: x and dy [N, C, S] and the saved statistics the backward reads.
    struct Inputs { var x: [Float], dy: [Float], mean: [Float], invstd: [Float] }

    /// The indices of channel c's values in (n, s) order.
    static func indices(_ c: Int, _ g: BatchNormGeometry) -> [Int] {
        (0..<g.batch).flatMap { (n: Int) -> Range<Int> in
            let start = (n * g.channels + c) * g.inner
            return start..<(start + g.inner)
        }
    }

    /// Inputs whose gradient sums nearly cancel: dy·(x − mean) is positive over the first 3/8 of
    /// each channel and negative over the rest, the negative terms scaled so that both parts have
    /// the same total. Σ dy·(x − mean) then cancels down to what rounding dy to float32 leaves
    /// (≲ 10^-10 of Σ|dy·(x − mean)|) while a running sum in order climbs to half of it and back, its roundings on the way down unlike those on the way up
    /// (parts of equal length would mirror them); Σ dy (dbias) cancels as a random walk. mean and
    /// invstd are the channel's float64 statistics rounded to float32.
    static func inputs(_ data: Data, seed: UInt64, geometry g: BatchNormGeometry = geometry) -> Inputs {
        var random = SplitMix64(seed: seed)
        let x: [Float] = (0..<g.elements).map { _ in
            let u = Float.random(in: -1..<1, using: &random)
            return data == .varied ? 100 + 0.5 * u : (u < 0 ? 99.7 : 100.3)
        }
        var dy = [Float](repeating: 0, count: g.elements), mean: [Float] = [], invstd: [Float] = []
        for c in 0..<g.channels {
            let channel = indices(c, g)
            let mu = channel.reduce(0.0) { $0 + Double(x[$1]) } / Double(g.count)
            let variance = channel.reduce(0.0) { $0 + (Double(x[$1]) - mu) * (Double(x[$1]) - mu) } / Double(g.count)
            let m = Float(mu)
            mean.append(m)
            invstd.append(Float(1 / (variance + Double(g.epsilon)).squareRoot()))
            var raw = [Double](repeating: 0, count: g.count), positive = 0.0, negative = 0.0
            for (k, i) in channel.enumerated() {
                let d = Double(x[i] - m)
                let magnitude = data == .varied ? pow(10, -2 * Double.random(in: 0..<1, using: &random)) : 0.1
                raw[k] = (k < 3 * g.count / 8) == (d >= 0) ? magnitude : -magnitude
                if raw[k] * d > 0 { positive += raw[k] * d } else { negative -= raw[k] * d }
            }
            for (k, i) in channel.enumerated() {
                dy[i] = Float(raw[k] * Double(x[i] - m) < 0 ? raw[k] * positive / negative : raw[k])
            }
        }
        return Inputs(x: x, dy: dy, mean: mean, invstd: invstd)
    }

    /// |got − want| in units of 2^-24·scale (NaN counts as infinite).
    static func units(_ got: Float, _ want: Double, scale: Double) -> Double {
        let e = Swift.abs(Double(got) - want) / (unit * scale)
        return e.isNaN ? .infinity : e
    }

    /// The training backward's dx, dweight and dbias on `device`.
    static func backward(_ device: any Device, _ input: Inputs, weight: [Float],
                         geometry g: BatchNormGeometry) throws -> (dx: [Float], dweight: [Float], dbias: [Float]) {
        let x = try device.buffer(input.x), dy = try device.buffer(input.dy), w = try device.buffer(weight)
        let mean = try device.buffer(input.mean), invstd = try device.buffer(input.invstd)
        let dx = try device.allocate(g.elements), dw = try device.allocate(g.channels), db = try device.allocate(g.channels)
        for b in [dx, dw, db] { try device.fill(b, value: .nan, offset: 0, count: b.count) }
        try device.batchNormBackward(x, dy, weight: w, mean: mean, invstd: invstd, dx: dx, dweight: dw, dbias: db, geometry: g)
        func read(_ b: any DeviceBuffer) throws -> [Float] { try device.download(b, offset: 0, count: b.count) }
        return (try read(dx), try read(dw), try read(db))
    }

    @Test("batch norm's dweight, dbias and dx over 2^18 nearly cancelling terms are within 8·2^-24·Σ|terms| of float64",
          arguments: Way.all)
    func batchNormBackward(way: Way) throws {
        let device = try way.device(), g = Self.geometry, seed = TestSeed()
        let weight: [Float] = [1.5, -0.75]
        for (index, data) in Data.allCases.enumerated() {
            let input = Self.inputs(data, seed: seed.derived(index))
            let got = try Self.backward(device, input, weight: weight, geometry: g)
            let label = "\(way.testDescription), \(data.rawValue) data, \(seed)"
            for c in 0..<g.channels {
                let channel = Self.indices(c, g), mu = Double(input.mean[c]), inv = Double(input.invstd[c])
                var sumG = 0.0, sumGX = 0.0, absG = 0.0, absGX = 0.0
                for i in channel {
                    let gv = Double(input.dy[i]), d = Double(input.x[i]) - mu
                    sumG += gv; sumGX += gv * d
                    absG += Swift.abs(gv); absGX += Swift.abs(gv * d)
                }
                let dweight = Self.units(got.dweight[c], sumGX * inv, scale: absGX * inv)
                let dbias = Self.units(got.dbias[c], sumG, scale: absG)
                #expect(dweight <= Self.bound, "\(label): channel \(c) dweight \(got.dweight[c]) vs \(sumGX * inv), error \(dweight)·2^-24·Σ|dy·x̂|")
                #expect(dbias <= Self.bound, "\(label): channel \(c) dbias \(got.dbias[c]) vs \(sumG), error \(dbias)·2^-24·Σ|dy|")
                // dx = k·(dy − Σdy/M − (x − mean)·invstd²·Σdy·(x − mean)/M), each value against the
                // magnitudes of its three parts.
                let k = inv * Double(weight[c]), m = Double(g.count)
                var worst = 0.0, at = 0
                for i in channel {
                    let gv = Double(input.dy[i]), d = Double(input.x[i]) - mu
                    let want = k * (gv - sumG / m - d * inv * inv * sumGX / m)
                    let scale = Swift.abs(k) * (Swift.abs(gv) + absG / m + Swift.abs(d) * inv * inv * absGX / m)
                    let e = Self.units(got.dx[i], want, scale: scale)
                    if e > worst { worst = e; at = i }
                }
                #expect(worst <= Self.bound, "\(label): channel \(c) dx[\(at)] \(got.dx[at]), error \(worst)·2^-24 of its terms")
            }
        }
    }

    @Test("batch norm's training statistics of 2^18 values with mean 100 match float64 within 8·2^-24 of their sums' terms",
          arguments: Way.all)
    func batchNormStatistics(way: Way) throws {
        let device = try way.device(), g = Self.geometry, seed = TestSeed()
        for (index, data) in Data.allCases.enumerated() {
            let input = Self.inputs(data, seed: seed.derived(index))
            let x = try device.buffer(input.x), y = try device.allocate(g.elements)
            let mean = try device.allocate(g.channels), invstd = try device.allocate(g.channels)
            try device.batchNormForward(x, y, weight: nil, bias: nil, mean: mean, invstd: invstd, runningMean: nil, runningVar: nil,
                                        geometry: g)
            let gotMean = try device.download(mean, offset: 0, count: g.channels)
            let gotInvstd = try device.download(invstd, offset: 0, count: g.channels)
            let label = "\(way.testDescription), \(data.rawValue) data, \(seed)"
            for c in 0..<g.channels {
                // The devices sum d = x − K and d² with K the channel's first value.
                let channel = Self.indices(c, g), k = Double(input.x[channel[0]]), m = Double(g.count)
                var s1 = 0.0, s2 = 0.0, abs1 = 0.0
                for i in channel {
                    let d = Double(input.x[i]) - k
                    s1 += d; s2 += d * d; abs1 += Swift.abs(d)
                }
                let shift = s1 / m, variance = s2 / m - shift * shift
                // The mean K + S1/M: S1's bound, and float32's rounding of S1/M and of the sum.
                let mean = Swift.abs(Double(gotMean[c]) - (k + shift)) / Self.unit
                let meanAllowed = Self.bound * abs1 / m + Swift.abs(k + shift) + Swift.abs(shift)
                #expect(mean <= meanAllowed, "\(label): channel \(c) mean \(gotMean[c]) vs \(k + shift), error \(mean)·2^-24, allowed \(meanAllowed)")
                // The variance S2/M − (S1/M)²: S2's bound, S1's through 2·|S1/M|, and float32's
                // rounding of the formula; invstd's relative error is half the variance's, plus its own rounding.
                let invstd = 1 / (variance + Double(g.epsilon)).squareRoot()
                let varianceScale = s2 / m + 2 * Swift.abs(shift) * abs1 / m
                let relative = Swift.abs(Double(gotInvstd[c]) - invstd) / invstd
                let allowed = Self.unit * (Self.bound * varianceScale / (2 * (variance + Double(g.epsilon))) + Self.bound)
                #expect(relative <= allowed,
                        "\(label): channel \(c) invstd \(gotInvstd[c]) vs \(invstd), error \(relative / Self.unit)·2^-24, allowed \(allowed / Self.unit)")
            }
        }
    }

    @Test("bias-gradient sums (channel sums, gated channel sums, axis sums) of 2^18 nearly cancelling terms are within 8·2^-24·Σ|terms| of float64",
          arguments: Way.all)
    func biasGradientSums(way: Way) throws {
        let device = try way.device(), g = Self.geometry, seed = TestSeed()
        for (index, data) in Data.allCases.enumerated() {
            let input = Self.inputs(data, seed: seed.derived(index))
            let label = "\(way.testDescription), \(data.rawValue) data, \(seed)"
            // The terms: dy·(x − mean), which nearly cancel over each channel, and the gate x − mean,
            // which passes half of them.
            var terms = [Float](repeating: 0, count: g.elements), gate = terms
            for c in 0..<g.channels {
                for i in Self.indices(c, g) {
                    terms[i] = input.dy[i] * (input.x[i] - input.mean[c])
                    gate[i] = input.x[i] - input.mean[c]
                }
            }
            let t = try device.buffer(terms), gb = try device.buffer(gate)
            let sums = try device.allocate(g.channels), gated = try device.allocate(g.channels), dz = try device.allocate(g.elements)
            try device.channelSums(t, sums, batch: g.batch, channels: g.channels, inner: g.inner)
            try device.gatedChannelSums(t, gate: gb, dz, sums: gated, batch: g.batch, channels: g.channels, inner: g.inner)
            let gotSums = try device.download(sums, offset: 0, count: g.channels)
            let gotGated = try device.download(gated, offset: 0, count: g.channels)
            for c in 0..<g.channels {
                var sum = 0.0, abs = 0.0, gatedSum = 0.0, gatedAbs = 0.0
                for i in Self.indices(c, g) {
                    sum += Double(terms[i]); abs += Swift.abs(Double(terms[i]))
                    if gate[i] > 0 { gatedSum += Double(terms[i]); gatedAbs += Swift.abs(Double(terms[i])) }
                }
                let e = Self.units(gotSums[c], sum, scale: abs), eg = Self.units(gotGated[c], gatedSum, scale: gatedAbs)
                #expect(e <= Self.bound, "\(label): channel sum \(c) \(gotSums[c]) vs \(sum), error \(e)·2^-24·Σ|terms|")
                #expect(eg <= Self.bound, "\(label): gated channel sum \(c) \(gotGated[c]) vs \(gatedSum), error \(eg)·2^-24·Σ|terms|")
            }
            // Sums along an axis: each channel's 2^18 terms as one row ([2, 2^18, 1], the chunked
            // path on OpenCL), and as eight columns ([1, 2^16, 8], a work-item per column).
            let rows = (0..<g.channels).flatMap { c in Self.indices(c, g).map { terms[$0] } }
            let r = try device.buffer(rows)
            for (outer, extent, inner) in [(g.channels, g.count, 1), (1, g.elements / 8, 8)] {
                let y = try device.allocate(outer * inner)
                try device.reduce(.sum, r, y, outer: outer, extent: extent, inner: inner)
                let got = try device.download(y, offset: 0, count: outer * inner)
                for o in 0..<outer {
                    for i in 0..<inner {
                        var sum = 0.0, abs = 0.0
                        for e in 0..<extent {
                            let v = Double(rows[(o * extent + e) * inner + i])
                            sum += v; abs += Swift.abs(v)
                        }
                        let error = Self.units(got[o * inner + i], sum, scale: abs)
                        #expect(error <= Self.bound, "\(label): reduce [\(outer), \(extent), \(inner)] output (\(o), \(i)) error \(error)·2^-24·Σ|terms|")
                    }
                }
            }
        }
    }

    @Test("the cross-stitch α gradient over 2^18 nearly cancelling terms a channel is within 8·2^-24·Σ|terms| of float64",
          arguments: Way.all)
    func crossStitchAlphaGradient(way: Way) throws {
        let device = try way.device(), g = Self.geometry, seed = TestSeed(), tasks = 2
        // Two task columns, one per kind of data: x[s] = x − mean and dy[t] = dy, so dalpha[c, t, t]
        // = Σ dy·(x − mean) nearly cancels as dweight does, and dalpha[c, t, s ≠ t] as a random walk.
        var x: [Float] = [], dy: [Float] = []
        for (index, data) in Data.allCases.enumerated() {
            let input = Self.inputs(data, seed: seed.derived(index))
            x += (0..<g.elements).map { input.x[$0] - input.mean[($0 / g.inner) % g.channels] }
            dy += input.dy
        }
        let dalpha = try device.allocate(g.channels * tasks * tasks)
        try device.crossStitchAlphaGradient(try device.buffer(x), try device.buffer(dy), dalpha: dalpha, tasks: tasks, batch: g.batch,
                                            channels: g.channels, inner: g.inner)
        let got = try device.download(dalpha, offset: 0, count: dalpha.count)
        for c in 0..<g.channels {
            let channel = Self.indices(c, g)
            for t in 0..<tasks {
                for s in 0..<tasks {
                    var sum = 0.0, abs = 0.0
                    for i in channel {
                        let term = Double(dy[t * g.elements + i]) * Double(x[s * g.elements + i])
                        sum += term; abs += Swift.abs(term)
                    }
                    let index = (c * tasks + t) * tasks + s, error = Self.units(got[index], sum, scale: abs)
                    #expect(error <= Self.bound,
                            "\(way.testDescription), \(seed): dalpha[\(c), \(t), \(s)] \(got[index]) vs \(sum), error \(error)·2^-24·Σ|terms|")
                }
            }
        }
    }

    /// A running float32 sum in channel order is off by 35 and 131 (varied data) and 5,597 and
    /// 5,053 (two-valued data) times 2^-24·Σ|terms| at this seed, where the devices' sums above stay
    /// under 3; recursive summation's worst case over 2^18 terms is (2^18 − 1)·2^-24·Σ|terms|.
    @Test("float32 recursive summation of the same terms misses the bound (fixed seed)")
    func recursiveSummationFails() {
        let g = Self.geometry
        for data in Data.allCases {
            let input = Self.inputs(data, seed: 17)
            for c in 0..<g.channels {
                var running: Float = 0, sum = 0.0, abs = 0.0
                for i in Self.indices(c, g) {
                    running += input.dy[i] * (input.x[i] - input.mean[c])
                    let t = Double(input.dy[i]) * (Double(input.x[i]) - Double(input.mean[c]))
                    sum += t; abs += Swift.abs(t)
                }
                let error = Self.units(running, sum, scale: abs)
                #expect(error > 2 * Self.bound, "\(data.rawValue) data, channel \(c): a running float32 sum is off by only \(error)·2^-24·Σ|terms|")
            }
        }
    }
}
