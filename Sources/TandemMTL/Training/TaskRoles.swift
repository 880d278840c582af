import TandemCore
import TandemData

/// What the recipe makes of the data's tasks: primary, auxiliary or adversarial (an auxiliary task
/// whose head reads the shared features through a gradient reversal layer), and the added
/// reconstruction task.
extension TrainingRecipe {
    /// The name of the task `reconstruction` adds.
    public static let reconstructionTask = "reconstruction"

    /// Whether the task named `name` is auxiliary under this recipe.
    public func isAuxiliary(_ name: String) -> Bool {
        auxiliaryTasks.contains(name) || adversarialTasks.contains(name) || (reconstruction && name == Self.reconstructionTask)
    }

    /// The model-side tasks of `tasks` (all of a data set's, or the one of a single-task baseline)
    /// with the recipe's roles.
    public func taskSpecs(_ tasks: [DatasetTask]) -> [TaskSpec] {
        tasks.map { task in
            var spec = TaskSpec(task)
            spec.auxiliary = isAuxiliary(task.name)
            if adversarialTasks.contains(task.name) { spec.adversarialLambda = adversarialLambda }
            return spec
        }
    }

    /// Checks the roles against the data's tasks (`tasks`, with the reconstruction task when it is
    /// on): every named task exists, one task at least stays primary, an adversarial task is a
    /// per-sample one, auxiliary stopping has an auxiliary task to stop, and no more tasks are drawn
    /// per step than there are.
    public func checkTaskRoles(_ tasks: [DatasetTask]) throws {
        func fail(_ message: String) -> TandemError { .invalidArgument(op: "recipe", message: message) }
        let names = tasks.map(\.name)
        for (option, list) in [("auxiliary", auxiliaryTasks), ("adversarial", adversarialTasks)] {
            if let unknown = list.first(where: { !names.contains($0) }) {
                throw fail("\(option) task '\(unknown)' is not a task of \(data); its tasks are \(names.joined(separator: ", "))")
            }
        }
        guard names.contains(where: { !isAuxiliary($0) }) else {
            throw fail("every task of \(data) (\(names.joined(separator: ", "))) is auxiliary; one at least must stay primary")
        }
        for task in tasks where adversarialTasks.contains(task.name) {
            switch task.kind {
            case .classification, .regression: break
            default: throw fail("adversarial task '\(task.name)' is per pixel; a gradient reversal head is built for per-sample tasks")
            }
        }
        if let k = tasksPerStep, k > names.count {
            throw fail("tasks per step (\(k)) exceeds the \(names.count) tasks of \(data) (\(names.joined(separator: ", ")))")
        }
        if auxiliaryStopping, !names.contains(where: isAuxiliary) {
            throw fail("stopping auxiliary tasks needs one: mark tasks with --auxiliary or --adversarial, or add --reconstruct")
        }
    }
}
