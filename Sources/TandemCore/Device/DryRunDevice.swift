import Synchronization

/// A device that computes nothing and holds no values: a buffer is only a size, taken from a pool
/// whose blocks are placeholders. A model run on it takes from that pool exactly what the same run
/// takes from a real device's pool (same tensors, same lifetimes, same 256-byte rounding), and
/// nothing is allocated, so a training step of any size runs in milliseconds and its peak
/// (`poolStatistics.peakBytesInUse`) is the step's peak on the device it stands for. Memory
/// estimates (`TrainingSetup.estimateMemory`) run one on the real input shape and batch before
/// anything real is made: the estimate follows the model's own code, with no per-layer rules to
/// keep in step with it.
///
/// What runs inside a device's primitives is not seen, so the dry run charges each convolution pass
/// the scratch the device it stands for takes (`Device.convolutionScratch`: the CPU's per-worker
/// image columns, the composition's batch-wide im2col matrix on OpenCL); the other primitives'
/// scratch is a few per-channel values and is left out. Reads return zeros (finite losses), and
/// parameter initialisation draws no values here (`Tensor.initialized`).
public final class DryRunDevice: Device {
    public let info: DeviceInfo
    /// The device whose memory this run counts.
    public let standIn: any Device
    /// Bytes in use beyond which an allocation fails as the device's would (`outOfMemory`): a
    /// rehearsal of running out at a given size; `Int.max` (the default) never fails.
    public let capacity: Int
    private let pool: MemoryPool
    private let largest = Atomic<Int>(0)

    /// A dry run of `device`, failing allocations beyond `capacity` bytes in use.
    public init(standingFor device: any Device, capacity: Int = .max) {
        standIn = device
        self.capacity = capacity
        var info = device.info
        info.selector += " (dry run)"
        self.info = info
        // Placeholder blocks: the pool only counts them.
        let placeholder = MemoryPool.Block(UnsafeMutableRawPointer(bitPattern: MemoryLayout<Float>.stride * 16)!)
        pool = MemoryPool(deviceName: info.description, create: { _ in placeholder }, release: { _ in })
    }

    public var poolStatistics: BufferPoolStatistics { pool.statistics }

    /// The largest single buffer asked for so far, in bytes (held against a device's largest
    /// allowed buffer, OpenCL's `CL_DEVICE_MAX_MEM_ALLOC_SIZE`).
    public var largestBufferBytes: Int { largest.load(ordering: .relaxed) }

