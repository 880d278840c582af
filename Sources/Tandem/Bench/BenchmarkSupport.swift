/// What the kernel-lab programs under Benchmarks/ share: timing, their command-line options and
/// fixed-width table formatting. Timing is `Bench`'s own, so these programs and `tandem bench`
/// measure the same way.
public enum BenchmarkSupport {
    /// Monotonic seconds (`Bench.now()`).
    public static func now() -> Double { Bench.now() }

    /// The median of `values` (the mean of the two middle values when their count is even);
    /// `values` must not be empty.
    public static func median(_ values: [Double]) -> Double { Bench.median(values) }

    /// The word after `name` in `arguments` (`--repeats 20` gives "20"); nil when `name` is absent or last.
    public static func option(_ name: String, in arguments: [String] = CommandLine.arguments) -> String? {
        guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
        return arguments[i + 1]
    }

    /// Option `name` as an integer; `fallback` when it is absent or not an integer.
    public static func integerOption(_ name: String, default fallback: Int, in arguments: [String] = CommandLine.arguments) -> Int {
        option(name, in: arguments).flatMap { Int($0) } ?? fallback
    }

    /// Option `name` as a number; `fallback` when it is absent or not a number.
    public static func numberOption(_ name: String, default fallback: Double, in arguments: [String] = CommandLine.arguments) -> Double {
        option(name, in: arguments).flatMap { Double($0) } ?? fallback
    }

    /// The device selectors of a comma-separated `--devices` option, else every device's.
    public static func deviceSelectors(in arguments: [String] = CommandLine.arguments) -> [String] {
        option("--devices", in: arguments)?.split(separator: ",").map(String.init) ?? Devices.all.map(\.selector)
    }

    /// `text` padded with spaces on the right to `width` characters (unchanged when longer).
    public static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }

    /// `value` rounded to `digits` decimals (0 to 4) and written as Swift writes a Double ("12.5", "3.0").
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        let scale = Double([1, 10, 100, 1000, 10000][digits])
        return "\((value * scale).rounded() / scale)"
    }
}
