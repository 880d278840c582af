@_exported import TandemCore
@_exported import TandemCPU
@_exported import TandemSupport
@_exported import TandemNN
@_exported import TandemData
@_exported import TandemMTL
@_exported import TandemOpenCL
@_exported import TandemDistributed

/// The device registry: every device on the machine, and the one a selector string names.
///
/// Devices are made once per process and shared, so every caller that asks for `opencl:0` gets the
/// same context, queue, buffer pool and program cache.
public enum Devices {
    private static let opened = Locked<[String: any Device]>([:])

    /// Every device: the CPU first, then each OpenCL device in selector order.
    public static var all: [DeviceInfo] {
        [CPUDevice.shared.info] + OpenCLDiscovery.current.devices.map(\.info)
    }

    /// Why no OpenCL device is listed, when none is.
    public static var openCLUnavailableReason: String? { OpenCLDiscovery.current.unavailableReason }

    /// `$TANDEM_DEVICE`, or `auto` when it is unset.
    public static var defaultSelector: String {
        System.environment(DeviceSelector.environmentVariable) ?? "auto"
    }

    /// The device that `selector` names (the default selector when nil); an unknown or out-of-range
    /// selector throws an error listing the devices that exist.
    public static func select(_ selector: String? = nil) throws -> any Device {
        let text = selector ?? defaultSelector
        let parsed: DeviceSelector
        do {
            parsed = try DeviceSelector(parsing: text)
        } catch {
            throw TandemError.deviceNotFound(selector: text, available: all.map(\.description))
        }
        // The CPU needs no OpenCL: not loading the driver keeps a CPU-only process ~60 MiB smaller.
        if parsed == .cpu { return try open(CPUDevice.shared.info) }
        return try open(try parsed.resolve(in: all))
    }

    /// `TANDEM_OPENCL_ROW_KERNELS=1` (or `0`): OpenCL devices opened here use the CPU-device row
    /// kernels (or the GPU element-wise ones) whatever their type; unset, each device's own kind.
    static var rowKernelsFromEnvironment: Bool? {
        switch System.environment("TANDEM_OPENCL_ROW_KERNELS") {
        case "1": true
        case "0": false
        default: nil
        }
    }

    /// The device described by `info`, opened on first use.
    public static func open(_ info: DeviceInfo) throws -> any Device {
        try opened.withLock { devices in
            if let device = devices[info.selector] { return device }
            let device: any Device
            switch info.kind {
            case .cpu:
                device = CPUDevice.shared
            case .opencl:
                guard let handle = OpenCLDiscovery.current.devices.first(where: { $0.info.selector == info.selector }) else {
                    throw TandemError.deviceNotFound(selector: info.selector, available: all.map(\.description))
                }
                let openCL = try OpenCLDevice(handle, options: OpenCLDevice.Options(rowKernels: rowKernelsFromEnvironment))
                // CLBlast's programs are built here, not inside the first step.
                if handle.info.type != .cpu { try openCL.warmUpGEMM() }
                device = openCL
            }
            devices[info.selector] = device
            return device
        }
    }
}
