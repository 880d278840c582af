import TandemCore

extension OpCatalog {
    /// A scalar loss, scaled by `scale` in both the op and the reference so that its gradient
    /// entries are of order 1 (the checks' relative errors have a floor of 1).
    static func loss(_ name: String, _ inputs: [InputSpec], scale: Float,
                     run: @escaping @Sendable ([Tensor]) throws -> Tensor,
                     reference: @escaping @Sendable ([[Double]]) -> [Double]) -> OpCase {
        OpCase(name, inputs, run: { try run($0) * scale }, reference: { reference($0).map { $0 * Double(scale) } })
    }

    /// Checks of the classification family: softmax, log-softmax (fused), NLL (fused) and
    /// cross-entropy with ignored, missing and masked labels.
    public static var classification: [OpCase] {
        var cases: [OpCase] = []
        // Softmax and log-softmax.
        cases.append(OpCase("softmax axis 1", [InputSpec([5, 7, 3])], run: { try $0[0].softmax(axis: 1) },
               reference: { Reference.softmax($0[0], [5, 7, 3], axis: 1) }))
        cases.append(OpCase("softmax axis -1 of logits near ±100", [InputSpec([4, 9])], run: { try ($0[0] * 100).softmax() },
               reference: { Reference.softmax($0[0].map { $0 * 100 }, [4, 9], axis: 1) }))
        cases.append(OpCase("logSoftmax axis 1", [InputSpec([5, 7, 3, 4])], run: { try $0[0].logSoftmax(axis: 1) },
               reference: { Reference.logSoftmax($0[0], [5, 7, 3, 4], axis: 1) }))
        cases.append(OpCase("logSoftmax axis 0 of logits near ±100", [InputSpec([6, 5])], run: { try ($0[0] * 100).logSoftmax(axis: 0) },
               reference: { Reference.logSoftmax($0[0].map { $0 * 100 }, [6, 5], axis: 0) }))

        // Classification losses.
        cases.append(loss("nllLoss [N, C] with ignored labels", [InputSpec([5, 7]), InputSpec([5], .labels(classes: 7, ignored: 2))],
               scale: 5, run: { try $0[0].nllLoss(target: $0[1]) },
               reference: { Reference.nllLoss($0[0], [5, 7], target: $0[1]) }))
        cases.append(loss("nllLoss spatial with ignored labels",
               [InputSpec([5, 7, 3, 4]), InputSpec([5, 3, 4], .labels(classes: 7, ignored: 9))],
               scale: 60, run: { try $0[0].nllLoss(target: $0[1], ignoreIndex: -1) },
               reference: { Reference.nllLoss($0[0], [5, 7, 3, 4], target: $0[1], ignoreIndex: -1) }))
        cases.append(loss("crossEntropy spatial with ignored labels and a per-sample mask",
               [InputSpec([5, 7, 3, 4]), InputSpec([5, 3, 4], .labels(classes: 7, ignored: 7)), InputSpec([5], .constant([1, 0, 1, 1, 0]))],
               scale: 60, run: { try Tensor.crossEntropy(logits: $0[0], target: $0[1], mask: $0[2]) },
               reference: { Reference.nllLoss(Reference.logSoftmax($0[0], [5, 7, 3, 4], axis: 1), [5, 7, 3, 4], target: $0[1], mask: $0[2]) }))
        cases.append(loss("crossEntropy [N, C] ignoring class 3, per-element mask",
               [InputSpec([9, 7]), InputSpec([9], .labels(classes: 7)), InputSpec([9], .constant([1, 1, 0, 1, 1, 1, 0, 1, 1]))],
               scale: 9, run: { try Tensor.crossEntropy(logits: $0[0], target: $0[1], ignoreIndex: 3, mask: $0[2]) },
               reference: { Reference.nllLoss(Reference.logSoftmax($0[0], [9, 7], axis: 1), [9, 7], target: $0[1], ignoreIndex: 3, mask: $0[2]) }))
        cases.append(loss("crossEntropy with NaN (missing) and out-of-range labels",
               [InputSpec([6, 5]), InputSpec([6], .constant([2, .nan, 4, -1, 7, 0]))],
               scale: 6, run: { try Tensor.crossEntropy(logits: $0[0] * 3, target: $0[1]) },
               reference: { Reference.nllLoss(Reference.logSoftmax($0[0].map { $0 * 3 }, [6, 5], axis: 1), [6, 5], target: $0[1]) }))
        cases.append(loss("crossEntropy with every label ignored is 0",
               [InputSpec([3, 4]), InputSpec([3], .constant([-1, -1, -1]))],
               scale: 3, run: { try Tensor.crossEntropy(logits: $0[0], target: $0[1]) }, reference: { _ in [0] }))

        return cases
    }

