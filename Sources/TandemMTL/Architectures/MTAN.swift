import TandemCore
import TandemNN

/// conv(a→b) of MTAN: Conv 3×3 pad 1 (bias) → BatchNorm → ReLU, named as PyTorch's Sequential.
func convLayer(_ a: Int, _ b: Int, initializer: Initializer, random: RandomSource, on device: any Device) throws -> Sequential {
    Sequential(try Conv2d(a, b, kernel: 3, padding: 1, initializer: initializer, random: random, on: device),
               try BatchNorm(b, on: device), Activation.relu)
}

/// att(a→b→c) of MTAN without its final sigmoid: Conv 1×1 → BN → ReLU → Conv 1×1 → BN. The sigmoid
/// is fused into the gating (`attentionGate`), so the block returns mask logits. Index 5 (the
/// sigmoid) holds no parameters, so names still match PyTorch's six-layer block.
func attentionLayer(_ a: Int, _ b: Int, _ c: Int, initializer: Initializer, random: RandomSource, on device: any Device) throws -> Sequential {
    Sequential(try Conv2d(a, b, kernel: 1, initializer: initializer, random: random, on: device), try BatchNorm(b, on: device),
               Activation.relu, try Conv2d(b, c, kernel: 1, initializer: initializer, random: random, on: device),
               try BatchNorm(c, on: device))
}

/// An attention block's mask gating `features`: the block's last BatchNorm, the sigmoid and the
/// gating as one op, which keeps no mask logits for the backward (`batchNormAttentionGate`).
func attend(_ block: Sequential, _ input: Tensor, features: Tensor) throws -> Tensor {
    guard let norm = block.layers.last as? BatchNorm else { return try block(input).attentionGate(features: features) }
    return try norm.attentionGate(try block(input, layers: block.layers.count - 1), features: features)
}

/// The shared encoder of MTAN with per-task attention (Liu et al. 2019), for any widths f:
/// stage j computes u_j = conv(in→f_j), p_j = conv_block_enc_j(u_j) (one conv for j < 2, two
/// after) and a 2×2 max-pool; task i's attention gates p_j with att([u_j ; a_{i,j−1}]) and passes
/// the result through a task-shared conv(f_j→f_{j+1}) and a max-pool.
public final class MTANEncoder: Module {
    public let widths: [Int]
    public let encoderBlock: [Sequential]
    public let convBlockEnc: [Sequential]
    public let encoderAtt: [[Sequential]]
    public let encoderBlockAtt: [Sequential]

    public init(inputChannels: Int, widths f: [Int], tasks: Int, initializer: Initializer = .xavierNormal,
                random: RandomSource, on device: any Device) throws {
        guard f.count >= 2, tasks >= 1, f.allSatisfy({ $0 > 0 }) else {
            throw TandemError.invalidArgument(op: "MTANEncoder", message: "needs ≥ 2 positive widths and ≥ 1 task, got \(f), \(tasks)")
        }
        widths = f
        encoderBlock = try f.indices.map { j in try convLayer(j == 0 ? inputChannels : f[j - 1], f[j], initializer: initializer, random: random, on: device) }
        convBlockEnc = try f.indices.map { j in
            j < 2 ? try convLayer(f[j], f[j], initializer: initializer, random: random, on: device)
                : Sequential(try convLayer(f[j], f[j], initializer: initializer, random: random, on: device),
                             try convLayer(f[j], f[j], initializer: initializer, random: random, on: device))
        }
        encoderAtt = try (0..<tasks).map { _ in
            try f.indices.map { j in
                try attentionLayer(j == 0 ? f[0] : 2 * f[j], f[j], f[j], initializer: initializer, random: random, on: device)
            }
        }
        encoderBlockAtt = try f.indices.map { j in
            try convLayer(f[j], j + 1 < f.count ? f[j + 1] : f[j], initializer: initializer, random: random, on: device)
        }
    }

    /// Shared features of one forward pass, kept for the decoder.
    public struct Shared {
        public var u: [Tensor] = []
        public var p: [Tensor] = []
        public var pooled: [Tensor] = []
        public var indices: [Tensor] = []
    }

