import TandemMTL

/// libFuzzer target: any bytes as the C API's model configuration (`tandem_model_create`'s JSON),
/// parsed and validated by `ModelConfiguration` (keys, types, ranges, tasks, weighting settings):
/// it must accept or throw, never crash. Nothing is built (scripts/fuzz.sh).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? ModelConfiguration(parsing: String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self))
    return 0
}
