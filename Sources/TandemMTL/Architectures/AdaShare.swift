import TandemCore
import TandemNN

#if canImport(Glibc)
import Glibc
#endif

/// AdaShare (Sun, Panda, Feris and Saenko 2020, "AdaShare: Learning what to share for efficient deep
/// multi-task learning", NeurIPS): one residual backbone whose blocks each task either runs or skips,
/// by a policy learned per task and block. Task t's pass through block l is
///     x_{l+1} = u_{t,l,select} · F_l(x_l) + u_{t,l,skip} · s_l(x_l),
/// F_l the block, s_l its shortcut (the identity, or a 1×1 projection where the shape changes), and
/// u_{t,l} a Gumbel-softmax sample (soft, as the authors train) of the logits θ_{t,l} = (select, skip).
/// The authors anneal τ from 5 by ×0.965 every 100 of their 16,000 policy iterations; here the same
/// 160 decays are spread over the policy-learning epochs, τₑ = 5 · 0.965^(160·e/P) in policy epoch e
/// of P, so a short run anneals as far. Two tasks share a block where both select it.
///
/// The schedule over the run's epochs (`plan(epochs:)`; fractions of the authors' 20,000 iterations):
/// - warm-up (the first fifth): every block selected, θ untouched;
/// - policy learning (the next two fifths): the curriculum unlocks the policy from the last block
///   backwards, evenly over the phase (block l is learned once L − l blocks are unlocked; the blocks
///   below stay selected); θ is trained with the weights (the authors alternate the two on separate
///   optimizers) under the regularisers of `regularization()`;
/// - re-training (the rest): the final policy, each block selected where θ_select ≥ θ_skip, is fixed;
///   the weights are re-initialised (a fresh seed) with the optimizer's state for them, and the
///   network is trained from scratch, skipped blocks not computed at all.
/// Evaluation uses the most likely policy (arg-max θ) for the unlocked blocks. Only re-training
/// epochs can be the best epoch (`PhasedModel`): earlier ones are other networks.
public final class AdaShare: Module, MultiTaskModel, EpochScheduledModel, MixingParameters, StateLoadObserver, ReinitializingModel,
                              PhasedModel {
    public let tasks: [TaskSpec]
    public let stem: Sequential
    public let blocks: [ResidualBlock]
    public let heads: [Sequential]
    /// θ, [T, L, 2]: per task and block, the logits of (select, skip); 0 at the start (equal).
    public let logits: Tensor
    /// λ of the sparsity regulariser.
    public let sparsityWeight: Float
    /// λ of the sharing regulariser.
    public let sharingWeight: Float
    /// The stream seed of the Gumbel noise and of the re-initialisation.
    public let seed: UInt64
    /// False: every block is shared by every task for the whole run (hard parameter sharing on the
    /// same backbone, what `hps` builds for per-pixel tasks); no policy is learned.
    public let learnsPolicy: Bool
    /// (epoch, draws, re-initialised, warm-up epochs, policy epochs): saved with the weights.
    let progress: Tensor
    private final class Counters {
        var epoch = 0
        var draws = 0
        var restarted = false
        var warmup = 1
        var search = 2
        var loaded = false
        var reinitialized: [Tensor] = []
    }
    private let counters = Counters()
    private let inputShape: [Int]
    private let builder: (RandomSource) throws -> (stem: Sequential, blocks: [ResidualBlock], heads: [Sequential])

    /// τ₀, the decay factor and how many decays the policy phase makes (the authors' constants).
    public static let initialTemperature: Float = 5, temperatureDecay: Float = 0.965, decays = 160

    /// The small ResNet for `inputShape` ([C, H, W]): a 3×3 stem of 16 channels, six basic blocks
    /// (16, 16, 32 stride 2, 32, 64 stride 2, 64). Per-image tasks get global pooling and a linear
    /// head; per-pixel tasks (segmentation, depth, normals) a 3×3 convolution, bilinear upsampling to
    /// the input's size and a 1×1 convolution (log-probabilities for segmentation, unit normals).
    public init(tasks: [TaskSpec], inputShape: [Int], outputs: [Int], sparsityWeight: Float = 0.01, sharingWeight: Float = 0.05,
                learnsPolicy: Bool = true, seed: UInt64 = 0, on device: any Device) throws {
        guard !tasks.isEmpty, inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }), outputs.count == tasks.count,
              sparsityWeight >= 0, sharingWeight >= 0 else {
            throw TandemError.invalidArgument(op: "AdaShare", message: "needs tasks with an output count each and [C, H, W] images; got \(tasks.count) tasks, \(outputs.count) outputs, input \(inputShape)")
        }
        self.tasks = tasks
        self.inputShape = inputShape
        self.sparsityWeight = sparsityWeight
        self.sharingWeight = sharingWeight
        self.seed = seed
        self.learnsPolicy = learnsPolicy
        let widths = [(16, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)]
        let build: (RandomSource) throws -> (stem: Sequential, blocks: [ResidualBlock], heads: [Sequential]) = { random in
            let stem = Sequential(try Conv2d(inputShape[0], 16, kernel: 3, padding: 1, bias: false, random: random, on: device),
                                  try BatchNorm(16, on: device), Activation.relu)
            let blocks = try widths.map { try ResidualBlock($0.0, $0.1, stride: $0.2, random: random, on: device) }
            let heads: [Sequential] = try zip(tasks, outputs).map { task, out in
                switch task.kind {
                case .classification, .regression:
                    return Sequential(GlobalPool(), try Linear(64, out, random: random, on: device))
                default:
                    return Sequential(try Conv2d(64, 64, kernel: 3, padding: 1, random: random, on: device), Activation.relu,
                                      Upsample(size: (inputShape[1], inputShape[2])),
                                      try Conv2d(64, out, kernel: 1, random: random, on: device))
                }
            }
            return (stem, blocks, heads)
        }
        builder = build
        let parts = try build(RandomSource(seed: seed))
        stem = parts.stem
        blocks = parts.blocks
        heads = parts.heads
        logits = try Tensor.zeros([tasks.count, widths.count, 2], on: device, requiresGrad: true)
        // Zeros until `plan` or training writes it (the counters keep their defaults until then).
        progress = try Tensor.zeros([5], on: device)
    }

    /// Splits a run of `epochs` epochs into warm-up (a fifth, at least 1), policy learning (two
    /// fifths, at least 1) and re-training (the rest, at least 1 when there are 3 epochs or more).
    public func plan(epochs: Int) throws {
        guard epochs >= 3 || !learnsPolicy else {
            throw TandemError.invalidArgument(op: "AdaShare", message: "needs at least 3 epochs (warm-up, policy learning, re-training), got \(epochs)")
        }
        try syncCounters()
        counters.warmup = learnsPolicy ? Swift.max(1, epochs / 5) : epochs
        counters.search = Swift.max(1, 2 * epochs / 5)
        try saveCounters()
    }

    /// Whether epoch `epoch` trains the final (re-trained) network.
    public func isFinal(epoch: Int) -> Bool {
        !learnsPolicy || ((try? syncCounters()) != nil && epoch >= counters.warmup + counters.search)
    }

    /// The phase lengths, in epochs.
    public var phases: (warmup: Int, policy: Int) { (counters.warmup, counters.search) }

    /// The trainer's epoch; entering re-training re-initialises the weights once.
    public func schedule(epoch: Int) throws {
        try syncCounters()
        counters.epoch = epoch
        if learnsPolicy, epoch >= counters.warmup + counters.search, !counters.restarted {
            try reinitialize()
            counters.restarted = true
        }
        try saveCounters()
    }

    public enum Phase: String, Sendable { case warmup = "warm-up", policy = "policy learning", retraining = "re-training" }

    /// The phase of the current epoch.
    public var phase: Phase {
        if counters.epoch < counters.warmup { return .warmup }
        return counters.epoch < counters.warmup + counters.search && !counters.restarted ? .policy : .retraining
    }

    /// How many blocks, counted from the last, have a learned policy in the current epoch (the
    /// curriculum): 0 in the warm-up, all after policy learning.
    public var unlocked: Int { Self.unlocked(epoch: counters.epoch, warmup: counters.warmup, policyEpochs: counters.search, blocks: blocks.count) }

    /// The curriculum: in policy epoch e (0-based) of P, the last ⌈(e + 1)·L/P⌉ blocks are learned.
    public static func unlocked(epoch: Int, warmup: Int, policyEpochs: Int, blocks: Int) -> Int {
        guard epoch >= warmup else { return 0 }
        let e = epoch - warmup
        guard e < policyEpochs else { return blocks }
        return Swift.min(blocks, ((e + 1) * blocks + policyEpochs - 1) / policyEpochs)
    }

    /// τ in policy epoch `epoch` (0-based) of `policyEpochs`: 5 · 0.965^(160·e/P).
    public static func temperature(epoch: Int, policyEpochs: Int) -> Float {
        let exponent = Float(decays) * Float(Swift.max(0, epoch)) / Float(Swift.max(1, policyEpochs))
        return Swift.max(initialTemperature * expf(exponent * logf(temperatureDecay)), 1e-3)
    }

    /// The policy: `policy()[t][l]` is whether task t runs block l (the most likely action of the
    /// unlocked blocks; the blocks below them selected).
    public func policy() throws -> [[Bool]] {
        let values = try logits.values()
        let count = blocks.count, open = unlocked
        return tasks.indices.map { t in
            (0..<count).map { l in
                l < count - open || values[(t * count + l) * 2] >= values[(t * count + l) * 2 + 1]
            }
        }
    }

    /// The select probabilities softmax(θ)_select, [T][L].
    public func selectProbabilities() throws -> [[Float]] {
        let values = try logits.softmax(axis: -1).values()
        return tasks.indices.map { t in (0..<blocks.count).map { l in values[(t * blocks.count + l) * 2] } }
    }

    /// The policy in one line: per task, `x` or `.` per block (`segmentation xxxx.x, depth xxxxxx`).
    public func compactPolicy() throws -> String {
        try zip(tasks, policy()).map { task, row in "\(task.name) " + String(row.map { $0 ? "x" : "." }) }.joined(separator: ", ")
    }

    /// The policy as a table, a row per block (the first at the top) and a column per task: `x` a
    /// selected block, `.` a skipped one, with how many tasks share it.
    public func describePolicy() throws -> String {
        let p = try policy(), probabilities = try selectProbabilities()
        let names = tasks.map(\.name)
        let width = Swift.max(8, names.map(\.count).max() ?? 8)
        func pad(_ text: String) -> String { text + String(repeating: " ", count: Swift.max(0, width - text.count)) }
        var lines = [pad("block") + "  " + names.map(pad).joined(separator: "  ") + "  shared by"]
        for l in blocks.indices {
            let cells = tasks.indices.map { t in pad(p[t][l] ? "x (\(Self.percent(probabilities[t][l])))" : ". (\(Self.percent(probabilities[t][l])))") }
            let users = tasks.indices.filter { p[$0][l] }.count
            lines.append(pad("\(l + 1)") + "  " + cells.joined(separator: "  ") + "  \(users == tasks.count ? "all" : "\(users)")")
        }
        return lines.joined(separator: "\n")
    }

    static func percent(_ p: Float) -> String { "\(Int((p * 100).rounded()))%" }

    /// The parameters a fixed policy uses: the stem, the selected blocks (a block counted once
    /// however many tasks share it; a skipped block's projection shortcut where some task skips it)
    /// and the heads.
    public func activeParameterCount() throws -> Int {
        let p = try policy()
        var count = stem.parameterCount + heads.map(\.parameterCount).reduce(0, +)
        for (l, block) in blocks.enumerated() {
            let used = tasks.indices.contains { p[$0][l] }
            let skipped = tasks.indices.contains { !p[$0][l] }
            if used { count += block.parameterCount } else if skipped { count += block.shortcut?.parameterCount ?? 0 }
        }
        return count
    }

    /// The regularisers of the policy-learning phase, over the unlocked blocks (nil outside it):
    /// - sparsity, the paper's L_sparsity = Σ_{l,t} log α_{t,l} (Eq. 4, α the select probability) in
    ///   the bounded form of the authors' code, Σₜ mean_l ((l + 1)/L) · −log(1 − α_{t,l}): later blocks
    ///   are pushed harder to be skipped;
    /// - sharing, the paper's L_sharing = Σ_{t₁<t₂} Σ_l ((L − l)/L) · |α_{t₁,l} − α_{t₂,l}| (Eq. 5, here
    ///   with l = 0 … L − 1): tasks are pulled to agree, lower blocks more.
    /// The loss is λ_sparsity · L_sparsity + λ_sharing · L_sharing.
    public func regularization() throws -> Tensor? {
        try syncCounters()
        guard learnsPolicy, phase == .policy, unlocked > 0, sparsityWeight > 0 || sharingWeight > 0 else { return nil }
        let count = blocks.count, open = unlocked, t = tasks.count
        let device = logits.device
        let alpha = try logits.softmax(axis: -1).slice(axis: 2, 0..<1).reshape([t, count])
        let active = try alpha.slice(axis: 1, (count - open)..<count)
        let depth = try Tensor(((count - open)..<count).map { Float($0 + 1) / Float(count) }, shape: [1, open], on: device)
        let sparsity = try ((active.neg() + 1).clamp(min: 1e-6).log().neg() * depth).sum() * (1 / Float(open))
        var total = try sparsity * sparsityWeight
        if t > 1, sharingWeight > 0 {
            let lower = try Tensor((0..<count).map { Float(count - $0) / Float(count) }, shape: [count], on: device)
            for a in 0..<t {
                for b in (a + 1)..<t {
                    let difference = try alpha.slice(axis: 0, a..<(a + 1)).reshape([count]) - alpha.slice(axis: 0, b..<(b + 1)).reshape([count])
                    total = try total + (difference.abs() * lower).sum() * sharingWeight
                }
            }
        }
        return total
    }

    public func forward(_ x: Tensor) throws -> [Tensor] {
        try syncCounters()
        guard x.rank == 4, Array(x.shape.dropFirst()) == inputShape else {
            throw TandemError.invalidArgument(op: "AdaShare", message: "input must be [N, \(inputShape.map(String.init).joined(separator: ", "))], got \(x.shape)")
        }
        let count = blocks.count, open = unlocked
        let stemmed = try stem(x)
        // Soft samples while the policy is learned; a fixed policy otherwise (evaluation, warm-up, re-training).
        var samples: Tensor?
        if isTraining, phase == .policy, open > 0 {
            let stream = seed &+ UInt64(counters.draws) &* 0x9E37_79B9_7F4A_7C15
            counters.draws += 1
            let tau = Self.temperature(epoch: counters.epoch - counters.warmup, policyEpochs: counters.search)
            samples = try GumbelSoftmax.sample(logits, temperature: tau, stream: stream)
        }
        let fixed = samples == nil ? try policy() : nil
        var outputs: [Tensor] = []
        // Under a fixed policy, tasks that run the same blocks share one pass through them.
        var computed: [[Bool]: Tensor] = [:]
        for (t, head) in heads.enumerated() {
            var h = stemmed
            if let fixed, let done = computed[fixed[t]] {
                h = done
            } else {
                for (l, block) in blocks.enumerated() {
                    if let samples, l >= count - open {
                        let u = try samples.slice(axis: 0, t..<(t + 1)).slice(axis: 1, l..<(l + 1))
                        let select = try u.slice(axis: 2, 0..<1).reshape([1, 1, 1, 1]), skip = try u.slice(axis: 2, 1..<2).reshape([1, 1, 1, 1])
                        h = try block(h) * select + block.skip(h) * skip
                    } else if samples != nil || fixed![t][l] {
                        h = try block(h)
                    } else {
                        h = try block.skip(h)
                    }
                }
                if let fixed { computed[fixed[t]] = h }
            }
            var out = try head(h)
            switch tasks[t].kind {
            case .segmentation: out = try out.logSoftmax(axis: 1)
            case .normals: out = try out.l2Normalize(axis: 1)
            default: break
            }
            outputs.append(out)
        }
        if isTraining { try saveCounters() }
        return outputs
    }

    /// The stem's and blocks' parameters.
    public var sharedParameters: [Tensor] { (stem.parameters + blocks.flatMap(\.parameters)) }

    public var lastSharedWeight: Tensor? { blocks.last?.body.parameters.dropLast(2).last }

    /// θ.
    public var mixingParameters: [Tensor] { [logits] }

    /// The weights re-initialised since the last call (the trainer resets their optimizer state).
    public func takeReinitialized() -> [Tensor] {
        defer { counters.reinitialized = [] }
        return counters.reinitialized
    }

    /// Fresh weights and batch-norm statistics from a second seed, assigned in place.
    private func reinitialize() throws {
        typealias Parts = (stem: Sequential, blocks: [ResidualBlock], heads: [Sequential])
        /// Every tensor of the stem, the blocks and the heads, named by where it sits.
        func named(_ parts: Parts) -> [(String, Tensor)] {
            parts.stem.namedTensors().map { ("stem.\($0.0)", $0.1) }
                + parts.blocks.enumerated().flatMap { l, block in block.namedTensors().map { ("blocks.\(l).\($0.0)", $0.1) } }
                + parts.heads.enumerated().flatMap { t, head in head.namedTensors().map { ("heads.\(t).\($0.0)", $0.1) } }
        }
        let targets = named((stem, blocks, heads))
        let sources = Dictionary(uniqueKeysWithValues: named(try builder(RandomSource(seed: seed &+ 0xADA5_4A4E))))
        try Tensor.withoutGradient {
            for (name, tensor) in targets {
                guard let source = sources[name] else { fatalError("AdaShare: no fresh tensor for \(name)") }
                try tensor.assign(source)
            }
        }
        counters.reinitialized = targets.map(\.1).filter(\.requiresGrad)
    }

    private func saveCounters() throws {
        let values = [Float(counters.epoch), Float(counters.draws), counters.restarted ? 1 : 0, Float(counters.warmup), Float(counters.search)]
        try progress.assign(Tensor(values, shape: [5], on: progress.device))
    }

    /// Reads the saved counters once after a state was loaded into `progress`.
    private func syncCounters() throws {
        guard !counters.loaded else { return }
        counters.loaded = true
        let values = try progress.values()
        if values.allSatisfy({ $0.isFinite && $0 >= 0 && $0 == $0.rounded() }), values[3] >= 1, values[4] >= 1 {
            counters.epoch = Int(values[0])
            counters.draws = Int(values[1])
            counters.restarted = values[2] > 0
            counters.warmup = Int(values[3])
            counters.search = Int(values[4])
        }
    }

    /// Marks the counters for re-reading after `loadStateDict` wrote `progress`.
    public func stateDidLoad() { counters.loaded = false }
}

/// Bilinear resizing to a fixed size, as a layer.
final class Upsample: Module, Layer {
    let size: (Int, Int)
    init(size: (Int, Int)) { self.size = size }
    func callAsFunction(_ x: Tensor) throws -> Tensor { try x.upsampleBilinear(to: size, alignCorners: false) }
}
