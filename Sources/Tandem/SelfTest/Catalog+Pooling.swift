import TandemCore

extension OpCatalog {
    /// Checks of the pooling and resampling family: overlapping and padded windows, indices,
    /// unpooling, bilinear in both corner modes at integer and non-integer scales, nearest.
    public static var pooling: [OpCase] {
        let x = [2, 3, 7, 9], planes = 6
        func maxPool(_ name: String, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> OpCase {
            OpCase(name, [InputSpec(x)],
                   run: { try $0[0].maxPool2d(kernel: kernel, stride: stride, padding: padding).values },
                   reference: { Reference.pool2d($0[0], planes: planes, 7, 9, kernel: kernel, stride: stride, padding: padding, max: true).values })
        }
        func avgPool(_ name: String, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> OpCase {
            OpCase(name, [InputSpec(x)],
                   run: { try $0[0].avgPool2d(kernel: kernel, stride: stride, padding: padding) },
                   reference: { Reference.pool2d($0[0], planes: planes, 7, 9, kernel: kernel, stride: stride, padding: padding, max: false).values })
        }
        let small = [2, 3, 5, 7]
        func bilinear(_ name: String, _ size: (Int, Int), alignCorners: Bool, scale: (Double, Double)? = nil) -> OpCase {
            OpCase(name, [InputSpec(small)],
                   run: { t in
                       if let scale { return try t[0].upsampleBilinear(scale: scale, alignCorners: alignCorners) }
                       return try t[0].upsampleBilinear(to: size, alignCorners: alignCorners)
                   },
                   reference: { Reference.bilinear($0[0], planes: 6, 5, 7, size.0, size.1, alignCorners: alignCorners) })
        }
        func nearest(_ name: String, _ size: (Int, Int), scale: (Int, Int)? = nil) -> OpCase {
            OpCase(name, [InputSpec(small)],
                   run: { t in try scale.map { try t[0].upsampleNearest(scale: $0) } ?? t[0].upsampleNearest(to: size) },
                   reference: { Reference.nearest($0[0], planes: 6, 5, 7, size.0, size.1) })
        }
        return [
            maxPool("maxPool2d 2×2", kernel: (2, 2), stride: (2, 2), padding: (0, 0)),
            maxPool("maxPool2d 3×3 stride 2 padding 1 (overlapping)", kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
            maxPool("maxPool2d 3×2 stride (1, 2) padding (1, 0)", kernel: (3, 2), stride: (1, 2), padding: (1, 0)),
            OpCase("maxPool2d indices 2×2", [InputSpec(x, differentiable: false)],
                   run: { try $0[0].maxPool2d(kernel: (2, 2)).indices },
                   reference: { Reference.pool2d($0[0], planes: planes, 7, 9, kernel: (2, 2), stride: (2, 2), padding: (0, 0), max: true).indices }),
            OpCase("maxPool2d indices 3×3 stride 2 padding 1", [InputSpec(x, differentiable: false)],
                   run: { try $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)).indices },
                   reference: { Reference.pool2d($0[0], planes: planes, 7, 9, kernel: (3, 3), stride: (2, 2), padding: (1, 1), max: true).indices }),
            OpCase("maxUnpool2d of maxPool2d 2×2", [InputSpec(x)],
                   run: { t in
                       let (v, i) = try t[0].maxPool2d(kernel: (2, 2))
                       return try v.maxUnpool2d(indices: i, outputSize: (7, 9))
                   },
                   reference: { v in
                       let p = Reference.pool2d(v[0], planes: planes, 7, 9, kernel: (2, 2), stride: (2, 2), padding: (0, 0), max: true)
                       return Reference.unpool(p.values, p.indices, planes: planes, inputSize: 12, outputSize: 63)
                   }),
            OpCase("maxUnpool2d of other values", [InputSpec(x, differentiable: false), InputSpec([2, 3, 3, 4])],
                   run: { t in try t[1].maxUnpool2d(indices: t[0].maxPool2d(kernel: (2, 2)).indices, outputSize: (7, 9)) },
                   reference: { v in
                       let p = Reference.pool2d(v[0], planes: planes, 7, 9, kernel: (2, 2), stride: (2, 2), padding: (0, 0), max: true)
                       return Reference.unpool(v[1], p.indices, planes: planes, inputSize: 12, outputSize: 63)
                   }),
            avgPool("avgPool2d 2×2", kernel: (2, 2), stride: (2, 2), padding: (0, 0)),
            avgPool("avgPool2d 3×3 stride 2 padding 1 (count_include_pad)", kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
            OpCase("globalAvgPool2d", [InputSpec(x)], run: { try $0[0].globalAvgPool2d() },
                   reference: { v in (0..<planes).map { p in v[0][(p * 63)..<(p * 63 + 63)].reduce(0, +) / 63 } }),
            bilinear("upsampleBilinear ×2", (10, 14), alignCorners: false),
            bilinear("upsampleBilinear ×2 alignCorners", (10, 14), alignCorners: true),
            bilinear("upsampleBilinear to 8×4 (non-integer, down in width)", (8, 4), alignCorners: false),
            bilinear("upsampleBilinear to 8×4 alignCorners", (8, 4), alignCorners: true),
            bilinear("upsampleBilinear scale 1.5", (7, 10), alignCorners: false, scale: (1.5, 1.5)),
            bilinear("upsampleBilinear scale 1.5 alignCorners", (7, 10), alignCorners: true, scale: (1.5, 1.5)),
            bilinear("upsampleBilinear to 1×11 alignCorners", (1, 11), alignCorners: true),
            nearest("upsampleNearest ×2", (10, 14), scale: (2, 2)),
            nearest("upsampleNearest to 8×4 (non-integer)", (8, 4)),
        ]
    }
}
