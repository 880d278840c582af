/// A JSON value with ordered object keys: what Tandem reads (the C API's configuration, safetensors
/// headers) and writes (CLI reports, the C API's JSON outputs, safetensors headers).
///
/// Two renderings are offered and each is kept byte-for-byte stable because files and tests depend
/// on them: `rendered(indent:)` (pretty, two-space indentation, as the CLI writes) and `compact()`
/// (no whitespace at all, as the C API writes). `parse(_:integersOnly:)` is a strict RFC 8259 parser.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    /// Members in their order; `parse` rejects duplicate keys, but values built in code are not checked.
    case object([(String, JSON)])

    /// Values are equal when they have the same case and contents; object members compare in order,
    /// and numbers compare as `Double` (so NaN equals nothing).
    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    // MARK: Building

    /// An integer as a number.
    public static func int(_ value: Int) -> JSON { .number(Double(value)) }

    /// A float32 value written with its shortest decimal form (0.001, not 0.0010000000474974513);
    /// null when it is not finite.
    public static func float(_ value: Float) -> JSON { value.isFinite ? .number(Double("\(value)") ?? Double(value)) : .null }

    // MARK: Reading

    /// The value of `key` in an object; nil when absent or when this is not an object.
    public subscript(key: String) -> JSON? {
        guard case let .object(fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }

    /// A short name of the value's kind for error messages: "null", "a boolean", "a number",
    /// "a string", "an array" or "an object".
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Magnitudes below this are integers a `Double` holds exactly, and every integer literal of such a
    /// magnitude parses to exactly its value (2^53).
    public static let exactIntegerLimit = 9_007_199_254_740_992.0

    /// The number as an `Int` when it is an integer of magnitude below 2^53 (so nothing was rounded
    /// on the way in); nil for other numbers and other kinds of value.
    ///
    /// The check is on the value: `4.0` parsed by a plain `parse` gives 4. Parse with
    /// `integersOnly: true` where such literals must be refused.
    public var exactInteger: Int? {
        guard case let .number(value) = self, value.isFinite, value == value.rounded(.towardZero),
              Swift.abs(value) < Self.exactIntegerLimit else { return nil }
        return Int(value)
    }

    /// An array whose every element has an `exactInteger`, as those integers; nil for anything else.
    public var exactIntegers: [Int]? {
        guard case let .array(items) = self else { return nil }
        var result: [Int] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard let value = item.exactInteger else { return nil }
            result.append(value)
        }
        return result
    }

    // MARK: Writing

    /// Pretty-printed text with two-space indentation (`indent` is the current line's), as the CLI's
    /// reports use. Integers below 1e15 in magnitude are written without a fraction, other finite
    /// numbers in Swift's shortest form, non-finite numbers as null; empty arrays and objects as
    /// `[]` and `{}`.
    public func rendered(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .null: return "null"
        case let .bool(value): return value ? "true" : "false"
        case let .number(value):
            if !value.isFinite { return "null" }
            if value == value.rounded(), Swift.abs(value) < 1e15 { return String(Int64(value)) }
            return "\(value)"
        case let .string(value): return JSON.quote(value)
        case let .array(items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + $0.rendered(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case let .object(fields):
            if fields.isEmpty { return "{}" }
            return "{\n" + fields.map { inner + JSON.quote($0.0) + ": " + $0.1.rendered(indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        }
    }

    /// Compact text without any whitespace, as the C API's JSON outputs use. Integers below 9e15 in
    /// magnitude are written without a fraction, other finite numbers in Swift's shortest form,
    /// non-finite numbers as null (JSON has no NaN).
    public func compact() -> String {
        var out = ""
        writeCompact(to: &out)
        return out
    }

    private func writeCompact(to out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(value): out += value ? "true" : "false"
        case let .number(value):
            if !value.isFinite {
                out += "null"
            } else if value == value.rounded(), Swift.abs(value) < 9.0e15 {
                out += String(Int64(value))
            } else {
                out += "\(value)"
            }
        case let .string(text): out += JSON.quote(text)
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.writeCompact(to: &out)
            }
            out += "]"
        case let .object(fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                out += JSON.quote(key)
                out += ":"
                value.writeCompact(to: &out)
            }
            out += "}"
        }
    }

    /// `text` as a JSON string literal: `"` and `\` escaped, newline, carriage return and tab as
    /// `\n`, `\r`, `\t`, other control characters as `\u00XX`; everything else (non-ASCII included)
    /// as it is.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    // MARK: Parsing

    /// Why a JSON text could not be parsed: what was wrong and the byte offset (from the start of the
    /// text given to `parse`) where it was found.
    public struct ParseError: Error, CustomStringConvertible {
        /// What was wrong, for example `duplicate key 'w'`.
        public var message: String
        /// Byte offset into the parsed text.
        public var position: Int

        /// An error saying `message` at byte `position`.
        public init(message: String, position: Int) {
            self.message = message
            self.position = position
        }

        /// `invalid JSON at byte <position>: <message>`.
        public var description: String { "invalid JSON at byte \(position): \(message)" }
    }

    /// Deepest nesting `parse` accepts (arrays and objects inside one another), so that hostile
    /// input cannot exhaust the stack.
    public static let maximumDepth = 64

    /// The single value `text` holds (surrounding whitespace allowed). See `parse(_:integersOnly:)`
    /// for the rules.
    public static func parse(_ text: String, integersOnly: Bool = false) throws(ParseError) -> JSON {
        try parse(text.utf8, integersOnly: integersOnly)
    }

    /// The single value the UTF-8 `bytes` hold (surrounded only by JSON whitespace), parsed strictly
    /// (RFC 8259): no trailing commas, comments, single quotes, leading zeros, `+` signs, bare `.5`
    /// or `5.`, NaN or infinities; numbers must be finite as `Double`; strings must be valid UTF-8
    /// without raw control characters, with only the standard escapes and paired surrogates;
    /// object keys must be unique; nesting is limited to `maximumDepth`.
    ///
    /// With `integersOnly`, a number literal with a fraction or an exponent is an error too (for
    /// formats whose numbers are all integers, where `4.0` must not pass for 4).
    public static func parse(_ bytes: some Collection<UInt8>, integersOnly: Bool = false) throws(ParseError) -> JSON {
        var parser = Parser(Array(bytes), integersOnly: integersOnly)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.failure("unexpected text after the value") }
        return value
    }

    /// Recursive descent over UTF-8 bytes.
    private struct Parser {
        let bytes: [UInt8]
        let integersOnly: Bool
        var position = 0

        init(_ bytes: [UInt8], integersOnly: Bool) {
            self.bytes = bytes
            self.integersOnly = integersOnly
        }

        func failure(_ message: String) -> ParseError { ParseError(message: message, position: position) }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
        }

        mutating func expect(_ literal: String) throws(ParseError) {
            for byte in literal.utf8 {
                guard current == byte else { throw failure("expected '\(literal)'") }
                position += 1
            }
        }

        mutating func parseValue(depth: Int) throws(ParseError) -> JSON {
            guard depth < JSON.maximumDepth else { throw failure("nested deeper than \(JSON.maximumDepth) levels") }
            guard let byte = current else { throw failure("unexpected end of input") }
            switch byte {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw failure("unexpected character '\(Character(Unicode.Scalar(byte)))'")
            }
        }

        mutating func parseObject(depth: Int) throws(ParseError) -> JSON {
            position += 1
            var fields: [(String, JSON)] = []
            var keys = Set<String>()
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                position += 1
                return .object(fields)
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw failure("expected a key string") }
                let keyPosition = position
                let key = try parseString()
                guard keys.insert(key).inserted else {
                    throw ParseError(message: "duplicate key '\(key)'", position: keyPosition)
                }
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                fields.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                try expect("}")
                return .object(fields)
            }
        }

        mutating func parseArray(depth: Int) throws(ParseError) -> JSON {
            position += 1
            var items: [JSON] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                try expect("]")
                return .array(items)
            }
        }

        mutating func parseHex4() throws(ParseError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = current else { throw failure("unterminated \\u escape") }
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a")) + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A")) + 10
                default: throw failure("bad hex digit in \\u escape")
                }
                value = value * 16 + digit
                position += 1
            }
            return value
        }

        mutating func parseString() throws(ParseError) -> String {
            position += 1  // the opening quote
            var utf8: [UInt8] = []
            while true {
                guard let byte = current else { throw failure("unterminated string") }
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return try decodeUTF8(utf8)
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { throw failure("unterminated escape") }
                    position += 1
                    switch escaped {
                    case UInt8(ascii: "\""): utf8.append(0x22)
                    case UInt8(ascii: "\\"): utf8.append(0x5C)
                    case UInt8(ascii: "/"): utf8.append(0x2F)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try parseHex4()
                        if (0xD800..<0xDC00).contains(code) {
                            guard current == UInt8(ascii: "\\") else { throw failure("lone high surrogate") }
                            position += 1
                            guard current == UInt8(ascii: "u") else { throw failure("lone high surrogate") }
                            position += 1
                            let low = try parseHex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw failure("bad low surrogate") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(code) {
                            throw failure("lone low surrogate")
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw failure("bad code point") }
                        utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default:
                        throw failure("unknown escape '\\\(Character(Unicode.Scalar(escaped)))'")
                    }
                default:
                    guard byte >= 0x20 else { throw failure("control character in string") }
                    utf8.append(byte)
                }
            }
        }

        /// The string that `utf8` spells; an error (at the closing quote) when it is not valid UTF-8.
        func decodeUTF8(_ utf8: [UInt8]) throws(ParseError) -> String {
            if utf8.allSatisfy({ $0 < 0x80 }) { return String(decoding: utf8, as: UTF8.self) }
            var iterator = utf8.makeIterator()
            var decoder = UTF8()
            var text = String.UnicodeScalarView()
            while true {
                switch decoder.decode(&iterator) {
                case let .scalarValue(scalar): text.append(scalar)
                case .emptyInput: return String(text)
                case .error: throw ParseError(message: "string is not valid UTF-8", position: position - 1)
                }
            }
        }

        mutating func parseNumber() throws(ParseError) -> Double {
            let start = position
            func digits(_ parser: inout Parser) -> Int {
                var count = 0
                while let byte = parser.current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    parser.position += 1
                    count += 1
                }
                return count
            }
            if current == UInt8(ascii: "-") { position += 1 }
            if current == UInt8(ascii: "0") {
                position += 1
            } else if digits(&self) == 0 {
                throw failure("expected digits")
            }
            var integral = true
            if current == UInt8(ascii: ".") {
                integral = false
                position += 1
                guard digits(&self) > 0 else { throw failure("expected digits after '.'") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                integral = false
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard digits(&self) > 0 else { throw failure("expected exponent digits") }
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard !integersOnly || integral else {
                throw ParseError(message: "number '\(text)' is not an integer", position: start)
            }
            guard let value = Double(text), value.isFinite else {
                throw ParseError(message: "number '\(text)' out of range", position: start)
            }
            return value
        }
    }
}