    /// Checks of the losses family: the classification checks, then MSE, masked L1, L2
    /// normalisation, the surface-normal loss, and dropout.
    public static var losses: [OpCase] {
        var cases = classification
        // Regression losses.
        cases.append(loss("mseLoss", [InputSpec([5, 3, 4]), InputSpec([5, 3, 4])],
               scale: 60, run: { try $0[0].mseLoss(target: $0[1]) },
               reference: { Reference.mseLoss($0[0], [5, 3, 4], target: $0[1]) }))
        cases.append(loss("mseLoss with NaN targets and a broadcast mask",
               [InputSpec([5, 3, 4]), InputSpec([5, 3, 4], .constant(Reference.depthTargets(60, nanAt: [7, 31]))),
                InputSpec([5, 1, 4], .constant((0..<20).map { $0 % 3 == 1 ? 0 : 1 }))],
               scale: 60, run: { try $0[0].mseLoss(target: $0[1], mask: $0[2]) },
               reference: { Reference.mseLoss($0[0], [5, 3, 4], target: $0[1], mask: ($0[2], [5, 1, 4])) }))
        cases.append(loss("maskedL1Loss over nonzero depth, NaN left out",
               [InputSpec([5, 1, 3, 4]), InputSpec([5, 1, 3, 4], .constant(Reference.depthTargets(60, nanAt: [13])))],
               scale: 60, run: { try $0[0].maskedL1Loss(target: $0[1]) },
               reference: { Reference.maskedL1Loss($0[0], [5, 1, 3, 4], target: $0[1]) }))
        cases.append(loss("maskedL1Loss with an explicit mask",
               [InputSpec([5, 7]), InputSpec([5, 7]), InputSpec([1, 7], .constant([1, 0, 1, 1, 0, 1, 1]))],
               scale: 35, run: { try $0[0].maskedL1Loss(target: $0[1], mask: $0[2]) },
               reference: { Reference.maskedL1Loss($0[0], [5, 7], target: $0[1], mask: ($0[2], [1, 7])) }))

        // Normalisation and the surface-normal loss.
        cases.append(OpCase("l2Normalize axis 1", [InputSpec([3, 3, 4, 5])], run: { try $0[0].l2Normalize() },
               reference: { Reference.l2Normalize($0[0], [3, 3, 4, 5], axis: 1) }))
        cases.append(OpCase("l2Normalize axis -1 with a zero row", [InputSpec([5, 7]), InputSpec([5, 1], .constant([1, 1, 0, 1, 1]))],
               run: { try ($0[0] * $0[1]).l2Normalize(axis: -1) },
               reference: { x in Reference.l2Normalize(x[0].enumerated().map { $0.offset / 7 == 2 ? 0 : $0.element }, [5, 7], axis: 1) }))
        cases.append(loss("normalLoss with zero and NaN target pixels",
               [InputSpec([2, 3, 4, 5]), InputSpec([2, 3, 4, 5], .constant(Reference.normalTargets(batch: 2, pixels: 20, nanPixel: 9)))],
               scale: 40, run: { try $0[0].normalLoss(target: $0[1]) },
               reference: { Reference.normalLoss($0[0], [2, 3, 4, 5], target: $0[1]) }))
        cases.append(loss("normalLoss with a pixel mask",
               [InputSpec([3, 3, 2, 3]), InputSpec([3, 3, 2, 3], .constant(Reference.normalTargets(batch: 3, pixels: 6, nanPixel: 4))),
                InputSpec([3, 1, 2, 3], .constant((0..<18).map { $0 % 4 == 3 ? 0 : 1 }))],
               scale: 18, run: { try $0[0].normalLoss(target: $0[1], mask: $0[2]) },
               reference: { Reference.normalLoss($0[0], [3, 3, 2, 3], target: $0[1], mask: $0[2]) }))

        // Dropout: randomised, so device against CPU (same stream) and float32 finite differences.
        cases.append(OpCase("dropout p 0.3", [InputSpec([5, 7, 9])],
               run: { try $0[0].dropout(p: 0.3, seed: 0x5eed_1234) }, reference: nil))
        cases.append(OpCase("dropout2d p 0.4", [InputSpec([3, 5, 4, 3])],
               run: { try $0[0].dropout2d(p: 0.4, seed: 77) }, reference: nil))
        cases.append(OpCase("dropout not training is the identity", [InputSpec([4, 5])],
               run: { try $0[0].dropout(p: 0.5, seed: 1, training: false) * 1 }, reference: { $0[0] }))
        return cases
    }
}
