import TandemCore

#if canImport(Glibc)
import Glibc
#endif

/// Every op check: what `tandem selftest` runs and what the test suite runs on each device.
/// Sizes are odd on purpose; broadcasting and permuted or sliced inputs are included.
public enum OpCatalog {
    public static var all: [OpCase] {
        elementwise + layout + reductions + products + normalization + convolution + pooling + losses + fused + optimizers
    }

    /// The checks whose ops run fused primitives (`FusedPrimitives`): convolution, batch norm,
    /// attention gates, cross-stitch and the optimizer updates.
    public static var usingFusedPrimitives: [OpCase] { normalization + convolution + fused + optimizers + classification }

    static func unary(_ name: String, kind: InputKind = .uniform, shape: [Int] = [3, 7, 5],
                      _ op: @escaping @Sendable (Tensor) throws -> Tensor, _ f: @escaping @Sendable (Double) -> Double) -> OpCase {
        OpCase(name, [InputSpec(shape, kind)], run: { try op($0[0]) }, reference: { $0[0].map(f) })
    }

    static func binary(_ name: String, _ sa: [Int], _ sb: [Int], bKind: InputKind = .uniform,
                       _ op: @escaping @Sendable (Tensor, Tensor) throws -> Tensor,
                       _ f: @escaping @Sendable (Double, Double) -> Double) -> OpCase {
        OpCase(name, [InputSpec(sa), InputSpec(sb, bKind)], run: { try op($0[0], $0[1]) },
               reference: { Reference.broadcasting([($0[0], sa), ($0[1], sb)]) { f($0[0], $0[1]) } })
    }

    public static var elementwise: [OpCase] {
        var cases: [OpCase] = []
        cases.append(unary("neg", { try $0.neg() }) { -$0 })
        cases.append(unary("exp", { try $0.exp() }) { Glibc.exp($0) })
        cases.append(unary("log", kind: .positive, { try $0.log() }) { Glibc.log($0) })
        cases.append(unary("sqrt", kind: .positive, { try $0.sqrt() }) { $0.squareRoot() })
        cases.append(unary("relu", { try $0.relu() }) { Swift.max($0, 0) })
        cases.append(unary("sigmoid", { try $0.sigmoid() }) { Reference.sigmoid($0) })
        cases.append(unary("tanh", { try $0.tanh() }) { Glibc.tanh($0) })
        cases.append(unary("softplus", shape: [4, 9, 5], { try ($0 * 6).softplus() }) { Reference.softplus(6 * $0) })
        cases.append(unary("abs", { try $0.abs() }) { Swift.abs($0) })
        cases.append(unary("pow 2.5", kind: .positive, { try $0.pow(2.5) }) { Glibc.pow($0, 2.5) })
        cases.append(unary("square", { try $0.square() }) { $0 * $0 })
        cases.append(unary("reciprocal", kind: .positive, { try $0.reciprocal() }) { 1 / $0 })
        cases.append(unary("clamp min/max", { try $0.clamp(min: -0.3).clamp(max: 0.4) }) { Swift.min(Swift.max($0, -0.3), 0.4) })
        cases.append(unary("scalar add, mul, div", { try (($0 + 0.5) * 3 - 1) / 4 }) { (($0 + 0.5) * 3 - 1) / 4 })
        cases.append(unary("scalar minus tensor, scalar over tensor", kind: .positive, { try (2 - $0) + (1 / $0) }) { (2 - $0) + 1 / $0 })
        cases.append(OpCase("replacing NaN", [InputSpec([5], .constant([1, .nan, 3, .nan, -2])), InputSpec([5])],
               run: { try $0[0].replacingNaN(with: 0) * $0[1] },
               reference: { zip($0[0], $0[1]).map { ($0.0.isNaN ? 0 : $0.0) * $0.1 } }))
        cases.append(binary("add broadcast", [3, 1, 5], [4, 1], { try $0 + $1 }) { $0 + $1 })
        cases.append(binary("sub broadcast", [2, 3, 4], [4], { try $0 - $1 }) { $0 - $1 })
        cases.append(binary("mul broadcast", [5, 1], [1, 7], { try $0 * $1 }) { $0 * $1 })
        cases.append(binary("div broadcast", [3, 7], [7], bKind: .positive, { try $0 / $1 }) { $0 / $1 })
        cases.append(binary("maximum", [3, 5], [3, 5], { try $0.maximum($1) }) { Swift.max($0, $1) })
        cases.append(binary("minimum broadcast", [3, 5], [1], { try $0.minimum($1) }) { Swift.min($0, $1) })
        cases.append(binary("add scalar tensor", [4, 3], [], { try $0 + $1 }) { $0 + $1 })
        cases.append(OpCase("add permuted input", [InputSpec([3, 4, 5]), InputSpec([5, 3, 4])],
               run: { try $0[0].permute([2, 0, 1]) + $0[1] },
               reference: { zip(Reference.permute($0[0], [3, 4, 5], [2, 0, 1]), $0[1]).map { $0 + $1 } }))
        cases.append(OpCase("mul sliced input", [InputSpec([7, 6]), InputSpec([3, 6])],
               run: { try $0[0].slice(axis: 0, 1..<7, step: 2) * $0[1] },
               reference: { x in (0..<18).map { (i: Int) -> Double in
                   let row: Int = 1 + 2 * (i / 6)
                   return x[0][row * 6 + i % 6] * x[1][i] } }))
        cases.append(OpCase("where broadcast", [InputSpec([3, 1], .constant([1, 0, 1])), InputSpec([3, 4]), InputSpec([4])],
               run: { try Tensor.where($0[0], $0[1], $0[2]) },
               reference: { Reference.broadcasting([($0[0], [3, 1]), ($0[1], [3, 4]), ($0[2], [4])]) { $0[0] != 0 ? $0[1] : $0[2] } }))
        cases.append(OpCase("greater, equal masks", [InputSpec([9]), InputSpec([9])],
               run: { try ($0[0].greater($0[1]) + $0[0].equal($0[0]) * 2 + $0[0].greater(0.1)) * $0[1] },
               reference: { x in (0..<9).map { i in ((x[0][i] > x[1][i] ? 1 : 0) + 2 + (x[0][i] > 0.1 ? 1 : 0)) * x[1][i] } }))
        return cases
    }