    public func allocate(_ count: Int) throws -> any DeviceBuffer {
        guard count >= 0 else {
            throw TandemError.invalidArgument(op: "allocate", message: "negative element count \(count) on \(info.selector)")
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !overflow else { throw TandemError.outOfMemory(device: info.description, bytes: .max) }
        if capacity != .max, pool.statistics.bytesInUse + MemoryPool.roundedBytes(bytes) > capacity {
            throw TandemError.outOfMemory(device: info.description, bytes: MemoryPool.roundedBytes(bytes))
        }
        largest.max(bytes, ordering: .relaxed)
        return try DryRunBuffer(count: count, pool: pool)
    }

    public func upload(_ values: [Float], to buffer: any DeviceBuffer, offset: Int) throws {
        try checkRange("upload", buffer, offset: offset, count: values.count)
    }

    public func download(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> [Float] {
        try checkRange("download", buffer, offset: offset, count: count)
        return [Float](repeating: 0, count: count)
    }

    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {}
    public func gemm(_ gemm: GEMM, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {}
    public func synchronize() throws {}

    // MARK: Primitives: nothing to compute.

    public func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws {}
    public func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {}
    public func select(_ condition: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {}
    public func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws {}
    public func reduce(_ op: ReduceOp, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {}
    public func argmax(_ x: Buffer, values: Buffer, indices: Buffer, outer: Int, extent: Int, inner: Int) throws {}
    public func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry: PoolGeometry) throws {}
    public func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws {}
    public func avgPool2d(_ x: Buffer, _ y: Buffer, geometry: PoolGeometry) throws {}
    public func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws {}
    public func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {}
    public func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws {}
    public func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                               alignCorners: Bool, backward: Bool) throws {}
    public func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                              backward: Bool) throws {}
    public func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws {}
    public func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws {}
    public func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws {}

    // MARK: Fused primitives: the stand-in's convolution scratch, nothing else.

    /// Takes the scratch of `pass` from the pool; the buffers go back when the result is dropped.
    private func scratch(_ pass: ConvolutionScratch.Pass, _ g: ConvGeometry) throws -> (buffers: [any DeviceBuffer], keepsFirst: Bool) {
        let scratch = standIn.convolutionScratch(pass, geometry: g)
        return (try scratch.buffers.map { try allocate($0) }, scratch.keepsFirst)
    }

    public func conv2dForward(_ x: Buffer, weight: Buffer, bias: Buffer?, _ y: Buffer, geometry: ConvGeometry, keep: Bool) throws -> Buffer? {
        let (buffers, keepsFirst) = try scratch(.forward(keep: keep), geometry)
        return keepsFirst ? buffers.first : nil
    }

    public func conv2dInputGradient(_ dy: Buffer, weight: Buffer, _ dx: Buffer, geometry: ConvGeometry) throws {
        _ = try scratch(.inputGradient, geometry)
    }

    public func conv2dWeightGradient(_ x: Buffer, _ dy: Buffer, _ dw: Buffer, biasGradient: Buffer?, geometry: ConvGeometry,
                                     saved: Buffer?) throws {
        _ = try scratch(.weightGradient(saved: saved != nil), geometry)
    }

    public func im2col(_ x: Buffer, _ col: Buffer, geometry: ConvGeometry) throws {}
    public func col2im(_ col: Buffer, _ x: Buffer, geometry: ConvGeometry) throws {}
    public func addChannelBias(_ y: Buffer, bias: Buffer, batch: Int, channels: Int, inner: Int, relu: Bool) throws {}
    public func gatedChannelSums(_ dy: Buffer, gate y: Buffer, _ dz: Buffer, sums: Buffer, batch: Int, channels: Int, inner: Int) throws {}
    public func channelSums(_ x: Buffer, _ y: Buffer, batch: Int, channels: Int, inner: Int) throws {}
    public func attentionGate(_ z: Buffer, _ f: Buffer, _ y: Buffer, count: Int) throws {}
    public func attentionGateBackward(_ z: Buffer, _ f: Buffer, _ dy: Buffer, dz: Buffer, df: Buffer, count: Int) throws {}
    public func crossStitch(_ x: Buffer, alpha: Buffer, _ y: Buffer, tasks: Int, batch: Int, channels: Int, inner: Int,
                            transposed: Bool) throws {}
    public func crossStitchAlphaGradient(_ x: Buffer, _ dy: Buffer, dalpha: Buffer, tasks: Int, batch: Int, channels: Int,
                                         inner: Int) throws {}
    public func batchNormForward(_ x: Buffer, _ y: Buffer, weight: Buffer?, bias: Buffer?, mean: Buffer, invstd: Buffer,
                                 runningMean: Buffer?, runningVar: Buffer?, geometry: BatchNormGeometry) throws {}
    public func batchNormBackward(_ x: Buffer, _ dy: Buffer, weight: Buffer?, mean: Buffer, invstd: Buffer,
                                  dx: Buffer?, dweight: Buffer?, dbias: Buffer?, geometry: BatchNormGeometry) throws {}
    public func logSoftmax(_ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws {}
    public func logSoftmaxBackward(_ y: Buffer, _ dy: Buffer, _ dx: Buffer, outer: Int, extent: Int, inner: Int) throws {}
    public func nllLoss(_ x: Buffer, target: Buffer, mask: Buffer?, loss: Buffer, weight: Buffer, geometry: ClassLossGeometry) throws {}
    public func nllLossBackward(target: Buffer, mask: Buffer?, weight: Buffer, _ dloss: Buffer, _ dx: Buffer,
                                geometry: ClassLossGeometry) throws {}
    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws {}
    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws {}
    public func sgdUpdates(_ updates: [SGDUpdate]) throws {}
    public func adamUpdates(_ updates: [AdamUpdate]) throws {}
}
