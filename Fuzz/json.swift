import TandemSupport

/// libFuzzer target: any bytes as JSON (recipes, the C API's configuration, file headers) must
/// parse or throw, never crash (scripts/fuzz.sh).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? JSON.parse(UnsafeBufferPointer(start: data, count: size))
    return 0
}
