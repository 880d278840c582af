import TandemCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Procedural 64×64 RGB scenes for dense multi-task prediction (the setting of MTAN, offline):
/// segmentation (7 classes), depth and surface normals, all computed from the same geometry.
///
/// Geometry: an orthographic camera looks at image coordinates u, v ∈ [−1, 1] (u right, v up); depth
/// d(u, v) > 0 is the distance along the view direction, and a surface's unit normal in camera space
/// (z toward the viewer) is (∂d/∂u, ∂d/∂v, 1)/‖·‖, so nz > 0 on visible surfaces. A scene is a tilted
/// background plane at depth 7.7–10.3 (class 0) and 2–5 shapes at centre depths 2–6, each drawn with a
/// depth buffer (the nearest surface wins):
///
/// | class | shape | surface |
/// |---|---|---|
/// | 1 | sphere | d = z₀ − √(r² − ρ²), n = (u − cx, v − cy, √(r² − ρ²))/r |
/// | 2 | upright cylinder | curved in u: n = (u − cx, 0, √(r² − (u − cx)²))/r |
/// | 3 | lying cylinder | curved in v |
/// | 4 | tilted disc | plane d = z₀ + a(u − cx) + b(v − cy), n ∝ (a, b, 1) |
/// | 5 | tilted square (rotated) | plane |
/// | 6 | tilted triangle (rotated) | plane |
///
/// Each class has its own base colour (jittered per shape); pixels are shaded with a Lambert term
/// for a per-scene light direction, darkened slightly with depth, plus N(0, 0.02²) noise, so colour,
/// shading and size all carry information about the three targets. Object depths are at most 6.4
/// and the background's at least 7.7, so the depth map and the class map agree. Samples are rendered
/// on demand from (seed, split, index): nothing is stored, and a sample is the same every time.
public struct Scenes: MultiTaskDataset {
    /// Image side in pixels.
    public static let size = 64
    /// Classes: background and six shapes.
    public static let classCount = 7
    /// Names of the classes, by index.
    public static let classNames = ["background", "sphere", "upright cylinder", "lying cylinder", "disc", "square", "triangle"]
    /// The task names.
    public static let taskNames = ["segmentation", "depth", "normal"]

    /// The split's name.
    public let name: String
    /// The number of scenes.
    public let count: Int
    let seed: UInt64

    /// RGB images [3, 64, 64] in [0, 1].
    public var inputShape: [Int] { [3, Self.size, Self.size] }
    /// `segmentation` (7 classes, [64, 64]), `depth` ([1, 64, 64]) and `normal` ([3, 64, 64]).
    public var tasks: [DatasetTask] {
        [DatasetTask("segmentation", .segmentation(classes: Self.classCount), labelShape: [Self.size, Self.size]),
         DatasetTask("depth", .depth, labelShape: [1, Self.size, Self.size]),
         DatasetTask("normal", .normals, labelShape: [3, Self.size, Self.size])]
    }

    /// `count` scenes of a split; different `stream`s (splits) give disjoint scene streams.
    public init(count: Int, seed: UInt64 = 0, stream: UInt64 = 0, name: String = "scenes") throws {
        guard count > 0 else { throw TandemError.invalidArgument(op: "scenes", message: "scene count \(count) must be positive") }
        self.count = count
        self.seed = seed ^ (stream &* 0xD1B5_4A32_D192_ED03)
        self.name = name
    }

    /// Training and test splits.
    public static func splits(trainCount: Int = 2_000, testCount: Int = 500, seed: UInt64 = 0) throws -> DatasetSplits {
        DatasetSplits(train: try Scenes(count: trainCount, seed: seed, stream: 1, name: "scenes/train"),
                      test: try Scenes(count: testCount, seed: seed, stream: 2, name: "scenes/test"))
    }

    /// One rendered scene: image [3, 64, 64], classes [64, 64], depth [64, 64], normals [3, 64, 64],
    /// and the index of the surface seen at each pixel (−1 background), for checks.
    public struct Sample: Sendable {
        /// RGB, [3, 64, 64].
        public var image: [Float]
        /// Class per pixel, [64, 64].
        public var classes: [Float]
        /// Depth per pixel, [64, 64].
        public var depth: [Float]
        /// Unit normals, [3, 64, 64].
        public var normals: [Float]
        /// Which shape each pixel shows (−1 for the background).
        public var instance: [Int]
    }

    /// A shape of a scene.
    struct Shape {
        var kind: Int  // class 1...6
        var cx: Double, cy: Double, r: Double, z0: Double
        var a: Double, b: Double  // depth slopes of planar shapes
        var angle: Double  // rotation of squares and triangles
        var halfLength: Double  // half extent of cylinders along their axis
        var colour: (Double, Double, Double)
    }

    static let baseColours: [(Double, Double, Double)] = [
        (0.5, 0.5, 0.5), (0.9, 0.2, 0.2), (0.2, 0.8, 0.3), (0.2, 0.4, 0.9), (0.9, 0.8, 0.2), (0.8, 0.3, 0.8), (0.2, 0.8, 0.8),
    ]

