import COpenCL
import Synchronization
import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// Counters of a device's program cache.
public struct ProgramCacheStatistics: Sendable, Equatable {
    /// Programs found already built in this process.
    public var memoryHits = 0
    /// Programs loaded from an on-disk binary instead of compiled.
    public var diskHits = 0
    /// Programs compiled from source.
    public var compiled = 0
    /// On-disk entries that were corrupt, truncated or refused by the driver (then rebuilt).
    public var rejectedDiskEntries = 0
}

/// A built OpenCL program, released when the last user lets go of it.
final class Program: @unchecked Sendable {
    let handle: cl_program
    let name: String
    init(handle: cl_program, name: String) {
        self.handle = handle
        self.name = name
    }
    deinit { clReleaseProgram(handle) }
}

/// Builds programs once per device and process, and keeps their binaries on disk keyed by device,
/// driver, source and options, so a second process skips the compiler.
///
/// A disk entry is `TNDMPRG1`, the payload length and an FNV-1a checksum, then the binary; an entry
/// that fails any check, or that the driver refuses, is ignored and rewritten.
final class ProgramCache: @unchecked Sendable {
    private let context: cl_context
    private let device: cl_device_id
    private let deviceIdentity: String
    private let deviceName: String
    /// Folder for binaries, or nil when disk caching is off.
    let directory: String?
    private let state = Locked<(programs: [String: Program], statistics: ProgramCacheStatistics)>(([:], ProgramCacheStatistics()))

    init(context: cl_context, device: cl_device_id, info: DeviceInfo, directory: String?) {
        self.context = context
        self.device = device
        self.deviceName = info.description
        self.deviceIdentity = [info.platform, info.name, info.driver,
                               deviceString(device, cl_device_info(CL_DEVICE_VERSION))].joined(separator: "\u{1}")
        self.directory = directory.map { $0 + "/programs" }
    }

    /// `$TANDEM_CACHE_DIR`, else `$XDG_CACHE_HOME/tandem`, else `~/.cache/tandem`.
    static var defaultDirectory: String? {
        if let dir = System.environment("TANDEM_CACHE_DIR") { return dir }
        if let dir = System.environment("XDG_CACHE_HOME") { return dir + "/tandem" }
        if let home = System.environment("HOME") { return home + "/.cache/tandem" }
        return nil
    }

    var statistics: ProgramCacheStatistics { state.withLock { $0.statistics } }

    /// The file that holds (or would hold) the binary of this source and options.
    func cachePath(source: String, options: String) -> String? {
        directory.map { "\($0)/\(Self.key(deviceIdentity, source, options)).bin" }
    }

    func program(name: String, source: String, options: String) throws -> Program {
        let memoryKey = options + "\u{0}" + source
        return try state.withLock { state in
            if let program = state.programs[memoryKey] {
                state.statistics.memoryHits += 1
                return program
            }
            let program: Program
            if let cached = loadFromDisk(name: name, source: source, options: options, statistics: &state.statistics) {
                program = cached
                state.statistics.diskHits += 1
            } else {
                program = try compile(name: name, source: source, options: options)
                state.statistics.compiled += 1
                saveToDisk(program, source: source, options: options)
            }
            state.programs[memoryKey] = program
            return program
        }
    }

    private func compile(name: String, source: String, options: String) throws -> Program {
        var status: cl_int = 0
        let handle: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            return clCreateProgramWithSource(context, 1, &pointer, nil, &status)
        }
        try check(status, "create program '\(name)'", device: deviceName)
        guard let handle else { throw TandemError.backend(op: "create program '\(name)'", device: deviceName, message: "no program") }
        let program = Program(handle: handle, name: name)
        var deviceID: cl_device_id? = device
        let built = clBuildProgram(handle, 1, &deviceID, options, nil, nil)
        if built != CL_SUCCESS {
            throw TandemError.buildFailed(program: name, device: deviceName,
                                          log: buildLog(handle).isEmpty ? openCLStatusName(built) : buildLog(handle))
        }
        return program
    }

    private func buildLog(_ program: cl_program) -> String {
        var size = 0
        clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size)
        guard size > 1 else { return "" }
        var bytes = [CChar](repeating: 0, count: size)
        clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil)
        return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Disk

    private static let magic = Array("TNDMPRG1".utf8)
    private static let headerSize = 8 + 8 + 8

    private func loadFromDisk(name: String, source: String, options: String,
                              statistics: inout ProgramCacheStatistics) -> Program? {
        guard let path = cachePath(source: source, options: options), let file = System.readFile(path) else { return nil }
        func reject() -> Program? {
            statistics.rejectedDiskEntries += 1
            unlink(path)
            return nil
        }
        guard file.count > Self.headerSize, Array(file[0..<8]) == Self.magic else { return reject() }
        let length = Self.readUInt64(file, at: 8), checksum = Self.readUInt64(file, at: 16)
        guard length == UInt64(file.count - Self.headerSize) else { return reject() }
        let binary = Array(file[Self.headerSize...])
        guard Self.fnv1a(binary) == checksum else { return reject() }

        var status: cl_int = 0, binaryStatus: cl_int = 0
        var deviceID: cl_device_id? = device
        var size = binary.count
        let handle: cl_program? = binary.withUnsafeBufferPointer { bytes in
            var pointer: UnsafePointer<UInt8>? = bytes.baseAddress
            return clCreateProgramWithBinary(context, 1, &deviceID, &size, &pointer, &binaryStatus, &status)
        }
        guard status == CL_SUCCESS, binaryStatus == CL_SUCCESS, let handle else { return reject() }
        let program = Program(handle: handle, name: name)
        guard clBuildProgram(handle, 1, &deviceID, options, nil, nil) == CL_SUCCESS else { return reject() }
        return program
    }

    private func saveToDisk(_ program: Program, source: String, options: String) {
        guard let path = cachePath(source: source, options: options), let directory else { return }
        var size = 0
        guard clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil) == CL_SUCCESS,
              size > 0 else { return }
        var binary = [UInt8](repeating: 0, count: size)
        let ok = binary.withUnsafeMutableBufferPointer { bytes -> Bool in
            var pointer: UnsafeMutablePointer<UInt8>? = bytes.baseAddress
            return clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_BINARIES),
                                    MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil) == CL_SUCCESS
        }
        guard ok, System.makeDirectories(directory) else { return }
        var file = Self.magic
        Self.appendUInt64(&file, UInt64(binary.count))
        Self.appendUInt64(&file, Self.fnv1a(binary))
        file += binary
        System.writeFileAtomically(path, file)  // A failed write only costs a compile next time.
    }

    // MARK: Hashing

    static func fnv1a(_ bytes: [UInt8], basis: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = basis
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// 128 bits of key from two FNV-1a passes with different bases.
    static func key(_ parts: String...) -> String {
        let bytes = Array(parts.joined(separator: "\u{0}").utf8)
        let a = fnv1a(bytes), b = fnv1a(bytes, basis: 0x6c62_272e_07bb_0142)
        return hex(a) + hex(b)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private static func appendUInt64(_ bytes: inout [UInt8], _ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    private static func readUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << UInt64(8 * $1) }
    }
}
