import TandemData

/// libFuzzer target: any bytes as a safetensors file (checkpoints, --init) must decode or throw,
/// never crash (scripts/fuzz.sh).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? Safetensors.decode(Array(UnsafeBufferPointer(start: data, count: size)), file: "fuzz.safetensors")
    return 0
}
