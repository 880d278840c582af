/// Memory that lives on a device: a run of `count` float32 values.
///
/// Each device has its own concrete buffer class; a device only ever receives its own buffers
/// (the tensor layer checks that before it calls in).
public protocol DeviceBuffer: AnyObject, Sendable {
    /// Number of float32 elements.
    var count: Int { get }
}

/// A place where tensors live and computation happens: the CPU, or one OpenCL device.
///
/// Calls may be queued asynchronously; `download` and `synchronize` are the points where the host waits.
public protocol Device: AnyObject, Sendable, Primitives, FusedPrimitives {
    var info: DeviceInfo { get }

    /// A new buffer of `count` floats with unspecified contents.
    func allocate(_ count: Int) throws -> any DeviceBuffer
    /// Copies `values` into `buffer` starting at element `offset`.
    func upload(_ values: [Float], to buffer: any DeviceBuffer, offset: Int) throws
    /// Reads `count` elements of `buffer` starting at `offset`, waiting for queued work.
    func download(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> [Float]
    /// Copies `values` (host memory the caller owns) into `buffer` starting at element `offset`.
    func upload(_ values: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws
    /// Reads `target.count` elements of `buffer` from `offset` into `target` (host memory the caller
    /// owns: a staging buffer reused every step), waiting for queued work.
    func download(_ buffer: any DeviceBuffer, offset: Int, into target: UnsafeMutableBufferPointer<Float>) throws
    /// `count` floats of host memory for staging this device's transfers (zeroed).
    func makeStaging(_ count: Int) throws -> HostStaging
    /// Sets `count` elements of `buffer` starting at `offset` to `value`.
    func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws
    /// `C = alpha·op(A)·op(B) + beta·C`, row-major, possibly strided-batched.
    func gemm(_ gemm: GEMM, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws
    /// Waits until everything queued on the device has finished.
    func synchronize() throws
    /// Counters of the device's buffer pool: bytes in use by tensors (and their peak), bytes cached.
    var poolStatistics: BufferPoolStatistics { get }
    /// The scratch buffers this device takes from its pool while it runs `pass` of a convolution of
    /// geometry `g`: what a dry run charges for it (`DryRunDevice`, memory estimates). The default
    /// is the reference composition's (`Composed.convolutionScratch`).
    func convolutionScratch(_ pass: ConvolutionScratch.Pass, geometry g: ConvGeometry) -> ConvolutionScratch
}

extension Device {
    public func convolutionScratch(_ pass: ConvolutionScratch.Pass, geometry g: ConvGeometry) -> ConvolutionScratch {
        Composed.convolutionScratch(pass, geometry: g)
    }

    /// Ordinary aligned host memory.
    public func makeStaging(_ count: Int) throws -> HostStaging { HostStaging.allocated(count) }

    /// Through an array (devices without a direct path).
    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        try upload(Array(values), to: buffer, offset: offset)
    }

    /// Through an array (devices without a direct path).
    public func download(_ buffer: any DeviceBuffer, offset: Int, into target: UnsafeMutableBufferPointer<Float>) throws {
        _ = target.update(fromContentsOf: try download(buffer, offset: offset, count: target.count))
    }

    /// A buffer holding `values`.
    public func buffer(_ values: [Float]) throws -> any DeviceBuffer {
        let buffer = try allocate(values.count)
        try upload(values, to: buffer, offset: 0)
        return buffer
    }

    /// All elements of `buffer`.
    public func download(_ buffer: any DeviceBuffer) throws -> [Float] {
        try download(buffer, offset: 0, count: buffer.count)
    }

    /// Checks that `offset..<offset+count` lies inside `buffer`.
    public func checkRange(_ op: String, _ buffer: any DeviceBuffer, offset: Int, count: Int) throws {
        guard offset >= 0, count >= 0, offset + count <= buffer.count else {
            throw TandemError.invalidArgument(
                op: op, message: "range \(offset)..<\(offset + count) outside a buffer of \(buffer.count) elements on \(info.selector)")
        }
    }
}
