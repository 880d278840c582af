import TandemData

/// libFuzzer target: any bytes as an IDX file, plain or gzip-compressed (Fashion-MNIST's format),
/// must decode or throw, never crash (scripts/fuzz.sh).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if Zlib.isGzip(bytes), let raw = try? Zlib.gunzip(bytes, file: "fuzz.gz", op: "fuzz") { _ = try? IDX.decode(raw, file: "fuzz") }
    _ = try? IDX.decode(bytes, file: "fuzz")
    return 0
}
