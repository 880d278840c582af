import TandemData

/// libFuzzer target: any bytes as a `.npy` file must decode or throw, never crash (scripts/fuzz.sh).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? NPY.decode(UnsafeBufferPointer(start: data, count: size), file: "fuzz.npy")
    return 0
}
