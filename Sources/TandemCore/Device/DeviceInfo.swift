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
    /// The largest single buffer the device allows (OpenCL's CL_DEVICE_MAX_MEM_ALLOC_SIZE, a quarter
    /// of the memory on NVIDIA); 0 when there is no limit below the memory itself.
    public var maxAllocationBytes: Int
    /// Whether the device shares the host's memory: an integrated GPU (or a CPU device).
    public var hostUnifiedMemory: Bool

    public init(selector: String, kind: DeviceKind, type: DeviceType, name: String, platform: String,
                driver: String, computeUnits: Int, globalMemoryBytes: Int, maxWorkGroupSize: Int,
                localMemoryBytes: Int, maxAllocationBytes: Int = 0, hostUnifiedMemory: Bool = false) {
        self.maxAllocationBytes = maxAllocationBytes
        self.hostUnifiedMemory = hostUnifiedMemory
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

extension DeviceInfo {
    /// A GPU with memory of its own (not sharing the host's).
    public var isDiscreteGPU: Bool { type == .gpu && !hostUnifiedMemory }
}

extension DeviceInfo: CustomStringConvertible {
    /// `opencl:0 (pthread-skylake, Portable Computing Language)`: short enough for error messages.
    public var description: String { "\(selector) (\(name), \(platform))" }
}
