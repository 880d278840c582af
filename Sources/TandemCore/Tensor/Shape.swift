/// Shape arithmetic shared by every op: element counts, row-major strides, NumPy broadcasting, axes.
public enum Shapes {
    /// Number of elements of `shape` (1 for a scalar).
    public static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Number of elements of `shape` (non-negative dimensions), or an error naming `op` when its
    /// float32 bytes do not fit an Int (a shape whose product would overflow traps in `count`).
    public static func checkedCount(_ shape: [Int], op: String) throws -> Int {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Int.max / MemoryLayout<Float>.stride else {
                throw TandemError.invalidArgument(op: op, message: "shape \(shape) has more elements than memory can address")
            }
            count = product
        }
        return count
    }

    /// Row-major strides of a contiguous tensor of `shape`.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in shape.indices.reversed() {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// The NumPy broadcast of two shapes, or nil when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard da == db || da == 1 || db == 1 else { return nil }
            out[i] = da == 1 ? db : da
        }
        return out
    }

    /// Strides that read `shape` (contiguous) as if it had the larger `target` shape: broadcast
    /// axes get stride 0.
    public static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let lead = target.count - shape.count
        return target.indices.map { i in
            i < lead ? 0 : (shape[i - lead] == 1 && target[i] != 1 ? 0 : own[i - lead])
        }
    }

    /// `axis` made non-negative (NumPy style: -1 is the last), or an error naming the op and shape.
    public static func normalize(axis: Int, rank: Int, op: String, shape: [Int]) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0, resolved < max(rank, 1) else {
            throw TandemError.invalidArgument(op: op, message: "axis \(axis) out of range for shape \(shape)")
        }
        return resolved
    }

    /// Merges adjacent axes that every operand traverses contiguously, dropping size-1 axes, so
    /// kernels index as few dimensions as possible. Returns at least one axis.
    public static func coalesce(_ shape: [Int], _ strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
        var outShape: [Int] = []
        var outStrides: [[Int]] = strides.map { _ in [] }
        for axis in shape.indices where shape[axis] != 1 {
            if let last = outShape.indices.last,
               strides.indices.allSatisfy({ outStrides[$0][last] == strides[$0][axis] * shape[axis] }) {
                outShape[last] *= shape[axis]
                for k in strides.indices { outStrides[k][last] = strides[k][axis] }
            } else {
                outShape.append(shape[axis])
                for k in strides.indices { outStrides[k].append(strides[k][axis]) }
            }
        }
        if outShape.isEmpty { return ([1], strides.map { _ in [0] }) }
        return (outShape, outStrides)
    }
}

/// The index arithmetic of an elementwise launch over `shape` (at most `StridedLayout.maxRank`
/// axes): operand k's element for output index i sits at `offsets[k] + Σ index_d · strides[k][d]`.
public struct StridedLayout: Sendable, Equatable {
    public static let maxRank = 8
    public var shape: [Int]
    public var strides: [[Int]]
    public var offsets: [Int]

    public init(shape: [Int], strides: [[Int]], offsets: [Int]? = nil) {
        let merged = Shapes.coalesce(shape, strides)
        self.shape = merged.shape
        self.strides = merged.strides
        self.offsets = offsets ?? strides.map { _ in 0 }
    }

    public var count: Int { Shapes.count(shape) }
    public var rank: Int { shape.count }

    /// True when operand k is read (or written) in plain order from its offset.
    public func isContiguous(_ k: Int) -> Bool { rank == 1 && strides[k][0] == 1 }

    /// Element offset of operand k for the flat output index `index`.
    @inline(__always)
    public func offset(_ k: Int, _ index: Int) -> Int {
        var rest = index, result = offsets[k]
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            let n = shape[axis]
            result += (rest % n) * strides[k][axis]
            rest /= n
        }
        return result
    }
}