    /// The surface of `shape` at (u, v): its depth and normal, or nil when the pixel misses it.
    static func hit(_ s: Shape, _ u: Double, _ v: Double) -> (depth: Double, n: (Double, Double, Double))? {
        let du = u - s.cx, dv = v - s.cy
        func plane() -> (Double, (Double, Double, Double)) {
            let length = (s.a * s.a + s.b * s.b + 1).squareRoot()
            return (s.z0 + s.a * du + s.b * dv, (s.a / length, s.b / length, 1 / length))
        }
        switch s.kind {
        case 1:
            let q = s.r * s.r - du * du - dv * dv
            guard q >= 0 else { return nil }
            let h = q.squareRoot()
            return (s.z0 - h, (du / s.r, dv / s.r, h / s.r))
        case 2, 3:
            let across = s.kind == 2 ? du : dv, along = s.kind == 2 ? dv : du
            let q = s.r * s.r - across * across
            guard q >= 0, abs(along) <= s.halfLength else { return nil }
            let h = q.squareRoot()
            return (s.z0 - h, s.kind == 2 ? (across / s.r, 0, h / s.r) : (0, across / s.r, h / s.r))
        case 4:
            guard du * du + dv * dv <= s.r * s.r else { return nil }
            return plane()
        case 5:
            let c = cos(s.angle), sn = sin(s.angle)
            let x = c * du + sn * dv, y = -sn * du + c * dv
            guard abs(x) <= s.r * 0.85, abs(y) <= s.r * 0.85 else { return nil }
            return plane()
        default:
            // An equilateral triangle with circumradius r: inside all three edge half-planes.
            for k in 0..<3 {
                let t = s.angle + Double(k) * 2 * Double.pi / 3
                if cos(t) * du + sin(t) * dv > s.r / 2 { return nil }
            }
            return plane()
        }
    }

    /// Renders scene `index` (deterministic in the data set's seed and the index).
    public func render(_ index: Int) -> Sample {
        var random = DataRandom(seed: seed, stream: UInt64(index) &+ 1)
        let n = Self.size
        // Background plane, its grey level, and the light.
        let zb = random.uniform(8.5, 9.5), gx = random.uniform(-0.4, 0.4), gy = random.uniform(-0.4, 0.4)
        let grey = random.uniform(0.35, 0.65)
        var light = (random.uniform(-0.5, 0.5), random.uniform(0.2, 0.8), 1.0)
        let ll = (light.0 * light.0 + light.1 * light.1 + 1).squareRoot()
        light = (light.0 / ll, light.1 / ll, light.2 / ll)
        var shapes: [Shape] = []
        for _ in 0..<(2 + random.below(4)) {
            let kind = 1 + random.below(6)
            let base = Self.baseColours[kind]
            shapes.append(Shape(kind: kind, cx: random.uniform(-0.75, 0.75), cy: random.uniform(-0.75, 0.75),
                                r: random.uniform(0.15, 0.4), z0: random.uniform(2, 6),
                                a: random.uniform(-0.5, 0.5), b: random.uniform(-0.5, 0.5),
                                angle: random.uniform(0, 2 * Double.pi), halfLength: random.uniform(0.2, 0.6),
                                colour: (min(1, base.0 + random.uniform(-0.1, 0.1)), min(1, base.1 + random.uniform(-0.1, 0.1)),
                                         min(1, base.2 + random.uniform(-0.1, 0.1)))))
        }
        let plane = n * n
        var sample = Sample(image: [Float](repeating: 0, count: 3 * plane), classes: [Float](repeating: 0, count: plane),
                            depth: [Float](repeating: 0, count: plane), normals: [Float](repeating: 0, count: 3 * plane),
                            instance: [Int](repeating: -1, count: plane))
        let bl = (gx * gx + gy * gy + 1).squareRoot()
        for i in 0..<n {
            let v = 1 - (Double(i) + 0.5) * 2 / Double(n)
            for j in 0..<n {
                let u = (Double(j) + 0.5) * 2 / Double(n) - 1
                var depth = zb + gx * u + gy * v
                var normal = (gx / bl, gy / bl, 1 / bl)
                var colour = (grey, grey, grey)
                var cls = 0, which = -1
                for (k, s) in shapes.enumerated() {
                    if let h = Self.hit(s, u, v), h.depth < depth {
                        (depth, normal, colour, cls, which) = (h.depth, h.n, s.colour, s.kind, k)
                    }
                }
                let lambert = max(0, normal.0 * light.0 + normal.1 * light.1 + normal.2 * light.2)
                let shade = (0.35 + 0.65 * lambert) * (1 - 0.04 * (depth - 2))
                let p = i * n + j
                sample.image[p] = Float(min(1, max(0, colour.0 * shade + 0.02 * random.normal())))
                sample.image[plane + p] = Float(min(1, max(0, colour.1 * shade + 0.02 * random.normal())))
                sample.image[2 * plane + p] = Float(min(1, max(0, colour.2 * shade + 0.02 * random.normal())))
                sample.classes[p] = Float(cls)
                sample.depth[p] = Float(depth)
                sample.normals[p] = Float(normal.0)
                sample.normals[plane + p] = Float(normal.1)
                sample.normals[2 * plane + p] = Float(normal.2)
                sample.instance[p] = which
            }
        }
        return sample
    }

    /// The scenes at `indices`, rendered now.
    public func batch(_ indices: [Int]) -> HostBatch {
        let plane = Self.size * Self.size
        var x = [Float](), classes = [Float](), depth = [Float](), normals = [Float]()
        x.reserveCapacity(indices.count * 3 * plane)
        classes.reserveCapacity(indices.count * plane)
        depth.reserveCapacity(indices.count * plane)
        normals.reserveCapacity(indices.count * 3 * plane)
        for i in indices {
            let s = render(i)
            x += s.image
            classes += s.classes
            depth += s.depth
            normals += s.normals
        }
        return HostBatch(indices: indices, inputs: x, inputShape: [indices.count] + inputShape,
                     labels: [classes, depth, normals], masks: [nil, nil, nil])
    }
}
