/// Which backend implements a device.
public enum DeviceKind: String, Sendable, Equatable {
    case cpu
    case opencl
}

/// What kind of hardware a device is, as OpenCL classifies it.
public enum DeviceType: String, Sendable, Equatable {
    case cpu
    case gpu
    case accelerator
}

/// A description of one device: what `tandem devices` prints.
public struct DeviceInfo: Sendable, Equatable {
    /// The string that selects this device (`cpu`, `opencl:0`, ...).
    public var selector: String
    public var kind: DeviceKind
    public var type: DeviceType
    public var name: String
    /// The OpenCL platform name, or the BLAS library for the CPU device.
    public var platform: String
    /// Driver (or library) version string.
    public var driver: String
    public var computeUnits: Int
    public var globalMemoryBytes: Int
    public var maxWorkGroupSize: Int
    public var localMemoryBytes: Int

    public init(selector: String, kind: DeviceKind, type: DeviceType, name: String, platform: String,
                driver: String, computeUnits: Int, globalMemoryBytes: Int, maxWorkGroupSize: Int,
                localMemoryBytes: Int) {
        self.selector = selector
        self.kind = kind
        self.type = type
        self.name = name
        self.platform = platform
        self.driver = driver
        self.computeUnits = computeUnits
        self.globalMemoryBytes = globalMemoryBytes
        self.maxWorkGroupSize = maxWorkGroupSize
        self.localMemoryBytes = localMemoryBytes
    }
}

extension DeviceInfo: CustomStringConvertible {
    /// `opencl:0 (pthread-skylake, Portable Computing Language)`: short enough for error messages.
    public var description: String { "\(selector) (\(name), \(platform))" }
}
