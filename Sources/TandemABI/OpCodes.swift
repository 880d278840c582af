/// Elementwise functions of one input; `scalar` is the parameter of the ops that take one.
/// Kernels read them as `UNARY_*` (`Kernels/elementwise.cl`).
public enum UnaryOp: Int32, KernelEnumeration {
    case neg, exp, log, sqrt, relu, sigmoid, tanh, abs
    /// `x^scalar`.
    case pow
    /// `x + scalar`, `x · scalar`.
    case addScalar, mulScalar
    /// `max(x, scalar)`, `min(x, scalar)`.
    case maxScalar, minScalar
    /// 1 where `x > scalar`, `x == scalar`, `x != scalar`, else 0.
    case greaterScalar, equalScalar, notEqualScalar
    /// `sign(x)` (0 at 0), `1/x`, `x²`.
    case sign, reciprocal, square
    /// 1 where x is NaN, else 0; x with NaN replaced by `scalar`.
    case isNaN, replaceNaN
    /// log(1 + eˣ).
    case softplus

    public static let cPrefix = "UNARY"
    public static let kernelsHandleEveryCase = true
}

/// Elementwise functions of two inputs, with NumPy broadcasting (`BINARY_*` in kernels).
public enum BinaryOp: Int32, KernelEnumeration {
    case add, sub, mul, div, max, min
    /// 1 where `a > b`, `a == b`, else 0.
    case greater, equal
    /// `a` where `b > 0`, else 0: ReLU's gradient in one pass (no mask tensor, and a NaN or
    /// infinite gradient stays out where the unit is off, as in PyTorch).
    case gate

    public static let cPrefix = "BINARY"
    public static let kernelsHandleEveryCase = true
}

/// Reductions along one axis (`REDUCE_*` in kernels).
public enum ReduceOp: Int32, KernelEnumeration {
    case sum, max

    public static let cPrefix = "REDUCE"
    public static let kernelsHandleEveryCase = true
}

/// The flags of the batch-norm kernels (`BN_*`), one word of type `BatchNormFlags`.
public enum BatchNormFlag: Int32, KernelFlagSet {
    /// Batch statistics (else the running ones).
    case training
    /// Update the running mean, the running variance (training).
    case runningMean, runningVar
    /// A weight, a bias buffer is given (else 1 and 0).
    case weight, bias
    /// Write max(y, 0).
    case relu
    /// The backward also writes the weight's, the bias's gradient.
    case weightGradient, biasGradient

    public static let cPrefix = "BN"
    public static let cTypeName = "BatchNormFlags"
}
