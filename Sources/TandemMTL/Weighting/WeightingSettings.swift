import TandemCore
import TandemSupport

/// One setting of a weighting method, given as `--weighting-arg key=value` on the command line,
/// `weighting_args` in a recipe or in the C API's configuration. Its default is the method's paper's.
public struct WeightingSetting: Sendable {
    /// What values the setting takes.
    public enum Kind: Sendable {
        /// A number in the range.
        case number(ClosedRange<Double>)
        /// A whole number in the range.
        case integer(ClosedRange<Int>)
        /// One of the names.
        case choice([String])
    }

    /// The key (`temperature`, `c`).
    public let key: String
    /// The default, as it would be written on the command line.
    public let defaultValue: String
    /// The values it takes.
    public let kind: Kind
    /// One line for `tandem train --help` and error messages.
    public let help: String

    public init(_ key: String, default defaultValue: String, _ kind: Kind, help: String) {
        self.key = key
        self.defaultValue = defaultValue
        self.kind = kind
        self.help = help
    }

    /// The setting as `key=default (help; range)`.
    public var summary: String {
        switch kind {
        case let .number(range): return "\(key)=\(defaultValue) (\(help); \(range.lowerBound)…\(range.upperBound))"
        case let .integer(range): return "\(key)=\(defaultValue) (\(help); a whole number \(range.lowerBound)…\(range.upperBound))"
        case let .choice(names): return "\(key)=\(defaultValue) (\(help); \(names.joined(separator: ", ")))"
        }
    }
}

/// A weighting method's settings after checking: every given key is one the method has, every value
/// parses and lies in range; the others keep their defaults.
public struct WeightingSettings: Sendable {
    /// The method the settings belong to.
    public let method: String
    private let numbers: [String: Double]
    private let choices: [String: String]

    /// Checks `arguments` (key → value as written) against `method`'s settings. An unknown key, a
    /// value that is not a number (or not one of the names), or one out of range is an error naming
    /// the method, the key and what it takes.
    public init(method: String, arguments: [String: String]) throws {
        let settings = WeightingMethods.settings(of: method)
        func fail(_ message: String) -> TandemError { .invalidArgument(op: "weighting \(method)", message: message) }
        for key in arguments.keys.sorted() where !settings.contains(where: { $0.key == key }) {
            let known = settings.isEmpty ? "it takes no settings" : "it takes " + settings.map(\.summary).joined(separator: ", ")
            throw fail("unknown setting '\(key)'; \(known)")
        }
        var numbers: [String: Double] = [:]
        var choices: [String: String] = [:]
        for setting in settings {
            let text = arguments[setting.key] ?? setting.defaultValue
            switch setting.kind {
            case let .number(range):
                guard let value = Double(text), value.isFinite, range.contains(value) else {
                    throw fail("'\(setting.key)' must be a number in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
                }
                numbers[setting.key] = value
            case let .integer(range):
                guard let value = Int(text), range.contains(value) else {
                    throw fail("'\(setting.key)' must be a whole number in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
                }
                numbers[setting.key] = Double(value)
            case let .choice(names):
                guard names.contains(text) else {
                    throw fail("'\(setting.key)' must be one of \(names.joined(separator: ", ")), got '\(text)'")
                }
                choices[setting.key] = text
            }
        }
        self.method = method
        self.numbers = numbers
        self.choices = choices
    }

    /// The value of a number setting (its default when not given).
    public func number(_ key: String) -> Double {
        guard let value = numbers[key] else { fatalError("weighting \(method) has no number setting '\(key)'") }
        return value
    }

    /// The value of a whole-number setting (its default when not given).
    public func integer(_ key: String) -> Int { Int(number(key)) }

    /// The value of a choice setting (its default when not given).
    public func choice(_ key: String) -> String {
        guard let value = choices[key] else { fatalError("weighting \(method) has no choice setting '\(key)'") }
        return value
    }

    /// The settings of a JSON object (a recipe's or the C API's `weighting_args`): each value a
    /// string or a number; a key given twice is an error naming `source`.
    public static func arguments(_ items: [(String, JSON)], source: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in items {
            guard out[key] == nil else {
                throw TandemError.invalidArgument(op: "weighting", message: "\(source): the setting '\(key)' is given twice")
            }
            switch value {
            case let .string(text): out[key] = text
            case let .number(number): out[key] = number == number.rounded() && Swift.abs(number) < 1e15 ? "\(Int(number))" : "\(number)"
            default:
                throw TandemError.invalidArgument(op: "weighting", message: "\(source): '\(key)' must be a number or a string, got \(value.typeName)")
            }
        }
        return out
    }

    /// Parses `key=value` items (the command line's repeated `--weighting-arg`); a repeated key or
    /// an item without `=` is an error.
    public static func parse(_ items: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in items {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw TandemError.invalidArgument(op: "weighting", message: "a weighting setting is key=value, got '\(item)'")
            }
            let key = String(item[..<equals]), value = String(item[item.index(after: equals)...])
            guard out[key] == nil else {
                throw TandemError.invalidArgument(op: "weighting", message: "the setting '\(key)' is given twice")
            }
            out[key] = value
        }
        return out
    }
}