    public func shared(_ x: Tensor) throws -> Shared {
        var s = Shared()
        var input = x
        for j in widths.indices {
            let u = try encoderBlock[j](input)
            let p = try convBlockEnc[j](u)
            let (pooled, indices) = try p.maxPool2d(kernel: (2, 2))
            s.u.append(u)
            s.p.append(p)
            s.pooled.append(pooled)
            s.indices.append(indices)
            input = pooled
        }
        return s
    }

    /// Task `task`'s attended features after the last stage ([N, f_last, H/2^k, W/2^k]).
    public func attended(task: Int, _ s: Shared) throws -> Tensor {
        var previous: Tensor? = nil
        for j in widths.indices {
            let input = try previous.map { try Tensor.concat([s.u[j], $0], axis: 1) } ?? s.u[j]
            let gated = try attend(encoderAtt[task][j], input, features: s.p[j])
            previous = try encoderBlockAtt[j](gated).maxPool2d(kernel: (2, 2)).values
        }
        return previous!
    }
}

/// MTAN for per-image tasks: the attention encoder, then per task a global average pool and a
/// linear head. The default `tandem train` model.
public final class MTAN: Module, MultiTaskModel {
    public let tasks: [TaskSpec]
    public let encoder: MTANEncoder
    public let heads: [any Layer]

    public init(tasks: [TaskSpec], inputChannels: Int, widths: [Int] = [16, 32, 64], heads: [any Layer & Module],
                random: RandomSource, on device: any Device) throws {
        guard heads.count == tasks.count else {
            throw TandemError.invalidArgument(op: "MTAN", message: "\(tasks.count) tasks need as many heads, got \(heads.count)")
        }
        self.tasks = tasks
        encoder = try MTANEncoder(inputChannels: inputChannels, widths: widths, tasks: tasks.count, random: random, on: device)
        self.heads = heads
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        let shared = try encoder.shared(x)
        return try heads.enumerated().map { i, head in
            try head(try encoder.attended(task: i, shared).globalAvgPool2d().flatten())
        }
    }

    public var sharedParameters: [Tensor] {
        (encoder.encoderBlock + encoder.convBlockEnc + encoder.encoderBlockAtt).flatMap(\.parameters)
    }
}

/// SegNet-MTAN (W4 of WORKLOADS.md; the structure of the authors' `model_segnet_mtan.py`): the
/// attention encoder above, a SegNet decoder that unpools with the encoder's indices, decoder
/// attention per task, and heads for 7-class segmentation (log-probabilities), depth and unit normals.
///
/// Any of the three tasks may be left out (a network of one group for `tandem group`): the
/// attention branches and heads of the others are not built. With all three the parameters, their
/// names and their initial values are those of the three-task model.
public final class SegNetMTAN: Module, MultiTaskModel {
    public let tasks: [TaskSpec]
    public let encoder: MTANEncoder
    public let decoderBlock: [Sequential]
    public let convBlockDec: [Sequential]
    public let decoderAtt: [[Sequential]]
    public let decoderBlockAtt: [Sequential]
    public let predTask1: Sequential?
    public let predTask2: Sequential?
    public let predTask3: Sequential?

