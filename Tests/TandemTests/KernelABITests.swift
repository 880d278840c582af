import Testing
@testable import Tandem
import TandemABI
import TandemKernels

#if canImport(Glibc)
import Glibc
#endif

/// The Swift ↔ OpenCL C contract: the header is generated from the Swift declarations, and the
/// build fails when a kernel file does not fit it.
@Suite("Kernel ABI")
struct KernelABITests {
    /// A value of `T` whose k-th four-byte word holds the bit pattern k + 1.
    static func numbered<T: KernelParameters>(_ type: T.Type) -> T {
        let words = (0..<(MemoryLayout<T>.size / 4)).map { Int32($0 + 1) }
        return words.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    static func bits(_ value: Any) -> Int32? {
        switch value {
        case let v as Int32: return v
        case let v as Float: return Int32(bitPattern: v.bitPattern)
        default: return nil
        }
    }

    @Test("each parameter block's k-th field sits at byte 4k, as in the generated C struct")
    func parameterLayout() {
        func check<T: KernelParameters>(_ type: T.Type) {
            let fields = Mirror(reflecting: Self.numbered(type)).children.map { Self.bits($0.value) }
            #expect(fields.count * 4 == MemoryLayout<T>.size, "\(type)")
            #expect(fields == (0..<fields.count).map { Int32($0 + 1) }, "\(type): \(fields)")
        }
        for type in KernelABI.parameterBlocks { check(type) }
    }

    @Test("the header defines every op code and flag with the Swift value, and every parameter block")
    func headerMatchesSwift() {
        let header = EmbeddedKernels.abiHeader
        for op in UnaryOp.allCases { #expect(header.contains("#define UNARY_\("\(op)".upperSnakeCase) \(op.rawValue)\n")) }
        for op in BinaryOp.allCases { #expect(header.contains("#define BINARY_\("\(op)".upperSnakeCase) \(op.rawValue)\n")) }
        for op in ReduceOp.allCases { #expect(header.contains("#define REDUCE_\("\(op)".upperSnakeCase) \(op.rawValue)\n")) }
        for flag in BatchNormFlag.allCases { #expect(header.contains("#define BN_\("\(flag)".upperSnakeCase) \(flag.mask)\n")) }
        #expect(header.contains("#define UNARY_IS_NAN 19\n"))
        for type in KernelABI.parameterBlocks { #expect(header.contains("} \(type);\n")) }
        #expect(header.contains("    int dilationW;\n") && header.contains("    float beta;\n"))
    }

    @Test("the typed launches name every kernel once, with its program and parameters")
    func launchTable() {
        #expect(KernelID.all.enumerated().allSatisfy { $0.offset == $0.element.index })
        #expect(Set(KernelID.all.map(\.name)).count == KernelID.all.count)
        #expect(KernelID.im2col_f32.program == "convolution")
        #expect(KernelID.im2col_f32.parameters == ["x", "col", "items", "per", "p"])
        #expect(KernelID.uniform_f32.parameters == ["y", "n", "seed", "offset"])
    }

    // MARK: The generator refuses kernels that break the contract

    /// The repository root, from this file's path.
    static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/TandemTests/KernelABITests.swift
        return parts.joined(separator: "/")
    }()

    /// The generator built beside this test bundle.
    static var generator: String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        var directory = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        while !directory.isEmpty {
            directory = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
            let candidate = directory + "/KernelGenerator"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    static func files(in directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        return names
    }

    /// The first `clang` on the PATH.
    static var clang: String? {
        let path = System.environment("PATH") ?? "/usr/bin"
        return path.split(separator: ":").map { "\($0)/clang" }.first { access($0, X_OK) == 0 }
    }

    /// Runs the generator on the real kernel files plus `extra` (a file of its own), returning its
    /// exit status and what it printed.
    static func generate(extra: String?, clang: String = "-") throws -> (status: Int32, output: String) {
        let generator = try #require(Self.generator, "KernelGenerator not found beside the test bundle")
        let directory = temporaryDirectory("abi")
        var kernels = Self.files(in: root + "/Kernels").filter { $0.hasSuffix(".cl") }.sorted().map { root + "/Kernels/" + $0 }
        #expect(kernels.count > 10)
        if let extra {
            let path = directory + "/extra.cl"
            #expect(System.writeFileAtomically(path, Array(extra.utf8)))
            kernels.append(path)
        }
        let log = directory + "/log.txt"
        let command = ([generator, directory, clang] + kernels).map { "'\($0)'" }.joined(separator: " ") + " > '\(log)' 2>&1"
        let status = system(command)
        let output = System.readFile(log).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return (status, output)
    }

    @Test("the kernel files as they are pass, and write the header and both Swift files")
    func acceptsKernels() throws {
        let (status, output) = try Self.generate(extra: nil)
        #expect(status == 0, "\(output)")
    }

    @Test("an op code the ABI does not define fails the build, naming it")
    func unknownOpCode() throws {
        let (status, output) = try Self.generate(extra: """
            __kernel void softsign_f32(__global float* y, const int n) { if (n > 0) y[0] = UNARY_SOFTSIGN; }
            """)
        #expect(status != 0)
        #expect(output.contains("UNARY_SOFTSIGN"), "\(output)")
    }

    @Test("a hand-written copy of an ABI constant fails the build")
    func handCopiedDefine() throws {
        let (status, output) = try Self.generate(extra: "#define BN_RELU 32\n")
        #expect(status != 0)
        #expect(output.contains("BN_RELU"), "\(output)")
    }

    @Test("a kernel parameter no launch can pass fails the build, naming the kernel")
    func unsupportedParameter() throws {
        let (status, output) = try Self.generate(extra: "__kernel void half_f32(__global float* y, const short n) { y[0] = n; }\n")
        #expect(status != 0)
        #expect(output.contains("half_f32"), "\(output)")
    }

    @Test("a kernel that does not compile as strict OpenCL C 1.2 fails the build (the toolchain's clang)")
    func strictCompile() throws {
        // The Swift toolchain ships clang; the build plugin uses the same one.
        let found = try #require(Self.clang, "no clang on the PATH")
        // Reads a parameter-block field that does not exist.
        let (status, output) = try Self.generate(extra: """
            __kernel void wrong_field_f32(__global float* y, const ConvolutionParameters p) { y[0] = p.stride; }
            """, clang: found)
        #expect(status != 0)
        #expect(output.contains("stride"), "\(output)")
    }
}
