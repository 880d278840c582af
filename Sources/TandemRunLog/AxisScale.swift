#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A linear axis of a chart: a data range widened to round tick values, mapped onto a pixel range.
struct AxisScale {
    /// The data value drawn at `start`.
    let lower: Double
    /// The data value drawn at `end`.
    let upper: Double
    /// Where to draw tick marks and labels, in data values, ascending.
    let ticks: [Double]
    /// Digits after the point that the tick labels need.
    let decimals: Int
    /// The pixel position of `lower` (for a vertical axis, the bottom: larger than `end`).
    let start: Double
    /// The pixel position of `upper`.
    let end: Double

    /// The pixel position of `value`.
    func position(_ value: Double) -> Double {
        start + (value - lower) / (upper - lower) * (end - start)
    }

    /// A tick label.
    func label(_ value: Double) -> String { SVG.fixed(value, decimals) }

    /// A scale for `values` (non-finite ones ignored) with about `tickCount` ticks at 1, 2 or 5 times
    /// a power of ten, a little wider than the values; an empty or constant set of values gets a
    /// range around it.
    static func nice(_ values: [Double], tickCount: Int = 5, start: Double, end: Double) -> AxisScale {
        let finite = values.filter(\.isFinite)
        var low = finite.min() ?? 0, high = finite.max() ?? 1
        if low == high {
            let pad = low == 0 ? 1 : Swift.abs(low) * 0.1
            low -= pad
            high += pad
        } else {
            // 4% room at both ends, so that extreme points do not sit on the frame (but a range of
            // values that are never negative, such as losses and accuracies, does not go below 0).
            let pad = (high - low) * 0.04
            low = low >= 0 ? Swift.max(0, low - pad) : low - pad
            high += pad
        }
        // Of the steps 1, 2 or 5 times a power of ten near the range's share per tick, the one giving
        // closest to `tickCount` ticks, and of those the one whose ticks fit the values tightest.
        let exponent = log10(niceStep((high - low) / Double(max(1, tickCount - 1)))).rounded()
        func cost(_ step: Double) -> (Int, Double) {
            let first = (low / step).rounded(.down), last = (high / step).rounded(.up)
            return (Swift.abs(Int((last - first).rounded()) + 1 - tickCount), (last - first) * step)
        }
        var step = Double.infinity
        for power in [exponent + 1, exponent, exponent - 1] {
            for mantissa in [5.0, 2, 1] {
                let candidate = mantissa * pow(10, power)
                if step.isInfinite || cost(candidate) < cost(step) { step = candidate }
            }
        }
        let lower = (low / step).rounded(.down) * step, upper = (high / step).rounded(.up) * step
        let count = Int(((upper - lower) / step).rounded())
        let ticks = (0...count).map { lower + Double($0) * step }
        return AxisScale(lower: lower, upper: upper, ticks: ticks, decimals: max(0, -Int(log10(step).rounded(.down))),
                         start: start, end: end)
    }

    /// An axis of whole epochs `first...last` (with a little room at both ends), with integer ticks; a
    /// single epoch sits in the middle.
    static func epochs(_ first: Int, _ last: Int, start: Double, end: Double) -> AxisScale {
        guard last > first else {
            return AxisScale(lower: Double(first) - 1, upper: Double(first) + 1, ticks: [Double(first)], decimals: 0,
                             start: start, end: end)
        }
        let step = max(1, Int(niceStep(Double(last - first) / 6).rounded(.up)))
        var ticks = stride(from: (first + step - 1) / step * step, through: last, by: step).map(Double.init)
        if ticks.first.map({ $0 - Double(first) > Double(step) / 2 }) ?? true { ticks.insert(Double(first), at: 0) }
        // A little room at both ends, so the first and last points do not sit on the frame.
        let pad = Double(last - first) * 0.025
        return AxisScale(lower: Double(first) - pad, upper: Double(last) + pad, ticks: ticks, decimals: 0, start: start, end: end)
    }

    /// The smallest of 1, 2, 5 or 10 times a power of ten that is at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, log10(raw).rounded(.down))
        let fraction = raw / magnitude
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * magnitude
    }
}
