/// A parsed device choice: `cpu`, `opencl`, `opencl:N`, `gpu` or `auto`.
public enum DeviceSelector: Sendable, Equatable, CustomStringConvertible {
    /// The CPU device (OpenBLAS and Swift loops).
    case cpu
    /// An OpenCL device: the first one, or the N-th over all platforms.
    case opencl(index: Int?)
    /// The first OpenCL device whose type is GPU.
    case gpu
    /// The first GPU, else the first OpenCL device, else the CPU.
    case auto

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
            } else {
                throw TandemError.invalidArgument(
                    op: "device selection",
                    message: "'\(text)' is not a device selector; use cpu, opencl, opencl:N, gpu or auto")
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
        }
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
        case .gpu: found = openCL.first { $0.type == .gpu }
        case .auto: found = openCL.first { $0.type == .gpu } ?? openCL.first ?? devices.first { $0.kind == .cpu }
        }
        guard let found else {
            throw TandemError.deviceNotFound(selector: description, available: devices.map(\.description))
        }
        return found
    }
}
