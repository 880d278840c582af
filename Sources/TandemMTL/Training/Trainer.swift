import TandemCore
import TandemData
import TandemNN

/// How many tasks a training step optimises.
public enum TaskSampling: Sendable, Equatable {
    /// Every task, combined by the trainer's `LossWeighting`.
    case all
    /// Naive multi-task SGD: each step trains one task drawn uniformly at random, and the step's
    /// objective is that task's loss alone (the weighting is not consulted). The draw is a pure function
    /// of `seed` and the step number, so a resumed run draws the same tasks.
    case oneTaskPerStep(seed: UInt64)
}

/// Trains a multi-task model: forward, per-task (masked) losses, the weighting's backward, the model's
/// regularisation, an optimizer step; evaluation with per-task metrics; epochs with validation,
/// best-epoch selection and callbacks; checkpoints with exact resume (`saveCheckpoint`, `loadCheckpoint`).
///
/// Host reads: a training step reads only the T per-task losses, stacked into one tensor and read
/// once per step (this is the step's only synchronisation). Evaluation reads predictions to the host.
///
/// Best epoch: with `baselines`, the epoch with the highest Δm; without, the highest mean over tasks of
/// the main metric normalised against the first validated epoch's value — Δm with that epoch's main
/// metrics as the baseline ((M − M₀)/|M₀|, negated for lower-is-better metrics).
public final class Trainer {
    /// The model trained.
    public let model: any MultiTaskModel
    /// The optimizer over the model's parameters and the weighting's own parameters.
    public let optimizer: any Optimizer
    /// The loss weighting or gradient combination.
    public let weighting: any LossWeighting
    /// The device the model and batches live on.
    public let device: any Device
    /// How many tasks each step trains.
    public var sampling: TaskSampling
    /// Per-step learning rate (applied at the start of each step from the global step); nil keeps
    /// the optimizer's rate.
    public var learningRateSchedule: (any LearningRateSchedule)?
    /// Seed of the per-epoch batch-order shuffle of `fit(epochs:train:validation:)` with an array;
    /// nil keeps the given order.
    public var shuffleSeed: UInt64?
    /// Single-task baselines for Δm (task → metric → value); nil selects the best epoch by normalised
    /// main metrics.
    public var baselines: [String: [String: Double]]?
    /// Whether to keep a host copy of the best epoch's model state (`bestState`).
    public var keepBestState: Bool
    /// Observers called after each step and epoch.
    public var callbacks: [any TrainerCallback] = []
    /// Clip the global gradient norm to this before each update (nil: no clipping).
    public var gradientClipNorm: Float?
    /// Gradient methods combine the tasks' gradients with respect to the model's shared
    /// representation instead of its shared parameters (LibMTL's `rep_grad`; MGDA-UB with MGDA): the
    /// graph is cut at the representation, the method runs on the cut's leaf, and its gradient is then
    /// passed on into the shared layers. The model must be a `RepresentationModel`.
    public var representationGradients = false
    /// What a non-finite loss does: `.stop` throws `TrainingAnomaly` (the losses are read after the
    /// update, as always); `.skip` reads the losses and a gradient flag before the update and skips
    /// the update of a step where either is not finite.
    public var nonFinitePolicy: NonFinitePolicy = .stop
    /// Stop after this many validated epochs without a new best (nil: never). Needs validation data.
    public var earlyStoppingPatience: Int?
    /// Extra checkpoint metadata (the CLI stores its recipe here); saved and restored with the
    /// trainer's own.
    public var checkpointMetadata: [String: String] = [:]
    /// Stop auxiliary tasks on their own by TCDCN's criterion (nil: never). Needs validation data and
    /// a weighting whose step is one backward (a stopped task's gradient is zero from then on).
    public var auxiliaryStopping: AuxiliaryStopping?
    /// The auxiliary tasks stopped so far: task index → the epoch after which it stopped. Derived from
    /// `history`, so a resumed run has the same.
    public internal(set) var stoppedAuxiliaryTasks: [Int: Int] = [:]
    /// `stoppedAuxiliaryTasks` by name, in task order: each stopped task and the epoch after which
    /// it stopped (0-based).
    public var auxiliaryStops: [(task: String, epoch: Int)] {
        stoppedAuxiliaryTasks.sorted { $0.key < $1.key }.map { (model.tasks[$0.key].name, $0.value) }
    }
    /// Ramp the adversarial heads' gradient reversal up over training (Ganin and Lempitsky 2015):
    /// before each step every `GradientReversal` of the model gets `rampScale(progress:)` at progress
    /// step ÷ `plannedSteps` (1 when no plan is known: a step outside `fit`).
    public var adversarialRamp = false
    /// The steps of the whole run, set by `fit` (epochs × batches per epoch).
    public internal(set) var plannedSteps: Int?
    /// The model's gradient reversal layers, found once.
    private var reversalLayers: [GradientReversal]?
    /// Data-parallel training over ranks (nil, or a group of one: this process alone). Every rank
    /// runs the same trainer; `fit` over a loader gives each its part of every global batch.
    public var dataParallel: DataParallel?

