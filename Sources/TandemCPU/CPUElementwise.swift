#if canImport(Glibc)
import Glibc
#endif
import TandemCore

/// Scalar definitions of the elementwise ops, shared by the CPU loops (the OpenCL kernels in
/// `Kernels/elementwise.cl` mirror them line by line).
@inline(__always)
func applyUnary(_ op: UnaryOp, _ x: Float, _ p: Float) -> Float {
    switch op {
    case .neg: return -x
    case .exp: return expf(x)
    case .log: return logf(x)
    case .sqrt: return sqrtf(x)
    case .relu: return x <= 0 ? 0 : x  // NaN stays NaN, as in PyTorch.
    case .sigmoid: return 1 / (1 + expf(-x))
    case .tanh: return tanhf(x)
    case .abs: return fabsf(x)
    case .pow: return powf(x, p)
    case .addScalar: return x + p
    case .mulScalar: return x * p
    case .maxScalar: return x > p ? x : p
    case .minScalar: return x < p ? x : p
    case .greaterScalar: return x > p ? 1 : 0
    case .equalScalar: return x == p ? 1 : 0
    case .notEqualScalar: return x != p ? 1 : 0
    case .sign: return x > 0 ? 1 : (x < 0 ? -1 : 0)
    case .reciprocal: return 1 / x
    case .square: return x * x
    case .isNaN: return x.isNaN ? 1 : 0
    case .replaceNaN: return x.isNaN ? p : x
    case .softplus: return max(x, 0) + log1pf(expf(-fabsf(x)))
    }
}

@inline(__always)
func applyBinary(_ op: BinaryOp, _ a: Float, _ b: Float) -> Float {
    switch op {
    case .add: return a + b
    case .sub: return a - b
    case .mul: return a * b
    case .div: return a / b
    case .max: return a > b ? a : b
    case .min: return a < b ? a : b
    case .greater: return a > b ? 1 : 0
    case .equal: return a == b ? 1 : 0
    case .gate: return b > 0 ? a : 0
    }
}

