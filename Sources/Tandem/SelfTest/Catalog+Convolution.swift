import TandemCore

extension OpCatalog {
    /// One conv2d check: input [N, C, H, W], weight [O, C/groups, kh, kw], optional bias.
    static func conv(_ name: String, _ x: [Int], _ w: [Int], bias: Bool, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                     dilation: (Int, Int) = (1, 1), groups: Int = 1) -> OpCase {
        var inputs = [InputSpec(x), InputSpec(w)]
        if bias { inputs.append(InputSpec([w[0]])) }
        return OpCase(name, inputs,
                      run: { t in try t[0].conv2d(weight: t[1], bias: bias ? t[2] : nil, stride: stride, padding: padding,
                                                  dilation: dilation, groups: groups) },
                      reference: { v in Reference.conv2d(v[0], x, v[1], w, bias: bias ? v[2] : nil, stride: stride, padding: padding,
                                                         dilation: dilation, groups: groups) })
    }

    /// Checks of the convolution family: odd sizes, strides, padding, dilation, groups, 1×1.
    public static var convolution: [OpCase] {
        [
            conv("conv2d 3×3 with bias", [2, 3, 7, 9], [4, 3, 3, 3], bias: true),
            conv("conv2d 3×3 no bias", [2, 3, 7, 9], [4, 3, 3, 3], bias: false),
            conv("conv2d stride 2 padding 1", [2, 3, 7, 9], [5, 3, 3, 3], bias: true, stride: (2, 2), padding: (1, 1)),
            conv("conv2d dilation 2, stride (1, 2), padding (2, 1)", [2, 3, 7, 9], [4, 3, 3, 2], bias: false,
                 stride: (1, 2), padding: (2, 1), dilation: (2, 2)),
            conv("conv2d groups 2 padding 1", [2, 4, 7, 9], [6, 2, 3, 3], bias: true, padding: (1, 1), groups: 2),
            conv("conv2d groups 3 depthwise stride 2", [2, 3, 7, 9], [6, 1, 3, 3], bias: false, stride: (2, 2), padding: (1, 1), groups: 3),
            conv("conv2d 1×1 with bias", [2, 3, 7, 9], [5, 3, 1, 1], bias: true),
            // Enough images that the CPU multiplies several at once, with a shorter last chunk.
            conv("conv2d 19 images in chunks", [19, 2, 5, 5], [3, 2, 3, 3], bias: true),
            conv("conv2d 11 images in chunks, groups 2 padding 1", [11, 4, 4, 3], [4, 2, 3, 3], bias: true, padding: (1, 1), groups: 2),
            conv("conv2d 9 images in chunks, 1×1", [9, 3, 2, 3], [4, 3, 1, 1], bias: false),
            conv("conv2d stride (2, 1), dilation (1, 2), padding (1, 2)", [2, 3, 7, 9], [4, 3, 3, 3], bias: true,
                 stride: (2, 1), padding: (1, 2), dilation: (1, 2)),
            conv("conv2d 5×2 kernel, stride (2, 3), padding 2", [1, 2, 8, 11], [3, 2, 5, 2], bias: true, stride: (2, 3), padding: (2, 2)),
        ]
    }
}