    /// Epochs completed.
    public internal(set) var epoch = 0
    /// Steps completed.
    public internal(set) var step = 0
    /// Steps completed in the current epoch.
    public internal(set) var stepInEpoch = 0
    /// Per-epoch records of the run (kept in checkpoints, so a resumed run has them all).
    public internal(set) var history: [EpochReport] = []
    /// The best validated epoch and its score.
    public internal(set) var best: (epoch: Int, score: Double)?
    /// The model state of the best epoch, when `keepBestState` is set (kept in checkpoints too).
    public internal(set) var bestState: [(String, SavedTensor)]?
    /// Whether early stopping ended the run (kept in checkpoints: a resumed run stays stopped).
    public internal(set) var stoppedEarly = false
    /// Steps skipped under `NonFinitePolicy.skip`.
    public internal(set) var skippedSteps = 0

    /// Sums of the per-task losses over the current epoch's steps, and their count.
    var epochLossSums: [Double]
    var epochLossCount = 0
    /// Each task's main metric at the first validated epoch (the reference of the normalised score).
    var referenceMetrics: [Double]?
    private var stopRequested = false

    /// A trainer of `model` on `device` with `optimizer` and `weighting`. The optimizer must include
    /// the weighting's own parameters (UW's log-variances, GradNorm's weights).
    public init(model: any MultiTaskModel, optimizer: any Optimizer, weighting: any LossWeighting, device: any Device,
                sampling: TaskSampling = .all, baselines: [String: [String: Double]]? = nil, keepBestState: Bool = false) throws {
        let optimized = Set(optimizer.parameters.map(ObjectIdentifier.init))
        if let missing = weighting.parameters.first(where: { !optimized.contains(ObjectIdentifier($0)) }) {
            throw TandemError.invalidArgument(
                op: "Trainer", message: "the optimizer does not update \(weighting.name)'s parameter \(missing.name ?? "") \(missing); add weighting.parameters to it")
        }
        if let wrong = (model.parameters + weighting.parameters).first(where: { $0.device !== device }) {
            throw TandemError.invalidArgument(
                op: "Trainer", message: "parameter \(wrong.name ?? "") is \(wrong), the trainer runs on \(device.info.selector)")
        }
        guard !model.tasks.isEmpty else { throw TandemError.invalidArgument(op: "Trainer", message: "the model has no tasks") }
        self.model = model
        self.optimizer = optimizer
        self.weighting = weighting
        self.device = device
        self.sampling = sampling
        self.baselines = baselines
        self.keepBestState = keepBestState
        epochLossSums = [Double](repeating: 0, count: model.tasks.count)
    }

    /// Number of tasks.
    public var taskCount: Int { model.tasks.count }

    /// Asks `fit` to stop after the current step (from a callback).
    public func requestStop() { stopRequested = true }

