import TandemCore

/// Batch normalisation over channel axis 1 of [N, C] or [N, C, H, W], with learned scale and
/// shift and running statistics used in evaluation mode (PyTorch's BatchNorm1d/2d).
public final class BatchNorm: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor
    public let runningMean: Tensor
    public let runningVar: Tensor
    public let momentum: Float
    public let epsilon: Float

    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, on device: any Device) throws {
        guard channels > 0 else { throw TandemError.invalidArgument(op: "BatchNorm", message: "channels must be positive, got \(channels)") }
        weight = try Tensor.ones([channels], on: device, requiresGrad: true)
        bias = try Tensor.zeros([channels], on: device, requiresGrad: true)
        runningMean = try Tensor.zeros([channels], on: device)
        runningVar = try Tensor.ones([channels], on: device)
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try callAsFunction(x, relu: false) }

    /// `sigmoid(layer(x)) ⊙ features` as one op that keeps no normalised tensor (MTAN's attention
    /// masks end in a BatchNorm and gate features with its sigmoid).
    public func attentionGate(_ x: Tensor, features: Tensor) throws -> Tensor {
        if let replicas = synchronizedReplicas {
            return try synchronized(x, replicas).sigmoid() * features
        }
        return try x.batchNormAttentionGate(features: features, runningMean: runningMean, runningVar: runningVar, weight: weight,
                                     bias: bias, training: isTraining, momentum: momentum, epsilon: epsilon)
    }

    /// The layer followed by a ReLU, in one pass (`Sequential` uses it for BatchNorm → ReLU).
    public func callAsFunction(_ x: Tensor, relu: Bool) throws -> Tensor {
        if let replicas = synchronizedReplicas {
            let y = try synchronized(x, replicas)
            return relu ? try y.relu() : y
        }
        return try x.batchNorm(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                        training: isTraining, momentum: momentum, epsilon: epsilon, relu: relu)
    }

    /// The replicas whose statistics this training forward shares (data-parallel training with
    /// synchronised batch norm); nil in evaluation mode or otherwise.
    private var synchronizedReplicas: (any ReplicaSums)? { isTraining ? SynchronizedBatchNorm.replicas : nil }

    private func synchronized(_ x: Tensor, _ replicas: any ReplicaSums) throws -> Tensor {
        try x.synchronizedBatchNorm(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                    momentum: momentum, epsilon: epsilon, replicas: replicas)
    }
}
