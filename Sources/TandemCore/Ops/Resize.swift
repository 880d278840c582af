#if canImport(Glibc)
import Glibc
#endif

/// Resampling of NCHW images: bilinear (PyTorch's `align_corners` true and false) and nearest.
/// Devices implement `resizeBilinear`/`resizeNearest`; their backward is a gather over the outputs
/// that read each input pixel.
extension Tensor {
    /// Checks an NCHW input and a target size for `op`.
    func checkResize(_ op: String, _ size: (Int, Int)) throws {
        guard rank == 4, size.0 >= 1, size.1 >= 1, shape[2] >= 1, shape[3] >= 1 else {
            throw TandemError.invalidArgument(
                op: op, message: "input \(shape) to size \(size) on \(device.info.selector): needs a non-empty [N, C, H, W] input and a positive size")
        }
    }

    /// The output size of resampling by `scale`: ⌊in·scale⌋ per axis.
    func scaledSize(_ op: String, _ scale: (Double, Double)) throws -> (Int, Int) {
        guard rank == 4, scale.0 > 0, scale.1 > 0, scale.0.isFinite, scale.1.isFinite else {
            throw TandemError.invalidArgument(op: op, message: "input \(shape), scale \(scale) on \(device.info.selector): needs [N, C, H, W] and positive scales")
        }
        return (Int(floor(Double(shape[2]) * scale.0)), Int(floor(Double(shape[3]) * scale.1)))
    }

    /// Bilinear resize to `size` (height, width). With `alignCorners` the corner pixels coincide
    /// (source = o·(in−1)/(out−1)); without it pixel centres map (source = (o+½)·in/out − ½,
    /// clamped at 0), as PyTorch's `interpolate(mode: "bilinear")`.
    public func upsampleBilinear(to size: (Int, Int), alignCorners: Bool) throws -> Tensor {
        try checkResize("upsampleBilinear", size)
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let y = try Tensor.empty([n, c, size.0, size.1], on: device)
        try device.resizeBilinear(storage, y.storage, planes: n * c, height: h, width: w, outHeight: size.0, outWidth: size.1,
                                  alignCorners: alignCorners, backward: false)
        return record(y, op: "upsampleBilinear", inputs: [self]) { dy in
            let dx = try Tensor.empty(self.shape, on: dy.device)
            try dy.device.resizeBilinear(dy.storage, dx.storage, planes: n * c, height: h, width: w, outHeight: size.0,
                                         outWidth: size.1, alignCorners: alignCorners, backward: true)
            return [dx]
        }
    }

    /// Bilinear resize by `scale` to ⌊in·scale⌋; the source coordinates use the ratio of the sizes
    /// (PyTorch with `recompute_scale_factor=True`), which equals 1/scale when it divides evenly.
    public func upsampleBilinear(scale: (Double, Double), alignCorners: Bool) throws -> Tensor {
        try upsampleBilinear(to: scaledSize("upsampleBilinear", scale), alignCorners: alignCorners)
    }

    /// Nearest-neighbour resize to `size`: output i reads input ⌊i·in/out⌋ (PyTorch's "nearest").
    public func upsampleNearest(to size: (Int, Int)) throws -> Tensor {
        try checkResize("upsampleNearest", size)
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let y = try Tensor.empty([n, c, size.0, size.1], on: device)
        try device.resizeNearest(storage, y.storage, planes: n * c, height: h, width: w, outHeight: size.0, outWidth: size.1,
                                 backward: false)
        return record(y, op: "upsampleNearest", inputs: [self]) { dy in
            let dx = try Tensor.empty(self.shape, on: dy.device)
            try dy.device.resizeNearest(dy.storage, dx.storage, planes: n * c, height: h, width: w, outHeight: size.0,
                                        outWidth: size.1, backward: true)
            return [dx]
        }
    }

    /// Nearest-neighbour upsampling by an integer factor per axis (each pixel repeated).
    public func upsampleNearest(scale: (Int, Int)) throws -> Tensor {
        guard rank == 4, scale.0 >= 1, scale.1 >= 1 else {
            throw TandemError.invalidArgument(op: "upsampleNearest", message: "input \(shape), scale \(scale) on \(device.info.selector): needs [N, C, H, W] and positive scales")
        }
        return try upsampleNearest(to: (shape[2] * scale.0, shape[3] * scale.1))
    }
}