    /// The task trained at global step `step` under `.oneTaskPerStep(seed)`.
    public static func sampledTask(seed: UInt64, step: Int, tasks: Int) -> Int {
        var random = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: step) &* 0xd1b5_4a32_d192_ed03))
        return Int(random.next() % UInt64(tasks))
    }

    /// Checks that `batch` has one target per task, on the trainer's device.
    func check(_ batch: TrainingBatch, op: String) throws {
        try batch.validate()
        guard batch.targets.count == taskCount, batch.input.device === device else {
            throw TandemError.invalidArgument(
                op: op, message: "batch with \(batch.targets.count) targets on \(batch.input.device.info.selector); the model has \(taskCount) tasks on \(device.info.selector)")
        }
    }

    /// The per-task losses of `batch` (graph attached), in task order.
    func losses(of batch: TrainingBatch) throws -> [Tensor] {
        try losses(batch, outputs: try model.forward(batch.input))
    }

    /// The per-task losses of `outputs` against `batch`'s targets.
    func losses(_ batch: TrainingBatch, outputs: [Tensor]) throws -> [Tensor] {
        guard outputs.count == taskCount else {
            throw TandemError.invalidArgument(op: "Trainer", message: "model returned \(outputs.count) outputs for \(taskCount) tasks")
        }
        return try model.tasks.indices.map { t in
            try model.tasks[t].maskedLoss(outputs[t], batch.targets[t], mask: batch.masks[t])
        }
    }

    /// One training step on `batch`: returns each task's loss (before the update). Reads the losses
    /// from the device once. A non-finite loss throws `TrainingAnomaly` (or, under `.skip`, skips the
    /// update).
    ///
    /// In data-parallel training every rank calls this with its own part of the global batch; the
    /// gradients, the task-gradient matrices of gradient methods and the losses are combined across
    /// ranks, weighted by the parts' sample counts, before the update (see `DataParallel`).
    @discardableResult
    public func trainStep(_ batch: TrainingBatch) throws -> [Float] {
        try check(batch, op: "Trainer.trainStep")
        let group = (dataParallel?.size ?? 1) > 1 ? dataParallel : nil
        if let group {
            guard !representationGradients else {
                throw TandemError.invalidArgument(op: "Trainer", message: "gradients at the shared representation (rep_grad, GradDrop) are per sample and cannot be combined across \(group.size) ranks; train without --rep-grad, or on one rank")
            }
            if !group.synchronized { try group.broadcastState(model: model, weighting: weighting) }
            var counts = [Double(batch.sampleCount)]
            try group.communicator.allReduce(&counts, .sum)
            group.share = Double(batch.sampleCount) / counts[0]
        }
        let started = group == nil ? 0 : DataParallel.now()
        let pass = { try DataParallel.$active.withValue(group) { try self.backwardPass(batch) } }
        let (losses, sampled, finite) = try group?.synchronizesBatchNorm == true
            ? SynchronizedBatchNorm.$replicas.withValue(group, operation: pass) : pass()
        let stacked = try Tensor.withoutGradient { try Tensor.stack(losses.map { try $0.detach().reshape([]) }) }
        var combined: (losses: [Float], finite: Bool)?
        if let group {
            // The losses already hold the global batch's values (`DataParallel.globalLosses`).
            let global = try stacked.values()
            combined = (global, finite ?? true && global.allSatisfy(\.isFinite))
            try group.recordStep(samples: batch.sampleCount, seconds: DataParallel.now() - started, step: step)
        }
        if let gradientClipNorm { try Tensor.clipGradientNorm(optimizer.parameters, maxNorm: gradientClipNorm) }
        var values: [Float]
        var skipped = false
        switch nonFinitePolicy {
        case .stop:
            try optimizer.step()
            values = try combined?.losses ?? stacked.values()
            if let t = values.firstIndex(where: { !$0.isFinite }) {
                throw try anomaly(task: t, value: values[t])
            }
        case .skip:
            if let combined {
                values = combined.losses
                skipped = !combined.finite
            } else {
                // One read before the update: the losses and 0 (or NaN when a gradient is not finite).
                let flag = try Tensor.withoutGradient { () -> Tensor in
                    var total = try Tensor.zeros([1], on: device)
                    for grad in optimizer.parameters.compactMap(\.grad) { total = try total + grad.reshape([grad.count]).sum().reshape([1]) }
                    return try total * 0
                }
                let read = try Tensor.withoutGradient { try Tensor.concat([stacked, flag], axis: 0) }.values()
                values = Array(read.prefix(taskCount))
                skipped = !read.allSatisfy(\.isFinite)
            }
            if skipped {
                optimizer.zeroGrad()
                skippedSteps += 1
            } else {
                try optimizer.step()
            }
        }
        if !skipped {
            for (t, value) in values.enumerated() { epochLossSums[t] += Double(value) }
            epochLossCount += 1
        }
        step += 1
        stepInEpoch += 1
        let report = StepReport(epoch: epoch, step: step, stepInEpoch: stepInEpoch, losses: values, sampledTask: sampled,
                                learningRate: optimizer.learningRate, skipped: skipped)
        for callback in callbacks { try callback.trainer(self, didStep: report) }
        return values
    }

    /// The forward and the backward of a step: the per-task losses (graph attached) and the task
    /// trained alone under `.oneTaskPerStep`. Leaves the gradients, with the regularisation's, in `.grad`.
    private func backwardPass(_ batch: TrainingBatch) throws -> (losses: [Tensor], sampled: Int?, finite: Bool?) {
        model.train()
        try (model as? any EpochScheduledModel)?.schedule(epoch: epoch)
        if let restarting = model as? any ReinitializingModel {
            let fresh = restarting.takeReinitialized()
            if !fresh.isEmpty { (optimizer as? any ResettableOptimizer)?.resetState(of: fresh) }
        }
        if adversarialRamp {
            let layers = reversalLayers ?? GradientReversal.all(in: model)
            reversalLayers = layers
            let scale = GradientReversal.rampScale(progress: plannedSteps.map { Double(step) / Double(Swift.max(1, $0)) } ?? 1)
            for layer in layers { layer.scale = scale }
        }
        optimizer.zeroGrad()
        for parameter in weighting.parameters { parameter.grad = nil }
        if let schedule = learningRateSchedule { optimizer.learningRate = schedule.learningRate(at: step) }
        var cut: (representation: Tensor, leaf: Tensor)?
        var losses: [Tensor]
        if representationGradients {
            guard let split = model as? any RepresentationModel else {
                throw TandemError.invalidArgument(op: "Trainer", message: "gradients at the shared representation need a model with one (hps, mmoe), not \(type(of: model))")
            }
            losses = try self.losses(batch, outputs: try split.forward(batch.input) { representation in
                let leaf = representation.detachedLeaf()
                cut = (representation, leaf)
                return leaf
            })
        } else {
            losses = try self.losses(of: batch)
        }
        // A stopped auxiliary task keeps its loss (reported as before) but trains nothing.
        for t in stoppedAuxiliaryTasks.keys { losses[t] = try losses[t].reversingGradient(lambda: 0) }
        let group = DataParallel.active.flatMap { $0.size > 1 ? $0 : nil }
        if let group { losses = try group.globalLosses(losses) }
        var sampled: Int?
        let backward: () throws -> Void
        let oneBackward: Bool
        switch sampling {
        case .all:
            oneBackward = cut == nil && weighting.completesGradientsInOneBackward
            backward = { [self] in
                if let cut {
                    try weighting.backward(losses: losses, model: try RepresentationCut(model, leaf: cut.leaf))
                } else {
                    try weighting.backward(losses: losses, model: model)
                }
            }
        case .oneTaskPerStep(let seed):
            let t = Self.sampledTask(seed: seed, step: step, tasks: taskCount)
            sampled = t
            oneBackward = true
            backward = { try losses[t].backward(releasingGraph: true) }
        }
        var finite: Bool?
        if let group {
            // Gradients combined across ranks in buckets, overlapping the backward where it is one.
            finite = try group.backwardCombining(parameters: optimizer.parameters, overlapping: oneBackward, backward)
        } else {
            try backward()
        }
        if let cut, let gradient = cut.leaf.grad { try cut.representation.backward(gradient: gradient, releasingGraph: true) }
        // The penalty depends on the parameters alone, the same on every rank: its gradient is added
        // after the combination.
        if let penalty = try model.regularization() { try penalty.backward() }
        return (losses, sampled, finite)
    }

    /// The name of the first model parameter, buffer or weighting parameter holding a NaN or an
    /// infinity, with that value; nil when all are finite. Reads every state tensor (used when
    /// something already went wrong, and once per epoch).
    public func firstNonFiniteTensor() throws -> (name: String, value: Float)? {
        for (name, tensor) in try model.stateDict() {
            if let bad = tensor.values.first(where: { !$0.isFinite }) { return (name, bad) }
        }
        for (i, parameter) in weighting.parameters.enumerated() {
            if let bad = try parameter.values().first(where: { !$0.isFinite }) { return ("\(weighting.name).parameters[\(i)]", bad) }
        }
        return nil
    }

    /// The error for task `t`'s non-finite loss `value` at the current step.
    func anomaly(task t: Int, value: Float) throws -> TrainingAnomaly {
        TrainingAnomaly(step: step + 1, epoch: epoch, task: model.tasks[t].name, what: "loss is \(value)",
                        firstBadTensor: try firstNonFiniteTensor())
    }

    /// Per-task losses and metrics over `batches`, in evaluation mode without gradients (the model's
    /// mode is restored afterwards). Predictions are read to the host.
    public func evaluate(_ batches: [TrainingBatch]) throws -> EvaluationResult {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        var accumulators = model.tasks.map { MetricAccumulator(kind: $0.kind) }
        var lossSums = [Double](repeating: 0, count: taskCount)
        var samples = 0
        try Tensor.withoutGradient {
            for batch in batches {
                try check(batch, op: "Trainer.evaluate")
                let outputs = try model.forward(batch.input)
                guard outputs.count == taskCount else {
                    throw TandemError.invalidArgument(op: "Trainer.evaluate", message: "model returned \(outputs.count) outputs for \(taskCount) tasks")
                }
                let losses = try model.tasks.indices.map { t in
                    try model.tasks[t].maskedLoss(outputs[t], batch.targets[t], mask: batch.masks[t]).reshape([])
                }
                let values = try Tensor.stack(losses).values()
                let n = batch.sampleCount
                samples += n
                for t in 0..<taskCount {
                    lossSums[t] += Double(values[t]) * Double(n)
                    try accumulators[t].add(prediction: outputs[t].values(), predictionShape: outputs[t].shape,
                                            target: batch.targets[t].values(), targetShape: batch.targets[t].shape,
                                            mask: batch.masks[t]?.values())
                }
            }
        }
        return EvaluationResult(tasks: model.tasks.indices.map { t in
            TaskMetrics(task: model.tasks[t].name, loss: samples == 0 ? 0 : lossSums[t] / Double(samples), metrics: accumulators[t].result(),
                        auxiliary: model.tasks[t].auxiliary)
        })
    }

    /// The best-epoch score of `result`: Δm against `baselines` when set, else the normalised mean of
    /// main metrics (see the type's documentation). The first call without baselines fixes the reference.
    func score(_ result: EvaluationResult) throws -> (score: Double, deltaM: Double?) {
        if let baselines {
            let deltaM = try DeltaM.compute(result, baselines: baselines)
            return (deltaM, deltaM)
        }
        let primary = result.primary
        let mains = primary.map { $0.main?.value ?? 0 }
        let reference = referenceMetrics ?? mains
        referenceMetrics = reference
        var total = 0.0
        for (t, task) in primary.enumerated() {
            let relative = (mains[t] - reference[t]) / Swift.max(Swift.abs(reference[t]), 1e-12)
            total += (task.main?.higherIsBetter ?? true) ? relative : -relative
        }
        return (total / Double(Swift.max(1, primary.count)), nil)
    }

    /// Ends the current epoch: passes the epoch-mean losses to the weighting, validates on
    /// `validation` (when not empty), updates the best epoch, and calls the callbacks.
    @discardableResult
    public func endEpoch(validation: [TrainingBatch] = []) throws -> EpochReport {
        // The per-step check reads only the losses; a parameter or buffer that went bad without
        // reaching a loss (a batch-norm running statistic) is caught here, before validation and
        // before any checkpoint of this epoch.
        if let group = dataParallel, group.size > 1 { try group.broadcastBuffers(of: model) }
        if let bad = try firstNonFiniteTensor() {
            throw TrainingAnomaly(step: step, epoch: epoch, task: nil, what: "a tensor is not finite at the end of the epoch", firstBadTensor: bad)
        }
        let means = epochLossSums.map { Float(epochLossCount == 0 ? 0 : $0 / Double(epochLossCount)) }
        try weighting.endEpoch(meanLosses: means)
        var result: EvaluationResult?
        var deltaM: Double?, score: Double?
        var isBest = false
        if !validation.isEmpty {
            let evaluation = try evaluate(validation)
            let scored = try self.score(evaluation)
            result = evaluation
            (score, deltaM) = (scored.score, scored.deltaM)
            // Epochs before a phased model's final network (AdaShare's search) cannot be chosen.
            let final = (model as? any PhasedModel)?.isFinal(epoch: epoch) ?? true
            if final, best.map({ scored.score > $0.score }) ?? true {
                best = (epoch, scored.score)
                isBest = true
                if keepBestState { bestState = try model.stateDict() }
            }
            if final, let patience = earlyStoppingPatience, let best, !isBest, epoch - best.epoch >= patience {
                stoppedEarly = true
                stopRequested = true
            }
        }
        let report = EpochReport(epoch: epoch, trainLosses: means, validation: result, deltaM: deltaM, score: score,
                                 isBest: isBest, weights: try weighting.currentWeights())
        history.append(report)
        updateAuxiliaryStops()
        epoch += 1
        stepInEpoch = 0
        epochLossSums = [Double](repeating: 0, count: taskCount)
        epochLossCount = 0
        for callback in callbacks { try callback.trainer(self, didEndEpoch: report) }
        return report
    }

    /// Recomputes `stoppedAuxiliaryTasks` from `history`: each auxiliary task stops at the first
    /// validated epoch where `auxiliaryStopping` says so.
    func updateAuxiliaryStops() {
        stoppedAuxiliaryTasks = auxiliaryStopping?.stops(history: history, auxiliary: model.tasks.map(\.auxiliary)) ?? [:]
    }

    /// Trains until `epochs` epochs are complete (a resumed trainer continues where it stopped: the
    /// batches of the current epoch it has already trained on are skipped without being made).
    /// Epoch e has `batchCount(e)` batches and `batch(e, i)` makes its i-th; both must give the same
    /// answer on every call (for exact resume). `validation` is evaluated after each epoch. Returns the
    /// reports of the epochs run by this call.
    @discardableResult
    public func fit(epochs: Int, batchCount: (_ epoch: Int) throws -> Int,
                    batch: (_ epoch: Int, _ index: Int) throws -> TrainingBatch,
                    validation: [TrainingBatch] = []) throws -> [EpochReport] {
        stopRequested = stoppedEarly
        plannedSteps = try (0..<epochs).reduce(0) { $0 + (try batchCount($1)) }
        var reports: [EpochReport] = []
        while epoch < epochs, try !agreedStop() {
            let count = try batchCount(epoch)
            var index = stepInEpoch
            while index < count, try !agreedStop() {
                try trainStep(try batch(epoch, index))
                index += 1
            }
            if stopRequested, index < count { break }
            reports.append(try endEpoch(validation: validation))
        }
        return reports
    }

    /// Whether to stop before the next step. In data-parallel training the ranks agree: one rank's
    /// stop request (an interrupt, early stopping) stops every rank before the same step, so that
    /// none waits in a collective for a rank that has left the loop.
    private func agreedStop() throws -> Bool {
        guard let group = dataParallel, group.size > 1 else { return stopRequested }
        var flag = [stopRequested ? 1.0 : 0.0]
        try group.communicator.allReduce(&flag, .max)
        stopRequested = flag[0] > 0
        return stopRequested
    }

    /// `fit` over the same `train` batches each epoch, in an order shuffled per epoch from
    /// `shuffleSeed` (a pure function of the seed and the epoch) when it is set.
    @discardableResult
    public func fit(epochs: Int, train: [TrainingBatch], validation: [TrainingBatch] = []) throws -> [EpochReport] {
        var order: (epoch: Int, indices: [Int]) = (-1, [])
        return try fit(epochs: epochs, batchCount: { _ in train.count }, batch: { epoch, index in
            guard let seed = self.shuffleSeed else { return train[index] }
            if order.epoch != epoch {
                var random = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0x9e37_79b9_7f4a_7c15))
                order = (epoch, Array(train.indices).shuffled(using: &random))
            }
            return train[order.indices[index]]
        }, validation: validation)
    }

    /// `fit` over a data loader's epochs (its seeded order makes resuming exact), uploading each batch
    /// to the trainer's device as it is needed. The loader's tasks must be the model's, in order.
    @discardableResult
    public func fit(epochs: Int, train: DataLoader, validation: [TrainingBatch] = []) throws -> [EpochReport] {
        let names = train.dataset.tasks.map(\.name)
        guard names == model.tasks.map(\.name) else {
            throw TandemError.invalidArgument(
                op: "Trainer.fit", message: "data set \(train.dataset.name) has tasks \(names), the model \(model.tasks.map(\.name))")
        }
        // Data-parallel: every rank walks the same global batches and makes only its part of each;
        // a final batch with fewer samples than ranks is skipped on every rank.
        let group = (dataParallel?.size ?? 1) > 1 ? dataParallel : nil
        var indices: (epoch: Int, batches: [[Int]]) = (-1, [])
        func batches(_ epoch: Int) -> [[Int]] {
            if indices.epoch != epoch {
                var all = train.batchIndices(epoch: epoch)
                if let group {
                    let kept = all.filter { $0.count >= group.size }
                    group.skippedBatches += all.count - kept.count
                    all = kept
                }
                indices = (epoch, all)
            }
            return indices.batches
        }
        return try fit(epochs: epochs, batchCount: { batches($0).count }, batch: { epoch, index in
            var chosen = batches(epoch)[index]
            if let group, let part = group.shard(chosen) { chosen = part.indices }
            return try TrainingBatch(train.dataset.batch(chosen), tasks: train.dataset.tasks, on: self.device)
        }, validation: validation)
    }
}