    /// The model of `tasks`: segmentation (`classes` classes), depth and normals, or an ordered
    /// subset of them (nil: all three, named segmentation, depth, normal).
    public init(widths f: [Int] = [16, 32, 64, 128, 128], classes: Int = 7, tasks subset: [TaskSpec]? = nil,
                random: RandomSource, on device: any Device) throws {
        guard f.count == 5, f[3] == f[4] else {
            throw TandemError.invalidArgument(op: "SegNetMTAN", message: "needs five widths with f3 == f4, got \(f)")
        }
        let all = [TaskSpec("segmentation", .segmentation(classes: classes)), TaskSpec("depth", .depth), TaskSpec("normal", .normals)]
        let chosen = subset ?? all
        let kinds = chosen.map(\.kind)
        let order = all.map(\.kind)
        guard !kinds.isEmpty, kinds.count == Set(kinds.map { "\($0)" }).count,
              zip(kinds, kinds.dropFirst()).allSatisfy({ a, b in order.firstIndex(of: a)! < order.firstIndex(of: b)! }),
              kinds.allSatisfy({ order.contains($0) }) else {
            throw TandemError.invalidArgument(op: "SegNetMTAN", message: "predicts segmentation (\(classes) classes), depth and normals, or some of them in that order; got \(kinds)")
        }
        tasks = chosen
        let initializer = Initializer.xavierNormal
        func conv(_ a: Int, _ b: Int) throws -> Sequential { try convLayer(a, b, initializer: initializer, random: random, on: device) }
        encoder = try MTANEncoder(inputChannels: 3, widths: f, tasks: chosen.count, initializer: initializer, random: random, on: device)
        // decoder_block[k]: conv(f_{k+1} → f_k), with decoder_block[0] = conv(f0 → f0); used from the bottom up.
        decoderBlock = try (0..<5).map { k in try k == 0 ? conv(f[0], f[0]) : conv(f[k], f[k - 1]) }
        // conv_block_dec[k] refines decoder_block[k]'s output (f_{k−1}; f0 for k ≤ 1): once for k ≤ 1, twice after.
        convBlockDec = try (0..<5).map { k in
            try k < 2 ? conv(f[0], f[0]) : Sequential(conv(f[k - 1], f[k - 1]), conv(f[k - 1], f[k - 1]))
        }
        decoderAtt = try chosen.indices.map { _ in
            try (0..<5).map { k in
                try attentionLayer(k == 0 ? 2 * f[0] : f[k] + f[k - 1], f[max(k - 1, 0)], f[max(k - 1, 0)],
                                   initializer: initializer, random: random, on: device)
            }
        }
        decoderBlockAtt = try (0..<5).map { k in try k == 0 ? conv(f[0], f[0]) : (k < 4 ? conv(f[k], f[k - 1]) : conv(f[4], f[4])) }
        func head(_ out: Int) throws -> Sequential {
            Sequential(try Conv2d(f[0], f[0], kernel: 3, padding: 1, initializer: initializer, random: random, on: device),
                       try Conv2d(f[0], out, kernel: 1, initializer: initializer, random: random, on: device))
        }
        predTask1 = kinds.contains(order[0]) ? try head(classes) : nil
        predTask2 = kinds.contains(.depth) ? try head(1) : nil
        predTask3 = kinds.contains(.normals) ? try head(3) : nil
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        guard x.rank == 4, x.shape[1] == 3, x.shape[2] % 32 == 0, x.shape[3] % 32 == 0 else {
            throw TandemError.invalidArgument(op: "SegNetMTAN", message: "input must be [N, 3, H, W] with H and W multiples of 32, got \(x.shape)")
        }
        let s = try encoder.shared(x)
        // Shared decoder, step i from the bottom: unpool with encoder block (4 − i)'s indices.
        var upsampled: [Tensor] = [], decoded: [Tensor] = []
        var current = s.pooled[4]
        for i in 0..<5 {
            let k = 4 - i
            let size = (s.p[k].shape[2], s.p[k].shape[3])
            let up = try current.maxUnpool2d(indices: s.indices[k], outputSize: size)
            let d = try convBlockDec[k](decoderBlock[k](up))
            upsampled.append(up)
            decoded.append(d)
            current = d
        }
        var outputs: [Tensor] = []
        for t in tasks.indices {
            var previous = try encoder.attended(task: t, s)
            for i in 0..<5 {
                let k = 4 - i
                let up = try decoderBlockAtt[k](previous.upsampleBilinear(scale: (2, 2), alignCorners: true))
                previous = try attend(decoderAtt[t][k], Tensor.concat([upsampled[i], up], axis: 1), features: decoded[i])
            }
            let output: Tensor
            switch tasks[t].kind {
            case .segmentation: output = try predTask1!(previous).logSoftmax(axis: 1)
            case .depth: output = try predTask2!(previous)
            default: output = try predTask3!(previous).l2Normalize(axis: 1)
            }
            outputs.append(output)
        }
        return outputs
    }

    public var sharedParameters: [Tensor] {
        (encoder.encoderBlock + encoder.convBlockEnc + decoderBlock + convBlockDec).flatMap(\.parameters)
    }
}
