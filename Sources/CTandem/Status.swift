import CTandemHeader
import Tandem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The status codes of `tandem.h`, as the `Int32` every function returns.
enum Status {
    static let ok = Int32(TANDEM_OK.rawValue)
    static let nullArgument = Int32(TANDEM_ERROR_NULL_ARGUMENT.rawValue)
    static let invalidArgument = Int32(TANDEM_ERROR_INVALID_ARGUMENT.rawValue)
    static let invalidHandle = Int32(TANDEM_ERROR_INVALID_HANDLE.rawValue)
    static let config = Int32(TANDEM_ERROR_CONFIG.rawValue)
    static let device = Int32(TANDEM_ERROR_DEVICE.rawValue)
    static let bufferTooSmall = Int32(TANDEM_ERROR_BUFFER_TOO_SMALL.rawValue)
    static let io = Int32(TANDEM_ERROR_IO.rawValue)
    static let notReady = Int32(TANDEM_ERROR_NOT_READY.rawValue)
    static let `internal` = Int32(TANDEM_ERROR_INTERNAL.rawValue)
    static let numeric = Int32(TANDEM_ERROR_NUMERIC.rawValue)

    /// `tandem_status_name`: immortal C strings.
    static func name(_ status: Int32) -> StaticString {
        switch status {
        case ok: return "TANDEM_OK"
        case nullArgument: return "TANDEM_ERROR_NULL_ARGUMENT"
        case invalidArgument: return "TANDEM_ERROR_INVALID_ARGUMENT"
        case invalidHandle: return "TANDEM_ERROR_INVALID_HANDLE"
        case config: return "TANDEM_ERROR_CONFIG"
        case device: return "TANDEM_ERROR_DEVICE"
        case bufferTooSmall: return "TANDEM_ERROR_BUFFER_TOO_SMALL"
        case io: return "TANDEM_ERROR_IO"
        case notReady: return "TANDEM_ERROR_NOT_READY"
        case `internal`: return "TANDEM_ERROR_INTERNAL"
        case numeric: return "TANDEM_ERROR_NUMERIC"
        default: return "TANDEM_UNKNOWN_STATUS"
        }
    }
}

/// A failure reported across the C boundary: a status code and its message.
struct APIError: Error {
    var status: Int32
    var message: String

    init(_ status: Int32, _ message: String) {
        self.status = status
        self.message = message
    }

    static func null(_ function: String, _ argument: String) -> APIError {
        APIError(Status.nullArgument, "\(function): '\(argument)' is NULL")
    }

    static func invalid(_ function: String, _ message: String) -> APIError {
        APIError(Status.invalidArgument, "\(function): \(message)")
    }

    /// A Tandem error thrown while running `function`, with the code its kind deserves; errors that
    /// concern a file (`ioContext`) are I/O errors.
    static func from(_ error: any Error, in function: String, ioContext: Bool = false, configContext: Bool = false) -> APIError {
        if let error = error as? APIError { return error }
        if let error = error as? JSON.ParseError { return APIError(Status.config, "\(function): configuration: \(error)") }
        if let error = error as? TrainingAnomaly { return APIError(Status.numeric, "\(function): \(error)") }
        if let error = error as? TandemError {
            let status: Int32
            switch error {
            case .deviceNotFound, .backend, .buildFailed, .outOfMemory, .outOfMemoryRunning, .allocationTooLarge, .launchLimit,
                 .kernelFault, .tensorAllocation, .trainingStepTooLarge:
                status = ioContext ? Status.io : Status.device
            case .invalidArgument:
                status = ioContext ? Status.io : (configContext ? Status.config : Status.invalidArgument)
            }
            return APIError(status, "\(function): \(error)")
        }
        return APIError(ioContext ? Status.io : Status.internal, "\(function): \(error)")
    }
}

/// The per-thread message of `tandem_last_error`: a `malloc`ed C string under a pthread key whose
/// destructor frees it when the thread ends.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let result = pthread_key_create(&key) { pointer in free(pointer) }
        precondition(result == 0, "pthread_key_create failed")  // Internal invariant: process start-up.
        return key
    }()

    static func set(_ message: String?) {
        let old = pthread_getspecific(key)
        var fresh: UnsafeMutablePointer<CChar>? = nil
        if let message, !message.isEmpty {
            fresh = message.withCString { strdup($0) }
        }
        guard old != nil || fresh != nil else { return }
        pthread_setspecific(key, fresh.map { UnsafeRawPointer($0) })
        free(old)
    }

    static var current: UnsafePointer<CChar> {
        if let pointer = pthread_getspecific(key) {
            return UnsafePointer(pointer.assumingMemoryBound(to: CChar.self))
        }
        return cString("")
    }
}

/// A `StaticString`'s bytes as an immortal C string.
func cString(_ text: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// Runs the body of a C entry point: clears the thread's error, turns every thrown error into a
/// status code and a message. (Swift errors are values: nothing here can unwind into C.)
func guarded(_ function: String, io: Bool = false, _ body: () throws -> Void) -> Int32 {
    LastError.set(nil)
    do {
        try body()
        return Status.ok
    } catch {
        let failure = APIError.from(error, in: function, ioContext: io)
        LastError.set(failure.message)
        return failure.status
    }
}

/// Copies `text` and a NUL into a caller's buffer following the header's JSON-output convention.
func deliver(_ text: String, to buffer: UnsafeMutablePointer<CChar>?, capacity: Int, length: UnsafeMutablePointer<Int>?,
             function: String) throws {
    guard let length else { throw APIError.null(function, "length") }
    let utf8 = Array(text.utf8)
    let needed = utf8.count + 1
    length.pointee = needed
    guard let buffer else {
        guard capacity == 0 else { throw APIError.invalid(function, "buffer is NULL but capacity is \(capacity)") }
        return
    }
    guard capacity >= needed else {
        throw APIError(Status.bufferTooSmall, "\(function): the result needs \(needed) bytes, the buffer has \(capacity)")
    }
    for (i, byte) in utf8.enumerated() { buffer[i] = CChar(bitPattern: byte) }
    buffer[utf8.count] = 0
}
