import TandemCore

/// Bilinear and nearest-neighbour resizing on OpenCL (`Kernels/resize.cl`); each backward is a gather.
extension OpenCLDevice {
    public func resizeBilinear(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                               alignCorners: Bool, backward: Bool) throws {
        let total = planes * (backward ? height * width : outHeight * outWidth)
        try launch(backward ? "resize_bilinear_backward_f32" : "resize_bilinear_f32", program: "resize", global: [total],
                   [.buffer(x), .buffer(y), .int(total), .int8([planes, height, width, outHeight, outWidth, alignCorners ? 1 : 0])])
    }

    public func resizeNearest(_ x: Buffer, _ y: Buffer, planes: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                              backward: Bool) throws {
        let total = planes * (backward ? height * width : outHeight * outWidth)
        try launch(backward ? "resize_nearest_backward_f32" : "resize_nearest_f32", program: "resize", global: [total],
                   [.buffer(x), .buffer(y), .int(total), .int8([planes, height, width, outHeight, outWidth])])
    }
}