    public static var layout: [OpCase] {
        var cases: [OpCase] = []
        cases.append(OpCase("reshape and transpose", [InputSpec([3, 4, 5])], run: { try $0[0].reshape([12, 5]).transpose() },
               reference: { Reference.permute($0[0], [12, 5], [1, 0]) }))
        cases.append(OpCase("permute 4d", [InputSpec([2, 3, 4, 5])], run: { try $0[0].permute([3, 1, 0, 2]) },
               reference: { Reference.permute($0[0], [2, 3, 4, 5], [3, 1, 0, 2]) }))
        // Rows of 5·7 contiguous floats on both sides: CPU OpenCL devices copy them a run per work-item.
        cases.append(OpCase("permute 4d keeping long rows", [InputSpec([3, 4, 5, 7])], run: { try $0[0].permute([1, 0, 2, 3]) },
               reference: { Reference.permute($0[0], [3, 4, 5, 7], [1, 0, 2, 3]) }))
        cases.append(OpCase("slice with step", [InputSpec([5, 9])], run: { try $0[0].slice(axis: 1, 2..<9, step: 3) },
               reference: { x in (0..<15).map { i in x[0][(i / 3) * 9 + 2 + 3 * (i % 3)] } }))
        cases.append(OpCase("concat axis 1", [InputSpec([2, 3, 4]), InputSpec([2, 1, 4]), InputSpec([2, 5, 4])],
               run: { try Tensor.concat($0, axis: 1) },
               reference: { x in (0..<2).flatMap { (n: Int) -> [Double] in
                   let a = Array(x[0][(n * 12)..<(n * 12 + 12)]), b = Array(x[1][(n * 4)..<(n * 4 + 4)])
                   return a + b + Array(x[2][(n * 20)..<(n * 20 + 20)]) } }))
        cases.append(OpCase("split and stack", [InputSpec([4, 7])],
               run: { let p = try $0[0].split(axis: 1, sizes: [2, 2, 3]); return try Tensor.stack([p[0], p[1]], axis: 0).sum(axes: [0]) + p[2].slice(axis: 1, 0..<2) },
               reference: { x in (0..<8).map { i in let r = i / 2, c = i % 2; return x[0][r * 7 + c] + x[0][r * 7 + 2 + c] + x[0][r * 7 + 4 + c] } }))
        cases.append(OpCase("expand", [InputSpec([3, 1, 2])], run: { try $0[0].expand([4, 3, 5, 2]) },
               reference: { x in Reference.broadcasting([(x[0], [3, 1, 2]), ([Double](repeating: 0, count: 120), [4, 3, 5, 2])]) { $0[0] } }))
        cases.append(OpCase("pad", [InputSpec([2, 3, 4])], run: { try $0[0].pad([(0, 0), (1, 2), (2, 1)], value: 0.5) },
               reference: { x in (0..<(2 * 6 * 7)).map { i in
                   let n = i / 42, r = (i / 7) % 6 - 1, c = i % 7 - 2
                   return (0..<3).contains(r) && (0..<4).contains(c) ? x[0][n * 12 + r * 4 + c] : 0.5 } }))
        cases.append(OpCase("unsqueeze, squeeze, flatten", [InputSpec([3, 4, 5])],
               run: { try $0[0].unsqueeze(1).squeeze(1).flatten() * 2 }, reference: { $0[0].map { $0 * 2 } }))
        return cases
    }

