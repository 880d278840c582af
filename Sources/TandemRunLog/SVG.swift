/// Text helpers for writing SVG by hand: escaping and fixed-point numbers, without Foundation.
enum SVG {
    /// `text` with the five XML special characters replaced by entities, safe inside element text
    /// and inside double- or single-quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 allows no control characters other than tab and line breaks.
                if let scalar = character.unicodeScalars.first, character.unicodeScalars.count == 1,
                   scalar.value < 0x20, scalar != "\t", scalar != "\n", scalar != "\r" {
                    out += " "
                } else {
                    out.append(character)
                }
            }
        }
        return out
    }

    /// `value` with exactly `decimals` digits after the point (none when 0), rounded half away from
    /// zero: `fixed(2.0, 1)` is "2.0", `fixed(-0.004, 2)` is "0.00". Non-finite values are "NaN",
    /// "inf" or "-inf"; magnitudes too large for 64-bit fixed point use Swift's own form.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value < 0 ? "-inf" : "inf") }
        let digits = max(0, min(decimals, 15))
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (Swift.abs(value) * scale).rounded()
        guard scaled < 9e15 else { return "\(value)" }
        let whole = Int64(scaled)
        let divisor = Int64(scale)
        var text = String(whole / divisor)
        if digits > 0 {
            let fraction = String(whole % divisor)
            text += "." + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        return whole != 0 && value < 0 ? "-" + text : text
    }

    /// A coordinate: one decimal is finer than any screen needs.
    static func coordinate(_ value: Double) -> String { fixed(value, 1) }

    /// `text` cut to `limit` characters, ending with an ellipsis when cut.
    static func truncated(_ text: String, to limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(max(1, limit - 1))) + "…"
    }
}
