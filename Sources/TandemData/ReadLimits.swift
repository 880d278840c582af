import TandemCore

/// The bounds the file readers keep to (issue 17, "bounded resources"): how much memory the arrays
/// of one file may take, and how far compressed data may expand. Sizes a file claims are checked
/// against both before anything is allocated, and decompression is checked against them as it goes,
/// so a corrupt file or a zip bomb is a clear error instead of a process the kernel kills.
///
/// The defaults keep every honest file readable on the machine: half the physical memory for one
/// file's arrays (the rest is for training on them) and deflate's own expansion bound, which no valid
/// stream exceeds. `TANDEM_MAX_READ_BYTES` and `TANDEM_MAX_INFLATE_RATIO` change them
/// (`fromEnvironment()`); the readers also take a `ReadLimits` directly.
public struct ReadLimits: Sendable, Equatable {
    /// The most bytes the arrays decoded from one file may occupy: an `.npz` archive's members
    /// together (as Float, the form they are kept in), a `.npy` file's array, an IDX file's payload,
    /// a gzip stream's output.
    public var maximumBytes: Int
    /// The most bytes of output per byte of compressed input, checked against what a file claims
    /// before allocating and against the running output while inflating (a zip-bomb guard).
    public var maximumRatio: Int

    /// Limits of `maximumBytes` and `maximumRatio` (each at least 1).
    public init(maximumBytes: Int = ReadLimits.defaultMaximumBytes, maximumRatio: Int = ReadLimits.deflateRatio) {
        self.maximumBytes = max(1, maximumBytes)
        self.maximumRatio = max(1, maximumRatio)
    }

    /// Deflate expands at most about 1,032 to 1 (258-byte matches coded in 2 bits); rounded up, the
    /// default ratio limit, which refuses only what deflate cannot produce.
    public static let deflateRatio = 1_040

    /// The default ceiling: half the physical memory.
    public static var defaultMaximumBytes: Int { System.physicalMemoryBytes / 2 }

    /// The environment variable that sets `maximumBytes`: a byte count, optionally with a binary
    /// suffix (`500M`, `2G`).
    public static let bytesVariable = "TANDEM_MAX_READ_BYTES"
    /// The environment variable that sets `maximumRatio`: a whole number.
    public static let ratioVariable = "TANDEM_MAX_INFLATE_RATIO"

    /// The defaults, with `TANDEM_MAX_READ_BYTES` and `TANDEM_MAX_INFLATE_RATIO` applied when set.
    /// Throws naming the variable when a value is not a positive number, rather than reading with a
    /// limit the user did not ask for.
    public static func fromEnvironment() throws -> ReadLimits {
        var limits = ReadLimits()
        if let text = System.environment(bytesVariable) {
            guard let bytes = byteCount(text), bytes > 0 else {
                throw TandemError.invalidArgument(op: "read limits", message: "\(bytesVariable)='\(text)' is not a positive byte count (e.g. 2000000000, 500M or 2G)")
            }
            limits.maximumBytes = bytes
        }
        if let text = System.environment(ratioVariable) {
            guard let ratio = Int(text), ratio > 0 else {
                throw TandemError.invalidArgument(op: "read limits", message: "\(ratioVariable)='\(text)' is not a positive whole number (e.g. 100)")
            }
            limits.maximumRatio = ratio
        }
        return limits
    }

    /// `text` as a byte count: digits with an optional K, M, G or T (powers of 1024, an optional
    /// trailing B or iB); nil when it is not one or overflows.
    static func byteCount(_ text: String) -> Int? {
        var digits = Substring(text.uppercased())
        for unit in ["IB", "B"] where digits.hasSuffix(unit) && digits.count > unit.count {
            digits = digits.dropLast(unit.count)
            break
        }
        var scale = 1
        if let last = digits.last, let power = ["K": 10, "M": 20, "G": 30, "T": 40][String(last)] {
            scale = 1 << power
            digits = digits.dropLast()
        }
        guard let value = Int(digits) else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : bytes
    }

    /// Output bytes within the ratio limit for `compressed` input bytes, plus 64 KiB so that a
    /// header or a tiny member is never refused for its fixed overhead.
    func inflationAllowance(_ compressed: Int) -> Int {
        let (product, overflow) = compressed.multipliedReportingOverflow(by: maximumRatio)
        let (total, overflowAgain) = product.addingReportingOverflow(1 << 16)
        return overflow || overflowAgain ? Int.max : total
    }

    /// How the ceiling reads in an error, with how to change it.
    var bytesDescription: String {
        "the read limit of \(maximumBytes) bytes (set \(Self.bytesVariable) to change it; the default is half the physical memory)"
    }

    /// How the ratio limit reads in an error, with how to change it.
    var ratioDescription: String {
        "the ratio limit of \(maximumRatio):1 (\(Self.ratioVariable); deflate itself cannot exceed 1,032:1)"
    }
}
