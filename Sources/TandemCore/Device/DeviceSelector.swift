/// A parsed device choice: `cpu`, `opencl`, `opencl:N`, `gpu` or `auto`.
public enum DeviceSelector: Sendable, Equatable, CustomStringConvertible {
    /// The CPU device (OpenBLAS and Swift loops).
    case cpu
    /// An OpenCL device: the first one, or the N-th over all platforms.
    case opencl(index: Int?)
    /// The best GPU: discrete before integrated, then the most memory, then selector order.
    case gpu
    /// The best GPU, else the first OpenCL device, else the CPU.
    case auto
    /// The best-ranked device whose name or platform contains the text (any case): `name:H200`.
    case named(String)

    /// The environment variable that sets the default device.
    public static let environmentVariable = "TANDEM_DEVICE"

    /// Parses a selector string; an unknown form throws and lists the valid forms.
    public init(parsing text: String) throws {
        let lowered = text.lowercased()
        switch lowered {
        case "cpu": self = .cpu
        case "opencl": self = .opencl(index: nil)
        case "gpu": self = .gpu
        case "auto", "": self = .auto
        default:
            if lowered.hasPrefix("opencl:"), let n = Int(lowered.dropFirst("opencl:".count)), n >= 0 {
                self = .opencl(index: n)
            } else if lowered.hasPrefix("name:"), lowered.count > "name:".count {
                self = .named(String(text.dropFirst("name:".count)))
            } else {
                throw TandemError.invalidArgument(
                    op: "device selection",
                    message: "'\(text)' is not a device selector; use cpu, opencl, opencl:N, gpu, name:TEXT or auto")
            }
        }
    }

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .opencl(nil): return "opencl"
        case let .opencl(index?): return "opencl:\(index)"
        case .gpu: return "gpu"
        case .auto: return "auto"
        case let .named(text): return "name:\(text)"
        }
    }

    /// OpenCL devices best first: discrete GPUs, integrated GPUs, then the rest; within each, the
    /// most global memory first, then selector order. The loader's order says nothing about which
    /// GPU is the fast one (an integrated GPU is often listed first).
    public static func ranked(_ devices: [DeviceInfo]) -> [DeviceInfo] {
        func tier(_ d: DeviceInfo) -> Int { d.isDiscreteGPU ? 0 : d.type == .gpu ? 1 : 2 }
        return devices.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            if tier(x) != tier(y) { return tier(x) < tier(y) }
            if x.globalMemoryBytes != y.globalMemoryBytes { return x.globalMemoryBytes > y.globalMemoryBytes }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// Picks a device from `devices` (CPU first, then OpenCL devices in selector order), or throws
    /// an error that lists what exists.
    public func resolve(in devices: [DeviceInfo]) throws -> DeviceInfo {
        let openCL = devices.filter { $0.kind == .opencl }
        let found: DeviceInfo?
        switch self {
        case .cpu: found = devices.first { $0.kind == .cpu }
        case .opencl(nil): found = openCL.first
        case let .opencl(index?): found = openCL.first { $0.selector == "opencl:\(index)" }
        case .gpu: found = Self.ranked(openCL).first { $0.type == .gpu }
        // The best GPU, else the CPU device: an OpenCL device that is itself a CPU (PoCL) is several
        // times slower than the CPU device on the same cores, so `auto` never picks it.
        case .auto: found = Self.ranked(openCL).first { $0.type == .gpu } ?? devices.first { $0.kind == .cpu }
        case let .named(text):
            let wanted = text.lowercased()
            found = Self.ranked(devices).first { $0.name.lowercased().contains(wanted) || $0.platform.lowercased().contains(wanted) }
        }
        guard let found else {
            throw TandemError.deviceNotFound(selector: description, available: devices.map(\.description))
        }
        return found
    }
}
