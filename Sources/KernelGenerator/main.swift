#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TandemABI

// Usage: KernelGenerator OUTPUT_DIRECTORY CLANG KERNEL.cl...
//
// Run by the EmbedKernels build plugin. Writes into OUTPUT_DIRECTORY:
// - tandem_abi.h: the C side of `KernelABI` (op codes, flags, parameter structs), from the Swift
//   declarations linked into this tool;
// - EmbeddedKernels.swift: that header and every kernel file as string literals;
// - KernelLaunches.swift: one typed Swift method per `__kernel` prototype.
// It fails the build when a kernel file does not fit the contract: a parameter type it cannot
// pass, an op code or flag name that the ABI does not define, an op code no kernel handles, or
// (when CLANG is an executable, not "-") a kernel that does not compile as strict OpenCL C 1.2.

func fail(_ message: String) -> Never {
    let line = "error: KernelGenerator: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

func readFile(_ path: String) -> String {
    guard let file = fopen(path, "rb") else { fail("cannot open \(path)") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes through a temporary file and a rename, so a failed run leaves no half-written output.
func writeFile(_ path: String, _ text: String) {
    let temporary = path + ".tmp"
    guard let file = fopen(temporary, "wb") else { fail("cannot write \(temporary)") }
    let bytes = Array(text.utf8)
    guard fwrite(bytes, 1, bytes.count, file) == bytes.count else { fail("short write to \(temporary)") }
    fclose(file)
    guard rename(temporary, path) == 0 else { fail("cannot rename \(temporary) to \(path)") }
}

// MARK: The C header, from the Swift declarations

func header() -> String {
    var out = """
        // tandem_abi.h: generated from Sources/TandemABI by the EmbedKernels build plugin. Do not edit:
        // change the Swift declarations, and both sides follow.
        #ifndef TANDEM_ABI_H
        #define TANDEM_ABI_H

        """
    for type in KernelABI.enumerations {
        out += "\n// \(type) (Sources/TandemABI)\ntypedef int \(type);\n"
        for (name, value) in enumerationCases(type) { out += "#define \(name) \(value)\n" }
    }
    for type in KernelABI.flagSets {
        out += "\n// \(type) (Sources/TandemABI): bits of a flags word\ntypedef int \(type.cTypeName);\n"
        for (name, mask) in flagCases(type) { out += "#define \(name) \(mask)\n" }
    }
    out += "\n// KernelConstants (Sources/TandemABI)\n"
    for child in Mirror(reflecting: KernelConstants.kernels).children {
        guard let name = child.label else { fail("KernelConstants has an unnamed field") }
        switch child.value {
        case let value as Int32: out += "#define \(name.upperSnakeCase) \(value)\n"
        case let value as UInt64: out += "#define \(name.upperSnakeCase) \(value)UL\n"
        default: fail("KernelConstants.\(name) must be Int32 or UInt64")
        }
    }
    for type in KernelABI.parameterBlocks {
        out += "\n// \(type) (Sources/TandemABI)\ntypedef struct {\n"
        for field in fields(of: type) { out += "    \(field.cType) \(field.name);\n" }
        out += "} \(type);\n"
    }
    return out + "\n#endif\n"
}

func enumerationCases<T: KernelEnumeration>(_ type: T.Type) -> [(String, Int32)] {
    T.allCases.map { ("\(T.cPrefix)_\(String(describing: $0).upperSnakeCase)", $0.rawValue) }
}

func flagCases<T: KernelFlagSet>(_ type: T.Type) -> [(String, Int32)] {
    T.allCases.map { ("\(T.cPrefix)_\(String(describing: $0).upperSnakeCase)", $0.mask) }
}

/// The fields of a parameter block, read from its zero value; only 4-byte Int32 and Float fields.
func fields(of type: any KernelParameters.Type) -> [(name: String, cType: String)] {
    let fields = Mirror(reflecting: type.init()).children.map { child -> (String, String) in
        guard let name = child.label else { fail("\(type) has an unnamed field") }
        switch child.value {
        case is Int32: return (name, "int")
        case is Float: return (name, "float")
        default: fail("\(type).\(name) is \(Swift.type(of: child.value)); parameter blocks hold only Int32 and Float")
        }
    }
    guard type.byteCount == 4 * fields.count else {
        fail("\(type) is \(type.byteCount) bytes for \(fields.count) four-byte fields: its layout would not match C")
    }
    return fields
}

// MARK: Kernel prototypes

/// How one kernel parameter travels: its Swift type and the `KernelArgument` case that carries it.
struct Parameter {
    let name: String
    let swiftType: String
    let argument: String
}

struct Kernel {
    let name: String
    let program: String
    let parameters: [Parameter]
    let prototype: String
}

/// `snake_case` as `camelCase`.
func camelCase(_ name: String) -> String {
    let parts = name.split(separator: "_")
    guard let first = parts.first else { return name }
    return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
}

/// The text with comments blanked out (lengths kept, so offsets still point at the right line).
func strippingComments(_ text: String) -> [UInt8] {
    var bytes = Array(text.utf8)
    var i = 0
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "/"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "/") {
            while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { bytes[i] = 32; i += 1 }
        } else if bytes[i] == UInt8(ascii: "/"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "*") {
            while i < bytes.count, !(bytes[i] == UInt8(ascii: "*") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "/")) {
                if bytes[i] != UInt8(ascii: "\n") { bytes[i] = 32 }
                i += 1
            }
            if i + 1 < bytes.count { bytes[i] = 32; bytes[i + 1] = 32; i += 2 }
        } else {
            i += 1
        }
    }
    return bytes
}

