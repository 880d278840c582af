import Testing
@testable import Tandem
@testable import TandemOpenCL

/// OpenCL devices choose between row-per-work-item kernels (CPU devices such as PoCL) and
/// element-per-work-item kernels (GPUs) for copies, im2col and col2im. Both kinds run here on the
/// local OpenCL device, so the GPU kind is checked even where no GPU is.
@Suite("OpenCL kernel styles")
struct KernelStyleTests {
    @Test("the GPU-style and CPU-style data-movement kernels both pass the convolution and layout checks",
          arguments: openCLSelectors)
    func bothKernelStyles(selector: String) throws {
        let seed = TestSeed()
        for rows in [true, false] {
            let device = try privateOpenCL(selector, options: .init(rowKernels: rows))
            for (index, op) in (OpCatalog.convolution + OpCatalog.layout).enumerated() {
                let result = op.check(on: device, seed: seed.derived(index))
                #expect(result.passed, "\(op.name) on \(selector) with rowKernels \(rows): \(result) (\(seed))")
            }
        }
    }
}
