#if canImport(Glibc)
import Glibc
#endif
import Tandem

/// Left-aligned text columns for terminal tables.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
    }
    return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
        .joined(separator: "\n")
}

/// A relative error in scientific notation with two digits.
func formatError(_ value: Double?) -> String {
    guard let value else { return "-" }
    if value.isInfinite || value.isNaN { return "inf" }
    if value == 0 { return "0" }
    var exponent = 0, mantissa = value
    while mantissa < 1 { mantissa *= 10; exponent -= 1 }
    while mantissa >= 10 { mantissa /= 10; exponent += 1 }
    var rounded = (mantissa * 10).rounded() / 10
    if rounded >= 10 { rounded /= 10; exponent += 1 }
    return "\(rounded)e\(exponent)"
}

/// Writes a line to standard output at once (Swift's `print` buffers when output is a file or a
/// pipe, which would hide training progress from logs and `tee`).
func say(_ text: String = "") {
    guard speaksForJob else { return }
    let line = text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

/// Whether this process prints progress and results: always, except on ranks other than 0 of an
/// `mpirun` job (rank 0 speaks for the job; errors are printed by every rank).
let speaksForJob = (MPIEnvironment.launchedRank ?? 0) == 0
