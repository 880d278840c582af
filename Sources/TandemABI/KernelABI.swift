/// The contract between Swift and the OpenCL C kernels, declared once, here, in Swift.
///
/// The EmbedKernels build plugin links this module into its generator and writes the C side from
/// these declarations: a header (`tandem_abi.h`, prepended to every `Kernels/*.cl` program) with a
/// `#define` per op code and flag and a `typedef struct` per parameter block. Nothing in it is
/// written by hand, so reordering a case or a field changes both sides at once. The other half of
/// the contract runs the other way: every `__kernel` prototype becomes one typed Swift method
/// (`Kernels/Kernels.swift` says how), so a launch with the wrong arguments does not compile.
///
/// The module has no dependencies: it is built for the build machine as part of the generator.
/// `KernelConstants` (plain numbers both sides use) is read by the generator through its fields.
public enum KernelABI {
    /// Op-code enumerations, in the order the header lists them.
    public static let enumerations: [any KernelEnumeration.Type] = [UnaryOp.self, BinaryOp.self, ReduceOp.self]
    /// Flag sets.
    public static let flagSets: [any KernelFlagSet.Type] = [BatchNormFlag.self]
    /// Parameter blocks passed by value to kernels.
    public static let parameterBlocks: [any KernelParameters.Type] = [
        ConvolutionParameters.self, PoolingParameters.self, ResizeParameters.self, GEMMParameters.self,
        SGDParameters.self, AdamParameters.self, ClassLossParameters.self,
    ]
}

/// An enumeration whose cases are op codes read by kernels: case `name` of a type with
/// `cPrefix` P becomes `#define P_NAME rawValue` (camelCase turned into upper snake case), and the
/// type itself a `typedef int` of its own name, so a kernel parameter can say which codes it takes.
public protocol KernelEnumeration: CaseIterable, RawRepresentable, Sendable where RawValue == Int32 {
    /// Prefix of the C names.
    static var cPrefix: String { get }
    /// Whether every case must be handled by some kernel: the generator fails the build when a
    /// case's C name appears in no kernel file.
    static var kernelsHandleEveryCase: Bool { get }
}

/// Bits of a flags word: case `name` becomes `#define P_NAME (1 << rawValue)`.
public protocol KernelFlagSet: CaseIterable, RawRepresentable, Sendable where RawValue == Int32 {
    static var cPrefix: String { get }
    /// The C type name of a word of these flags (a `typedef int`).
    static var cTypeName: String { get }
}

extension KernelFlagSet {
    /// The bit of this flag in a flags word.
    public var mask: Int32 { 1 << rawValue }
}

/// A flags word of one flag set, as a kernel parameter of the set's C type takes it.
public struct KernelFlags<Flag: KernelFlagSet>: Sendable, Equatable {
    public private(set) var word: Int32 = 0

    /// The word with each flag set where its condition holds.
    public init(_ flags: KeyValuePairs<Flag, Bool> = [:]) {
        for (flag, on) in flags where on { word |= flag.mask }
    }

    public func contains(_ flag: Flag) -> Bool { word & flag.mask != 0 }

    public mutating func insert(_ flag: Flag) { word |= flag.mask }
}

/// A block of parameters passed by value to a kernel, as a C struct of the same name. Only
/// `Int32` and `Float` fields, so Swift and C lay it out alike (four bytes each, in declaration
/// order, no padding); the generator checks that the size adds up and a test checks the offsets.
public protocol KernelParameters: Sendable {
    /// All fields zero: the generator reads the field names and types from this value.
    init()
}

extension KernelParameters {
    /// The value's bytes, as `clSetKernelArg` takes them.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: self, body)
    }

    /// Bytes of the C struct.
    public static var byteCount: Int { MemoryLayout<Self>.size }
}

extension String {
    /// `camelCase` as `CAMEL_CASE`: a word starts at each capital letter, except that "NaN" is one
    /// word (`isNaN` → `IS_NAN`).
    public var upperSnakeCase: String {
        var out = "", rest = Substring(self)
        while let character = rest.first {
            if rest.hasPrefix("NaN") {
                out += out.isEmpty ? "NAN" : "_NAN"
                rest = rest.dropFirst(3)
                continue
            }
            if character.isUppercase, !out.isEmpty { out += "_" }
            out += character.uppercased()
            rest = rest.dropFirst()
        }
        return out
    }
}
