import COpenCL
import TandemCore

/// One OpenCL device found on the machine, before a context is made for it.
public struct OpenCLDeviceHandle: @unchecked Sendable {
    public let info: DeviceInfo
    let platform: cl_platform_id
    let device: cl_device_id
}

/// What the OpenCL ICD loader reports: every device of every platform, or why there are none.
public struct OpenCLDiscovery: Sendable {
    /// Devices in selector order (`opencl:0`, `opencl:1`, ... across platforms).
    public let devices: [OpenCLDeviceHandle]
    /// Why OpenCL offers no device, when it offers none.
    public let unavailableReason: String?

    /// The devices present, enumerated once per process.
    public static let current = OpenCLDiscovery.scan()

    static func scan() -> OpenCLDiscovery {
        var platformCount: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &platformCount)
        if status == -1001 || platformCount == 0 {
            return OpenCLDiscovery(devices: [], unavailableReason:
                "no OpenCL platform is installed (no ICD file under /etc/OpenCL/vendors; install pocl-opencl-icd or a GPU driver's OpenCL package)")
        }
        guard status == CL_SUCCESS else {
            return OpenCLDiscovery(devices: [], unavailableReason: "clGetPlatformIDs failed: \(openCLStatusName(status))")
        }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        clGetPlatformIDs(platformCount, &platforms, nil)
        var found: [OpenCLDeviceHandle] = []
        var problems: [String] = []
        for case let platform? in platforms {
            let platformName = platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            var deviceCount: cl_uint = 0
            let listed = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount)
            guard listed == CL_SUCCESS, deviceCount > 0 else {
                problems.append("\(platformName): \(openCLStatusName(listed))")
                continue
            }
            var ids = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &ids, nil)
            for case let id? in ids {
                let typeBits: cl_device_type = deviceValue(id, cl_device_info(CL_DEVICE_TYPE), 0)
                let type: DeviceType = typeBits & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 ? .gpu
                    : typeBits & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 ? .accelerator : .cpu
                let info = DeviceInfo(
                    selector: "opencl:\(found.count)", kind: .opencl, type: type,
                    name: deviceString(id, cl_device_info(CL_DEVICE_NAME)), platform: platformName,
                    driver: deviceString(id, cl_device_info(CL_DRIVER_VERSION)),
                    computeUnits: Int(deviceValue(id, cl_device_info(CL_DEVICE_MAX_COMPUTE_UNITS), cl_uint(0))),
                    globalMemoryBytes: Int(deviceValue(id, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE), cl_ulong(0))),
                    maxWorkGroupSize: Int(deviceValue(id, cl_device_info(CL_DEVICE_MAX_WORK_GROUP_SIZE), Int(0))),
                    localMemoryBytes: Int(deviceValue(id, cl_device_info(CL_DEVICE_LOCAL_MEM_SIZE), cl_ulong(0))),
                    maxAllocationBytes: Int(deviceValue(id, cl_device_info(CL_DEVICE_MAX_MEM_ALLOC_SIZE), cl_ulong(0))),
                    hostUnifiedMemory: deviceValue(id, cl_device_info(CL_DEVICE_HOST_UNIFIED_MEMORY), cl_bool(0)) != 0)
                found.append(OpenCLDeviceHandle(info: info, platform: platform, device: id))
            }
        }
        let reason = found.isEmpty ? "OpenCL platforms offer no device (\(problems.joined(separator: "; ")))" : nil
        return OpenCLDiscovery(devices: found, unavailableReason: reason)
    }
}

func platformString(_ platform: cl_platform_id, _ param: cl_platform_info) -> String {
    var size = 0
    guard clGetPlatformInfo(platform, param, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
    var bytes = [CChar](repeating: 0, count: size)
    clGetPlatformInfo(platform, param, size, &bytes, nil)
    return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func deviceString(_ device: cl_device_id, _ param: cl_device_info) -> String {
    var size = 0
    guard clGetDeviceInfo(device, param, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
    var bytes = [CChar](repeating: 0, count: size)
    clGetDeviceInfo(device, param, size, &bytes, nil)
    return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func deviceValue<T>(_ device: cl_device_id, _ param: cl_device_info, _ fallback: T) -> T {
    var value = fallback
    let status = withUnsafeMutableBytes(of: &value) { clGetDeviceInfo(device, param, $0.count, $0.baseAddress, nil) }
    return status == CL_SUCCESS ? value : fallback
}
