import TandemCore

/// Bilinear and nearest-neighbour resizing on OpenCL (`Kernels/resize.cl`); each backward is a gather.
extension OpenCLDevice {
    public func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                               alignCorners: Bool, backward: Bool) throws {
        let g = try ResizeParameters(planes: planes, height: height, width: width, outHeight: outHeight, outWidth: outWidth,
                                     alignCorners: alignCorners, op: "resizeBilinear", device: info.selector)
        let total = resizedElements(g, backward: backward)
        if backward { return try resize_bilinear_backward_f32(global: [total], dy: x, dx: y, total: total, g: g) }
        try resize_bilinear_f32(global: [total], x: x, y: y, total: total, g: g)
    }

    public func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                              backward: Bool) throws {
        let g = try ResizeParameters(planes: planes, height: height, width: width, outHeight: outHeight, outWidth: outWidth,
                                     alignCorners: false, op: "resizeNearest", device: info.selector)
        let total = resizedElements(g, backward: backward)
        if backward { return try resize_nearest_backward_f32(global: [total], dy: x, dx: y, total: total, g: g) }
        try resize_nearest_f32(global: [total], x: x, y: y, total: total, g: g)
    }

    /// Work-items of a resize: one per output element, or per input element for the gradient.
    private func resizedElements(_ g: ResizeParameters, backward: Bool) -> Int {
        Int(g.planes) * (backward ? Int(g.height) * Int(g.width) : Int(g.outHeight) * Int(g.outWidth))
    }
}
