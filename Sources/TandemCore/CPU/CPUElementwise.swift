#if canImport(Glibc)
import Glibc
#endif

/// Scalar definitions of the elementwise ops, shared by the CPU loops (the OpenCL kernels in
/// `Kernels/elementwise.cl` mirror them line by line).
@inline(__always)
func applyUnary(_ op: UnaryOp, _ x: Float, _ p: Float) -> Float {
    switch op {
    case .neg: return -x
    case .exp: return expf(x)
    case .log: return logf(x)
    case .sqrt: return sqrtf(x)
    case .relu: return x > 0 ? x : 0
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
    }
}

extension CPUDevice {
    public func unary(_ op: UnaryOp, _ x: Buffer, _ y: Buffer, count: Int, scalar: Float) throws {
        let px = host(x).pointer, py = host(y).pointer
        for i in 0..<count { py[i] = applyUnary(op, px[i], scalar) }
    }

    public func binary(_ op: BinaryOp, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let pa = host(a).pointer, pb = host(b).pointer, py = host(y).pointer
        let count = layout.count
        if layout.rank == 1 {
            let sa = layout.strides[0][0], sb = layout.strides[1][0], oa = layout.offsets[0], ob = layout.offsets[1]
            for i in 0..<count { py[i] = applyBinary(op, pa[oa + i * sa], pb[ob + i * sb]) }
            return
        }
        for i in 0..<count { py[i] = applyBinary(op, pa[layout.offset(0, i)], pb[layout.offset(1, i)]) }
    }

    public func select(_ condition: Buffer, _ a: Buffer, _ b: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let pc = host(condition).pointer, pa = host(a).pointer, pb = host(b).pointer, py = host(y).pointer
        for i in 0..<layout.count {
            py[i] = pc[layout.offset(0, i)] != 0 ? pa[layout.offset(1, i)] : pb[layout.offset(2, i)]
        }
    }

    public func copy(_ x: Buffer, _ y: Buffer, layout: StridedLayout) throws {
        let px = host(x).pointer, py = host(y).pointer
        if layout.rank == 1 {
            let sx = layout.strides[0][0], sy = layout.strides[1][0], ox = layout.offsets[0], oy = layout.offsets[1]
            for i in 0..<layout.count { py[oy + i * sy] = px[ox + i * sx] }
            return
        }
        for i in 0..<layout.count { py[layout.offset(1, i)] = px[layout.offset(0, i)] }
    }
}