extension CPUDevice {
    public func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "unary.\(op)") }
        let px = SharedPointer(host(x).pointer), py = SharedPointer(host(y).pointer)
        Parallel.chunks(count, cost: 2) { range in
            let x = px.base, y = py.base
            switch op {
            case .relu: for i in range { y[i] = x[i] <= 0 ? 0 : x[i] }
            case .neg: for i in range { y[i] = -x[i] }
            case .mulScalar: for i in range { y[i] = x[i] * scalar }
            case .addScalar: for i in range { y[i] = x[i] + scalar }
            case .square: for i in range { y[i] = x[i] * x[i] }
            default: for i in range { y[i] = applyUnary(op, x[i], scalar) }
            }
        }
    }

    public func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "binary.\(op)") }
        let pa = SharedPointer(host(a).pointer), pb = SharedPointer(host(b).pointer), py = SharedPointer(host(y).pointer)
        splitLayout(layout) { sub, start in
            let y = py.base + start
            if sub.rank == 1 {
                // One run of elements: loops with the op chosen outside, the common cases vectorisable.
                let n = sub.shape[0], sa = sub.strides[0][0], sb = sub.strides[1][0]
                let a = pa.base + sub.offsets[0], b = pb.base + sub.offsets[1]
                switch op {
                case .add: for i in 0..<n { y[i] = a[i * sa] + b[i * sb] }
                case .sub: for i in 0..<n { y[i] = a[i * sa] - b[i * sb] }
                case .mul: for i in 0..<n { y[i] = a[i * sa] * b[i * sb] }
                case .div: for i in 0..<n { y[i] = a[i * sa] / b[i * sb] }
                case .gate where sa == 1 && sb == 1: Self.gateRun(a, b, y, count: n)
                default: for i in 0..<n { y[i] = applyBinary(op, a[i * sa], b[i * sb]) }
                }
                return
            }
            var i = 0
            self.forEachOffset(sub) { ia, ib in
                y[i] = applyBinary(op, pa.base[ia], pb.base[ib])
                i += 1
            }
        }
    }

    /// `y = b > 0 ? a : 0` over contiguous runs, eight lanes at a time with a lane-wise select: the
    /// sign of b is data, and a scalar loop compiles to a branch that mispredicts about half the time.
    @inline(__always)
    static func gateRun(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                        count: Int) {
        var i = 0
        while i &+ 8 <= count {
            var lanes = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            let on = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self) .> 0
            lanes.replace(with: 0, where: .!on)
            UnsafeMutableRawPointer(y + i).storeBytes(of: lanes, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < count { y[i] = b[i] > 0 ? a[i] : 0; i &+= 1 }
    }

    /// Splits `layout` along its first axis over the cores: `body(part, first output index)` runs
    /// once per part, each part writing its own contiguous run of the output.
    func splitLayout(_ layout: StridedLayout, _ body: @Sendable (StridedLayout, Int) -> Void) {
        let outer = layout.shape[0], inner = layout.count / max(outer, 1)
        Parallel.chunks(outer, cost: inner * 2) { range in
            var part = layout
            part.shape[0] = range.count
            for k in part.offsets.indices { part.offsets[k] += range.lowerBound * layout.strides[k][0] }
            body(part, range.lowerBound * inner)
        }
    }

    public func select(_ condition: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "select") }
        let pc = host(condition).pointer, pa = host(a).pointer, pb = host(b).pointer, py = host(y).pointer
        for i in 0..<layout.count {
            py[i] = pc[layout.offset(0, i)] != 0 ? pa[layout.offset(1, i)] : pb[layout.offset(2, i)]
        }
    }

    public func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "copy") }
        let px = SharedPointer(host(x).pointer), py = SharedPointer(host(y).pointer)
        // Parts along the first axis write disjoint targets (a copy never writes one element twice).
        splitLayout(layout) { part, _ in
            if part.rank == 1 && part.strides[0][0] == 1 && part.strides[1][0] == 1 {
                (py.base + part.offsets[1]).update(from: px.base + part.offsets[0], count: part.shape[0])
                return
            }
            self.forEachOffset(part) { source, target in py.base[target] = px.base[source] }
        }
    }

    /// Calls `body(offset of operand 0, offset of operand 1)` for every element of `layout`, in
    /// order, with nested loops for up to four axes (no division per element) and the general
    /// index arithmetic beyond.
    @inline(__always)
    func forEachOffset(_ layout: StridedLayout, _ body: (Int, Int) -> Void) {
        let shape = layout.shape, a = layout.strides[0], b = layout.strides[1]
        let oa = layout.offsets[0], ob = layout.offsets[1]
        switch layout.rank {
        case 1:
            for i in 0..<shape[0] { body(oa + i * a[0], ob + i * b[0]) }
        case 2:
            for i in 0..<shape[0] {
                let ia = oa + i * a[0], ib = ob + i * b[0]
                for j in 0..<shape[1] { body(ia + j * a[1], ib + j * b[1]) }
            }
        case 3:
            for i in 0..<shape[0] {
                for j in 0..<shape[1] {
                    let ja = oa + i * a[0] + j * a[1], jb = ob + i * b[0] + j * b[1]
                    for k in 0..<shape[2] { body(ja + k * a[2], jb + k * b[2]) }
                }
            }
        case 4:
            for i in 0..<shape[0] {
                for j in 0..<shape[1] {
                    for k in 0..<shape[2] {
                        let ka = oa + i * a[0] + j * a[1] + k * a[2], kb = ob + i * b[0] + j * b[1] + k * b[2]
                        for l in 0..<shape[3] { body(ka + l * a[3], kb + l * b[3]) }
                    }
                }
            }
        default:
            for i in 0..<layout.count { body(layout.offset(0, i), layout.offset(1, i)) }
        }
    }
}

extension CPUDevice {
    public func addChannelBias(_ y: Buffer, bias: Buffer, batch: Int, channels: Int, inner: Int, relu: Bool) throws {
        let profile = Profiler.begin()
        defer { Profiler.end(profile, device: "cpu", "addChannelBias") }
        let py = host(y).pointer, pb = host(bias).pointer
        for n in 0..<batch {
            for c in 0..<channels {
                let plane = py + (n * channels + c) * inner, b = pb[c]
                if relu {
                    for s in 0..<inner { let v = plane[s] + b; plane[s] = v <= 0 ? 0 : v }
                } else {
                    for s in 0..<inner { plane[s] += b }
                }
            }
        }
    }
}
