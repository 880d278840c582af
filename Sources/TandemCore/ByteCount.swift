/// Memory sizes for people, in binary units (`8.0 GiB`, `48.0 KiB`, `512 B`): what error messages
/// and `tandem devices` print, so a size reads the same everywhere.
public enum ByteCount {
    /// `bytes` in the largest binary unit that keeps the number at least 1, with one decimal.
    public static func describe(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = 0
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : "\((value * 10).rounded() / 10) \(units[unit])"
    }
}
