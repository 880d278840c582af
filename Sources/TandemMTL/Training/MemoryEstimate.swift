import TandemCore
import TandemNN

/// What one training step of a model needs from a device, found by running two steps of it on a
/// `DryRunDevice` at the real input shape and batch: every tensor the model, the losses, the
/// weighting's backward and the optimizer make is counted with its real size and lifetime, and each
/// convolution pass with the scratch the device's algorithm takes, while nothing is allocated (a
/// step of a model that needs terabytes is counted in milliseconds). `TrainingSetup.estimateMemory`
/// makes one; `check(fits:)` refuses a step the device cannot hold, before its buffers are built.
///
/// Within the device's pool the count is exact (the same tensors and 256-byte rounding); what it
/// leaves out is small or outside the pool: per-channel scratch inside primitives, the CPU GEMM's
/// regrouping buffer for batched products with a shared operand, host copies of the data.
public struct MemoryEstimate: Sendable, Equatable {
    /// The model, input shape and batch, as messages name them (`mtan on [3, 64, 64] with batch 8`).
    public var subject: String
    /// Samples per step.
    public var batch: Int
    /// Weights and buffers (batch-norm statistics) of the model and of the loss weighting.
    public var parameterBytes: Int
    /// The optimizer's state after a step: Adam's two moments, SGD's momentum.
    public var optimizerStateBytes: Int
    /// The most bytes held at once during a step: parameters, optimizer state, the batch, the
    /// activations kept for the backward, the gradients and the transient buffers (convolution
    /// scratch) together. What the device must hold.
    public var peakBytes: Int
    /// The largest single buffer of the step.
    public var largestBufferBytes: Int

    public init(subject: String, batch: Int, parameterBytes: Int, optimizerStateBytes: Int, peakBytes: Int, largestBufferBytes: Int) {
        self.subject = subject
        self.batch = batch
        self.parameterBytes = parameterBytes
        self.optimizerStateBytes = optimizerStateBytes
        self.peakBytes = peakBytes
        self.largestBufferBytes = largestBufferBytes
    }

    /// What the peak holds besides parameters and optimizer state: the batch, activations,
    /// gradients and scratch (all of which grow with the batch).
    public var stepBytes: Int { max(0, peakBytes - parameterBytes - optimizerStateBytes) }

    /// The estimate broken down, for messages.
    public var breakdown: String {
        "parameters \(ByteCount.describe(parameterBytes)), optimizer state \(ByteCount.describe(optimizerStateBytes)), "
            + "activations, gradients and scratch \(ByteCount.describe(stepBytes)) at the peak"
    }

    /// Throws `TandemError.trainingStepTooLarge`, with the numbers, when a step needs more than
    /// `device` has: more than its memory (`globalMemoryBytes`: physical memory for the CPU,
    /// `CL_DEVICE_GLOBAL_MEM_SIZE` for OpenCL), or one buffer above the largest it allows
    /// (`maxAllocationBytes`, `CL_DEVICE_MAX_MEM_ALLOC_SIZE`). A step is refused only when the estimate
    /// alone exceeds the device: the rest of the process (code, data, the pool's cache) comes on top,
    /// so a refused step could never have run, while one just under may still run out (and then
    /// fails naming the tensor, `TandemError.tensorAllocation`).
    public func check(fits device: DeviceInfo) throws {
        if device.globalMemoryBytes > 0, peakBytes > device.globalMemoryBytes {
            throw TandemError.trainingStepTooLarge(what: subject, device: device.description, needed: peakBytes,
                                                   available: device.globalMemoryBytes, singleBuffer: false, detail: breakdown)
        }
        if device.maxAllocationBytes > 0, largestBufferBytes > device.maxAllocationBytes {
            throw TandemError.trainingStepTooLarge(what: subject, device: device.description, needed: largestBufferBytes,
                                                   available: device.maxAllocationBytes, singleBuffer: true,
                                                   detail: "a training step needs about \(ByteCount.describe(peakBytes)) in all")
        }
    }
}

extension TrainingSetup {
    /// The memory one training step of `recipe`'s model needs on `device`, for `tasks` on inputs of
    /// `inputShape` with `labelCounts` regression targets per task, at `batch` samples per step
    /// (default the recipe's batch size): the model, weighting, optimizer and trainer built as
    /// `init` builds them, on a `DryRunDevice` standing for `device`, and two steps run on a batch of
    /// zeros (the second with the optimizer's state already made, as every later step has it). A
    /// device that is itself a dry run is estimated for the device it stands for.
    /// Nothing of the model is allocated, so this runs before the real one is built. Errors are the
    /// model's own (a model that does not fit the input shape), on the dry run.
    public static func estimateMemory(recipe: TrainingRecipe, tasks: [TaskSpec], inputShape: [Int], labelCounts: [Int]?,
                                      batch: Int? = nil, device: any Device) throws -> MemoryEstimate {
        let samples = batch ?? recipe.batchSize
        guard samples >= 1 else {
            throw TandemError.invalidArgument(op: "memory estimate", message: "a step needs at least one sample, got \(samples)")
        }
        let dry = DryRunDevice(standingFor: (device as? DryRunDevice)?.standIn ?? device)
        // Weights from labelled counts (`labelled`) do not change what a step holds: equal counts stand in.
        let setup = try TrainingSetup(recipe: recipe, tasks: tasks, inputShape: inputShape, labelCounts: labelCounts,
                                      stepsPerEpoch: 1, device: dry, labelledCounts: tasks.map { _ in 1 })
        let parameterBytes = dry.poolStatistics.bytesInUse
        // Targets shaped as the model's outputs ask (a class index per position for classification
        // and segmentation): the estimate is about the model, and a label that does not fit it is
        // reported where real data meets it. The probing forward keeps nothing and peaks below a
        // training step.
        let input = try Tensor.zeros([samples] + inputShape, on: dry)
        let outputShapes = try Tensor.withoutGradient { try setup.model.forward(input).map(\.shape) }
        let targets = try zip(tasks, outputShapes).map { task, shape -> Tensor in
            switch task.kind {
            case .classification, .segmentation:
                return try Tensor.zeros(shape.enumerated().filter { $0.offset != 1 }.map(\.element), on: dry)
            case .regression, .depth, .normals:
                return try Tensor.zeros(shape, on: dry)
            }
        }
        let step = try TrainingBatch(input: input, targets: targets)
        let batchBytes = dry.poolStatistics.bytesInUse - parameterBytes
        for _ in 0..<2 { try setup.trainer.trainStep(step) }
        setup.optimizer.zeroGrad()
        for parameter in setup.weighting.parameters { parameter.grad = nil }
        let stateBytes = dry.poolStatistics.bytesInUse - parameterBytes - batchBytes
        return MemoryEstimate(subject: "\(recipe.model) on \(inputShape) with batch \(samples)", batch: samples,
                              parameterBytes: parameterBytes, optimizerStateBytes: max(0, stateBytes),
                              peakBytes: dry.poolStatistics.peakBytesInUse, largestBufferBytes: dry.largestBufferBytes)
    }
}

extension TrainingSetup {
    /// The bytes a training step of `batch` samples of this setup's model needs at its peak on the
    /// trainer's device (`estimateMemory`; a dry run, nothing allocated): for choosing the largest
    /// batch that fits, or a device.
    public func estimatedTrainingBytes(batch: Int) throws -> Int {
        try Self.estimateMemory(recipe: recipe, tasks: model.tasks, inputShape: inputShape, labelCounts: labelCounts, batch: batch,
                                device: trainer.device).peakBytes
    }
}
