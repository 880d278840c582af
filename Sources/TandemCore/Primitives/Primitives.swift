@_exported import TandemABI

public typealias Buffer = any DeviceBuffer

/// The basic computations every device implements, besides memory and GEMM (`Device`). Every
/// tensor op is built from these and from the fused primitives (`FusedPrimitives`), which have
/// reference compositions of these: a new device implements this set and can train every model,
/// then overrides fused primitives where its own algorithm is faster. Each op's shape rule and
/// gradient live once in `Ops/`; the families below name the files that implement them
/// (`TandemCPU/CPU<Family>.swift`, `TandemOpenCL/Ops/OpenCL<Family>.swift`, `Kernels/<family>.cl`).
///
/// Buffers passed in always belong to the device called; outputs are fully overwritten unless a
/// method says otherwise, and an output may be the same buffer as an input of the same layout
/// (elementwise in place). Integer data (indices, labels) travels as exact floats (below 2^24).
public protocol Primitives {
    // Elementwise (`elementwise.cl`)
    func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws
    /// `y[i] = a[layout(0,i)] op b[layout(1,i)]`, y contiguous.
    func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws
    /// `y[i] = c[...] != 0 ? a[...] : b[...]` (operands 0, 1, 2 of the layout).
    func select(_ condition: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws
    /// `y[layout(1,i)] = x[layout(0,i)]`: permutes, slices, broadcasts, pads and concatenations.
    func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws

    // Reductions (`reduce.cl`): x viewed as [outer, extent, inner] → y [outer, inner].
    func reduce(_ op: ReduceOp, _ x: Buffer, _ y: Buffer, outer: Int, extent: Int, inner: Int) throws
    /// Maximum and its index along the extent axis.
    func argmax(_ x: Buffer, values: Buffer, indices: Buffer, outer: Int, extent: Int, inner: Int) throws

    // Pooling and resampling (`pooling.cl`, `resize.cl`), over planes of N·C images. Max-pool indices are flat into
    // each H·W input plane; padding is −∞ for max and counts in the average's kh·kw divisor.
    func maxPool2d(_ x: Buffer, _ y: Buffer, indices: Buffer, geometry: PoolGeometry) throws
    func maxPool2dBackward(_ dy: Buffer, indices: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws
    func avgPool2d(_ x: Buffer, _ y: Buffer, geometry: PoolGeometry) throws
    func avgPool2dBackward(_ dy: Buffer, _ dx: Buffer, geometry: PoolGeometry) throws
    /// y [planes, outputSize] = 0 except y[p, index[p, i]] = x[p, i] for x, index [planes, inputSize];
    /// indices outside 0..<outputSize are skipped.
    func scatterPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws
    /// y[p, i] = x[p, index[p, i]] for x [planes, inputSize], y and index [planes, outputSize]
    /// (0 where the index is outside 0..<inputSize).
    func gatherPlanes(_ x: Buffer, indices: Buffer, _ y: Buffer, planes: Int, inputSize: Int, outputSize: Int) throws
    /// Bilinear resize of x [planes, h, w] to y [planes, oh, ow] (PyTorch's formulas for both corner
    /// modes). With `backward`, x is dy [planes, oh, ow] and y is dx [planes, h, w] (a gather).
    func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                        alignCorners: Bool, backward: Bool) throws
    /// Nearest-neighbour resize (source index ⌊i·in/out⌋). With `backward`, x is dy [planes, oh, ow]
    /// and y is dx [planes, h, w], each dx element the sum of the dy elements that read it.
    func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                       backward: Bool) throws

    // Classification losses (`losses.cl`): x [N, C, S], target [N, S].
    /// y[n, s] = x[n, target, s], 0 where the target is outside 0..<C (ignored labels).
    func gatherClass(_ x: Buffer, target: Buffer, _ y: Buffer, batch: Int, classes: Int, inner: Int) throws
    /// dx[n, c, s] = dy[n, s] where c == target, else 0.
    func scatterClass(_ dy: Buffer, target: Buffer, _ dx: Buffer, batch: Int, classes: Int, inner: Int) throws

    // Random numbers (`random.cl`): a counter-based stream, identical on every device.
    /// `count` floats uniform in [0, 1) for stream `seed`, starting at position `offset`.
    func uniform(_ y: Buffer, count: Int, seed: UInt64, offset: Int) throws
}
