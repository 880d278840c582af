import TandemData

/// libFuzzer target: any bytes as an `.npz` archive (zip, zip64, stored or deflated members) must
/// decode or throw, never crash or allocate what the file cannot hold (scripts/fuzz.sh).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? NPZ.decode(Array(UnsafeBufferPointer(start: data, count: size)), file: "fuzz.npz")
    return 0
}