func lineNumber(_ bytes: [UInt8], _ offset: Int) -> Int {
    bytes[..<offset].reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
}

func parameter(_ text: String, kernel: String, at place: String) -> Parameter {
    let tokens = text.replacingStars().split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
    guard let name = tokens.last, tokens.count >= 2 else { fail("\(place): cannot read parameter '\(text)' of \(kernel)") }
    let qualifiers = Set(tokens.dropLast())
    let label = camelCase(name)
    if qualifiers.contains("*") {
        if qualifiers.contains("__global") || qualifiers.contains("global") {
            guard qualifiers.contains("float") else { fail("\(place): \(kernel)'s buffer '\(name)' must be float") }
            return Parameter(name: label, swiftType: "Buffer", argument: ".buffer(\(label))")
        }
        if qualifiers.contains("__local") || qualifiers.contains("local") {
            return Parameter(name: label, swiftType: "LocalMemory", argument: ".local(bytes: \(label).bytes)")
        }
        fail("\(place): \(kernel)'s pointer '\(name)' must be __global or __local")
    }
    let type = tokens.dropLast().filter { $0 != "const" }
    guard type.count == 1 else { fail("\(place): cannot read the type of \(kernel)'s parameter '\(text)'") }
    switch type[0] {
    case "int": return Parameter(name: label, swiftType: "Int", argument: ".int(\(label))")
    case "float": return Parameter(name: label, swiftType: "Float", argument: ".float(\(label))")
    case "ulong": return Parameter(name: label, swiftType: "UInt64", argument: ".ulong(\(label))")
    case "int8": return Parameter(name: label, swiftType: "SIMD8<Int32>", argument: ".int8(\(label))")
    case let t where KernelABI.enumerations.contains(where: { "\($0)" == t }):
        return Parameter(name: label, swiftType: t, argument: ".int(Int(\(label).rawValue))")
    case let t where KernelABI.flagSets.contains(where: { $0.cTypeName == t }):
        let flag = KernelABI.flagSets.first { $0.cTypeName == t }!
        return Parameter(name: label, swiftType: "KernelFlags<\(flag)>", argument: ".int(Int(\(label).word))")
    case let t where KernelABI.parameterBlocks.contains(where: { "\($0)" == t }):
        return Parameter(name: label, swiftType: t, argument: ".parameters(\(label))")
    default:
        fail("\(place): \(kernel)'s parameter '\(text)' has a type no launch can pass (int, float, ulong, int8, float buffers, "
             + "__local float*, or a type of Sources/TandemABI)")
    }
}