    public static var reductions: [OpCase] {
        var cases: [OpCase] = []
        cases.append(OpCase("sum all", [InputSpec([7, 9, 5])], run: { try $0[0].sum() }, reference: { [$0[0].reduce(0, +)] }))
        cases.append(OpCase("sum axes 0,2 keepDims", [InputSpec([3, 5, 7])], run: { try $0[0].sum(axes: [0, 2], keepDims: true) },
               reference: { Reference.reduce($0[0], [3, 5, 7], axes: [0, 2], initial: 0, +) }))
        cases.append(OpCase("mean axis -1", [InputSpec([5, 11])], run: { try $0[0].mean(axes: [-1]) },
               reference: { Reference.reduce($0[0], [5, 11], axes: [1], initial: 0, +).map { $0 / 11 } }))
        cases.append(OpCase("max axis 1", [InputSpec([4, 9, 3])], run: { try $0[0].max(axis: 1) },
               reference: { Reference.reduce($0[0], [4, 9, 3], axes: [1], initial: -.infinity) { Swift.max($0, $1) } }))
        cases.append(OpCase("argmax axis 0", [InputSpec([6, 5])], run: { try $0[0].argmax(axis: 0) + 0 },
               reference: { x in (0..<5).map { c in Double((0..<6).max { x[0][$0 * 5 + c] < x[0][$1 * 5 + c] }!) } }))
        cases.append(OpCase("variance axis 0 unbiased", [InputSpec([7, 4])], run: { try $0[0].variance(axes: [0], unbiased: true) },
               reference: { x in (0..<4).map { c in
                   let v = (0..<7).map { x[0][$0 * 4 + c] }, m = v.reduce(0, +) / 7
                   return v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 6 } }))
        cases.append(OpCase("sum of 101,617 elements", [InputSpec([331, 307], differentiable: false)], tolerance: 1e-3,
               run: { try $0[0].sum() }, reference: { [$0[0].reduce(0, +)] }))
        cases.append(OpCase("mean over 120,000 elements per row", [InputSpec([3, 40_000], differentiable: false)], tolerance: 1e-3,
               run: { try $0[0].mean(axes: [1]) }, reference: { Reference.reduce($0[0], [3, 40_000], axes: [1], initial: 0, +).map { $0 / 40_000 } }))
        return cases
    }

    public static var products: [OpCase] {
        var cases: [OpCase] = []
        cases.append(OpCase("matmul", [InputSpec([5, 7]), InputSpec([7, 3])], run: { try $0[0].matmul($0[1]) },
               reference: { Reference.matmul($0[0], [5, 7], $0[1], [7, 3]) }))
        cases.append(OpCase("matmul batched broadcast", [InputSpec([2, 1, 4, 3]), InputSpec([3, 3, 5])], run: { try $0[0].matmul($0[1]) },
               reference: { Reference.matmul($0[0], [2, 1, 4, 3], $0[1], [3, 3, 5]) }))
        cases.append(OpCase("matmul shared right operand", [InputSpec([3, 4, 6]), InputSpec([6, 2])], run: { try $0[0].matmul($0[1]) },
               reference: { Reference.matmul($0[0], [3, 4, 6], $0[1], [6, 2]) }))
        cases.append(OpCase("linear", [InputSpec([6, 7]), InputSpec([5, 7]), InputSpec([5])],
               run: { try $0[0].linear(weight: $0[1], bias: $0[2]) },
               reference: { x in
                   let y = Reference.matmul(x[0], [6, 7], Reference.permute(x[1], [5, 7], [1, 0]), [7, 5])
                   return y.enumerated().map { $0.element + x[2][$0.offset % 5] } }))
        return cases
    }
}
