/// Debug switch for checking kernels: while on, every new op output starts as NaN, so an element a
/// kernel forgets to write shows up in the result instead of passing with stale pool contents.
public enum Poisoning {
    @TaskLocal public static var isEnabled = false

    /// Runs `body` with output poisoning on.
    public static func enabled<R>(_ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(true, operation: body)
    }
}
