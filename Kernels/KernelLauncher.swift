import TandemCore

// This folder is the TandemKernels target: the OpenCL C kernels (`*.cl`, one file per op family)
// and what the EmbedKernels build plugin generates from them (Sources/KernelGenerator):
// `EmbeddedKernels` (the sources with the ABI header) and, for every `__kernel` prototype, one
// typed method on `KernelLauncher` with the kernel's own parameter names and types:
//
//     __kernel void im2col_f32(__global const float* x, __global float* col, const int items,
//                              const int per, const ConvolutionParameters p)
//     →  func im2col_f32(global: [Int], local: [Int]? = nil, x: Buffer, col: Buffer, items: Int,
//                        per: Int, p: ConvolutionParameters) throws
//
// so a launch whose arguments do not match the kernel fails to compile, and no list of positional
// arguments is kept by hand. C types map as: `__global float*` → Buffer, `__local float*` →
// LocalMemory, `int` → Int (checked to fit 32 bits at launch), `float` → Float, `ulong` → UInt64,
// `int8` → SIMD8<Int32>, an op-code type of TandemABI (`UnaryOp`) → that Swift enum, a flags type
// (`BatchNormFlags`) → KernelFlags of its flag enum, a parameter block → its Swift struct.

/// One kernel of `Kernels/*.cl`; the generated `KernelID.<kernel name>` constants list them all.
package struct KernelID: Sendable, Hashable, CustomStringConvertible {
    /// Position in `KernelID.all`, for per-device tables of compiled kernels.
    package let index: Int
    /// The kernel function's name.
    package let name: String
    /// The file (program) it lives in, without `.cl`.
    package let program: String
    /// Its parameter names, in order (for errors that name an argument).
    package let parameters: [String]

    package init(index: Int, name: String, program: String, parameters: [String]) {
        self.index = index
        self.name = name
        self.program = program
        self.parameters = parameters
    }

    package var description: String { "\(program).cl/\(name)" }

    /// The name of parameter `index`, for errors.
    package func parameterName(_ index: Int) -> String {
        index < parameters.count ? parameters[index] : "\(index)"
    }
}

/// An argument of a kernel launch, as the generated methods build them.
package enum KernelArgument {
    case buffer(any DeviceBuffer)
    /// A 32-bit `int`; a value that does not fit is an error at launch.
    case int(Int)
    case float(Float)
    case ulong(UInt64)
    case int8(SIMD8<Int32>)
    /// Work-group local memory of this many bytes.
    case local(bytes: Int)
    /// A parameter block passed by value.
    case parameters(any KernelParameters)
}

/// Work-group local memory for a `__local float*` parameter.
package struct LocalMemory: Sendable {
    package var bytes: Int
    package static func floats(_ count: Int) -> LocalMemory { LocalMemory(bytes: 4 * count) }
}

/// What can queue a kernel: the OpenCL device. The generated typed methods call this.
package protocol KernelLauncher {
    /// Queues `kernel` over `global` work-items, in work-groups of `local` when given (the global
    /// size is then rounded up to whole groups; kernels bounds-check their index).
    func launch(_ kernel: KernelID, global: [Int], local: [Int]?, _ arguments: [KernelArgument]) throws
}