extension String {
    /// Stars as tokens of their own: `float* x` and `float *x` read alike.
    func replacingStars() -> String {
        var out = ""
        for character in self { out += character == "*" ? " * " : String(character) }
        return out
    }
}

/// Every `__kernel void name(...)` of one file.
func kernels(in path: String, program: String, text: String) -> [Kernel] {
    let bytes = strippingComments(text)
    let marker = Array("__kernel".utf8)
    var found: [Kernel] = []
    var i = 0
    while i + marker.count <= bytes.count {
        guard Array(bytes[i..<(i + marker.count)]) == marker else { i += 1; continue }
        let start = i
        guard let open = bytes[start...].firstIndex(of: UInt8(ascii: "(")),
              let close = bytes[open...].firstIndex(of: UInt8(ascii: ")")) else {
            fail("\(path):\(lineNumber(bytes, start)): unterminated kernel prototype")
        }
        let head = String(decoding: bytes[(start + marker.count)..<open], as: UTF8.self)
            .split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        let place = "\(path):\(lineNumber(bytes, start))"
        guard head.count == 2, head[0] == "void" else { fail("\(place): expected '__kernel void name(' but found '\(head.joined(separator: " "))'") }
        let list = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        let parameters = list.split(separator: ",").map { parameter(String($0), kernel: head[1], at: place) }
        let prototype = String(decoding: bytes[start...close], as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" }).map { $0.trimmingSpaces() }.joined(separator: " ")
        found.append(Kernel(name: head[1], program: program, parameters: parameters, prototype: prototype))
        i = close
    }
    return found
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

// MARK: Checks of the kernel text against the ABI

/// Identifiers of the text (comments removed).
func identifiers(_ bytes: [UInt8]) -> Set<String> {
    var out = Set<String>(), current: [UInt8] = []
    func isWord(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 }
    for b in bytes + [32] {
        if isWord(b) { current.append(b); continue }
        if !current.isEmpty { out.insert(String(decoding: current, as: UTF8.self)); current = [] }
    }
    return out
}

func checkNames(_ files: [(path: String, bytes: [UInt8])]) {
    var defined = Set<String>(), prefixes = Set<String>(), mustAppear: [String] = []
    for type in KernelABI.enumerations {
        let names = enumerationCases(type).map(\.0)
        defined.formUnion(names)
        prefixes.insert(type.cPrefix + "_")
        if type.kernelsHandleEveryCase { mustAppear += names }
    }
    for type in KernelABI.flagSets {
        defined.formUnion(flagCases(type).map(\.0))
        prefixes.insert(type.cPrefix + "_")
    }
    var used = Set<String>()
    for file in files {
        let words = identifiers(file.bytes)
        used.formUnion(words)
        for word in words where prefixes.contains(where: { word.hasPrefix($0) }) && !defined.contains(word) {
            fail("\(file.path): '\(word)' is not defined by Sources/TandemABI (defined: \(defined.sorted().joined(separator: ", ")))")
        }
        let text = String(decoding: file.bytes, as: UTF8.self)
        for name in defined where text.contains("#define \(name)") {
            fail("\(file.path) defines \(name) by hand; it comes from Sources/TandemABI")
        }
    }
    for name in mustAppear where !used.contains(name) {
        fail("no kernel handles \(name): add it to the kernel that switches on its type")
    }
}

// MARK: Compiling every kernel file once at build time

func runClang(_ clang: String, headerPath: String, file: String) {
    let arguments = [clang, "-x", "cl", "-cl-std=CL1.2", "-Xclang", "-finclude-default-header", "-fsyntax-only",
                     "-Werror", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wdouble-promotion", "-Wfloat-conversion",
                     "-Wimplicit-fallthrough", "-include", headerPath, file]
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, clang, nil, nil, &argv, environ)
    guard spawned == 0 else { fail("cannot run \(clang) (error \(spawned))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { fail("waiting for \(clang) failed") }
    }
    guard status == 0 else {
        fail("\(file) does not compile as strict OpenCL C 1.2 with the generated ABI header (clang's messages above)")
    }
}

// MARK: Swift output

func rawLiteral(_ text: String) -> String {
    var hashes = "#"
    while text.contains("\"" + hashes) || text.contains(hashes + "\"") { hashes += "#" }
    return "\(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes)"
}

func embeddedKernels(header: String, sources: [(name: String, text: String)]) -> String {
    var out = """
        // Generated by the EmbedKernels plugin from Kernels/*.cl and Sources/TandemABI. Do not edit.

        public enum EmbeddedKernels {
            /// The C side of the kernel ABI (`tandem_abi.h`), generated from Sources/TandemABI.
            public static let abiHeader: String = \(rawLiteral(header))

            /// OpenCL C source of each kernel file as written, keyed by file name without `.cl`.
            public static let sources: [String: String] = [

        """
    for source in sources { out += "        \"\(source.name)\": \(rawLiteral(source.text)),\n" }
    out += """
            ]

            /// What a device compiles for program `name`: the ABI header, then the file (its line
            /// numbers kept for build logs); nil for an unknown name.
            public static func program(named name: String) -> String? {
                guard let source = sources[name] else { return nil }
                return abiHeader + "#line 1 \\"\\(name).cl\\"\\n" + source
            }
        }

        """
    return out
}

func launches(_ kernels: [Kernel]) -> String {
    var out = """
        // Generated by the EmbedKernels plugin from the `__kernel` prototypes of Kernels/*.cl. Do not edit.
        import TandemCore

        /// Every kernel of `Kernels/*.cl`: its program (file), name and parameter names.
        extension KernelID {

        """
    for (index, kernel) in kernels.enumerated() {
        let names = kernel.parameters.map { "\"\($0.name)\"" }.joined(separator: ", ")
        out += "    package static let \(kernel.name) = KernelID(index: \(index), name: \"\(kernel.name)\", program: \"\(kernel.program)\", parameters: [\(names)])\n"
    }
    out += "\n    /// All kernels, in index order.\n    package static let all: [KernelID] = [\(kernels.map { "." + $0.name }.joined(separator: ", "))]\n}\n\n"
    out += "/// One typed method per kernel: its parameters, in order, with the kernel's names.\nextension KernelLauncher {\n"
    for kernel in kernels {
        let parameters = kernel.parameters.map { "\($0.name): \($0.swiftType)" }.joined(separator: ", ")
        let arguments = kernel.parameters.map(\.argument).joined(separator: ", ")
        out += "    /// `Kernels/\(kernel.program).cl`: `\(kernel.prototype)`\n"
        out += "    package func \(kernel.name)(global: [Int], local: [Int]? = nil, \(parameters)) throws {\n"
        out += "        try launch(.\(kernel.name), global: global, local: local, [\(arguments)])\n    }\n\n"
    }
    return out + "}\n"
}

// MARK: Main

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: KernelGenerator OUTPUT_DIRECTORY CLANG|- KERNEL.cl...") }
let directory = arguments[1], clang = arguments[2]
let paths = Array(arguments.dropFirst(3))
let headerText = header()
let headerPath = directory + "/tandem_abi.h"
writeFile(headerPath, headerText)

var sources: [(name: String, text: String)] = []
var allKernels: [Kernel] = []
var stripped: [(path: String, bytes: [UInt8])] = []
for path in paths {
    let name = String(path.split(separator: "/").last!.dropLast(3))
    let text = readFile(path)
    sources.append((name, text))
    stripped.append((path, strippingComments(text)))
    allKernels += kernels(in: path, program: name, text: text)
}
var seen = Set<String>()
for kernel in allKernels where !seen.insert(kernel.name).inserted {
    fail("two kernels are named \(kernel.name)")
}
checkNames(stripped)
if clang != "-" {
    for path in paths { runClang(clang, headerPath: headerPath, file: path) }
}
writeFile(directory + "/EmbeddedKernels.swift", embeddedKernels(header: headerText, sources: sources))
writeFile(directory + "/KernelLaunches.swift", launches(allKernels))
