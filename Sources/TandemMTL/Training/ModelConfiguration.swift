import TandemCore
import TandemData
import TandemSupport

/// The JSON configuration of the C API's `tandem_model_create`, validated (see `include/tandem.h`,
/// CONFIGURATION). In the core modules so that the configuration fuzz target can reach it without the
/// devices behind the C API.
public struct ModelConfiguration: Sendable {
    public struct Task: Sendable {
        public var name: String
        public var kind: TaskKind
        /// Regression targets per sample (1 for the other kinds).
        public var outputs: Int
        /// Trained but left out of Δm and the best-epoch score (`TaskSpec.auxiliary`).
        public var auxiliary = false
        /// Its head behind a gradient reversal layer of this λ (an adversarial, auxiliary task).
        public var adversarialLambda: Float?
        /// The kind as the data layer names it (for `LabelCheck`).
        public var labelKind: LabelKind {
            switch kind {
            case let .classification(classes): .classification(classes: classes)
            case .regression: .regression
            case let .segmentation(classes): .segmentation(classes: classes)
            case .depth: .depth
            case .normals: .normals
            }
        }
    }

    public var model: String
    public var inputShape: [Int]
    public var tasks: [Task]
    public var weighting = "ew"
    public var weights: [Float]?
    public var weightingArguments: [String: String] = [:]
    public var optimizer = "adam"
    public var learningRate: Float?
    public var momentum: Float = 0.9
    public var weightDecay: Float?
    public var device: String?
    public var seed: UInt64 = 0
    public var batchSize = 32
    public var gradientClip: Float?
    public var onNonFinite = NonFinitePolicy.stop
    public var representationGradients = false

    public static let keys = ["model", "architecture", "input_shape", "tasks", "weighting", "weights", "weighting_args", "optimizer", "lr",
                       "momentum", "weight_decay", "device", "seed", "batch_size", "grad_clip", "on_nan", "rep_grad"]
    public static let kinds = ["classification", "regression", "segmentation", "depth", "normals"]

    /// The configuration in `text`; throws `TandemError.invalidArgument` (op "configuration") saying
    /// what is wrong (the C API returns it as `TANDEM_ERROR_CONFIG`).
    public init(parsing text: String) throws {
        func fail(_ message: String) -> TandemError { .invalidArgument(op: "configuration", message: message) }
        let json: JSON
        do {
            json = try JSON.parse(text)
        } catch {
            throw fail("\(error)")
        }
        guard case let .object(fields) = json else { throw fail("expected a JSON object, got \(json.typeName)") }
        for (key, _) in fields where !Self.keys.contains(key) {
            throw fail("unknown key '\(key)'; known keys: \(Self.keys.joined(separator: ", "))")
        }

        func string(_ key: String, _ value: JSON) throws -> String {
            guard case let .string(text) = value else { throw fail("'\(key)' must be a string, got \(value.typeName)") }
            return text
        }
        func number(_ key: String, _ value: JSON) throws -> Double {
            guard case let .number(number) = value else { throw fail("'\(key)' must be a number, got \(value.typeName)") }
            return number
        }
        func integer(_ key: String, _ value: JSON, minimum: Int, maximum: Int = 1 << 40) throws -> Int {
            let number = try number(key, value)
            guard number == number.rounded(), number >= Double(minimum), number <= Double(maximum) else {
                throw fail("'\(key)' must be an integer in \(minimum)...\(maximum), got \(number)")
            }
            return Int(number)
        }
        func float(_ key: String, _ value: JSON, positive: Bool = false) throws -> Float {
            let number = try number(key, value)
            guard number.isFinite, number >= 0, !positive || number > 0, number < 1e30 else {
                throw fail("'\(key)' must be a \(positive ? "positive" : "non-negative") number, got \(number)")
            }
            return Float(number)
        }

        if json["model"] != nil && json["architecture"] != nil { throw fail("give 'model' or 'architecture', not both") }
        guard let modelValue = json["model"] ?? json["architecture"] else {
            throw fail("'model' is required: one of \(ModelFactory.names.joined(separator: ", "))")
        }
        model = try string("model", modelValue)
        guard ModelFactory.names.contains(model) else {
            throw fail("unknown model '\(model)'; available: \(ModelFactory.names.joined(separator: ", "))")
        }

        guard let shapeValue = json["input_shape"] else { throw fail("'input_shape' is required, e.g. [16] or [1, 28, 28]") }
        guard case let .array(dims) = shapeValue, (1...3).contains(dims.count) else {
            throw fail("'input_shape' must be an array of 1 to 3 positive integers")
        }
        inputShape = try dims.map { try integer("input_shape", $0, minimum: 1, maximum: 1 << 20) }
        guard inputShape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) <= 1 << 26 else {
            throw fail("'input_shape' \(inputShape) is too large")
        }

        guard let tasksValue = json["tasks"] else { throw fail("'tasks' is required: an array of task objects") }
        guard case let .array(taskValues) = tasksValue, !taskValues.isEmpty, taskValues.count <= 64 else {
            throw fail("'tasks' must be an array of 1 to 64 task objects")
        }
        var tasks: [Task] = []
        for (i, value) in taskValues.enumerated() {
            guard case let .object(taskFields) = value else { throw fail("task \(i) must be an object, got \(value.typeName)") }
            for (key, _) in taskFields where !["name", "kind", "classes", "outputs", "auxiliary", "adversarial_lambda"].contains(key) {
                throw fail("task \(i): unknown key '\(key)'; known keys: name, kind, classes, outputs, auxiliary, adversarial_lambda")
            }
            guard let nameValue = value["name"] else { throw fail("task \(i) needs a 'name'") }
            let name = try string("name", nameValue)
            guard !name.isEmpty, !tasks.contains(where: { $0.name == name }) else {
                throw fail("task \(i): names must be non-empty and unique, got '\(name)'")
            }
            guard let kindValue = value["kind"] else { throw fail("task '\(name)' needs a 'kind': \(Self.kinds.joined(separator: ", "))") }
            let kindName = try string("kind", kindValue)
            let classes = try value["classes"].map { try integer("classes", $0, minimum: 2, maximum: 1 << 16) }
            let outputs = try value["outputs"].map { try integer("outputs", $0, minimum: 1, maximum: 1 << 16) }
            let kind: TaskKind
            switch kindName {
            case "classification", "segmentation":
                guard let classes else { throw fail("task '\(name)' (\(kindName)) needs 'classes' (at least 2)") }
                kind = kindName == "classification" ? .classification(classes: classes) : .segmentation(classes: classes)
            case "regression": kind = .regression
            case "depth": kind = .depth
            case "normals": kind = .normals
            default: throw fail("task '\(name)': unknown kind '\(kindName)'; kinds: \(Self.kinds.joined(separator: ", "))")
            }
            if classes != nil, kindName != "classification", kindName != "segmentation" {
                throw fail("task '\(name)': 'classes' applies to classification and segmentation only")
            }
            if outputs != nil, kindName != "regression" { throw fail("task '\(name)': 'outputs' applies to regression only") }
            var task = Task(name: name, kind: kind, outputs: outputs ?? 1)
            if let flag = value["auxiliary"] {
                guard case let .bool(on) = flag else { throw fail("task '\(name)': 'auxiliary' must be true or false") }
                task.auxiliary = on
            }
            if let lambda = value["adversarial_lambda"] {
                let strength = try float("adversarial_lambda", lambda)
                guard strength.isFinite, strength > 0 else {
                    throw fail("task '\(name)': 'adversarial_lambda' must be finite and positive, got \(strength)")
                }
                task.adversarialLambda = strength
                task.auxiliary = true
            }
            tasks.append(task)
        }
        guard tasks.contains(where: { !$0.auxiliary }) else { throw fail("every task is auxiliary; one at least must stay primary") }
        self.tasks = tasks

        if let value = json["weighting"] {
            weighting = try string("weighting", value)
            guard WeightingMethods.names.contains(weighting) else {
                throw fail("unknown weighting '\(weighting)'; available: \(WeightingMethods.names.joined(separator: ", "))")
            }
        }
        if let value = json["weights"] {
            guard case let .array(items) = value, items.count == tasks.count else {
                throw fail("'weights' must be an array of \(tasks.count) numbers (one per task)")
            }
            weights = try items.map { try float("weights", $0) }
        }
        if weighting == "fixed", weights == nil { throw fail("weighting 'fixed' needs 'weights' (one per task)") }
        if let value = json["weighting_args"] {
            guard case let .object(items) = value else { throw fail("'weighting_args' must be an object of settings") }
            do {
                weightingArguments = try WeightingSettings.arguments(items, source: "'weighting_args'")
                _ = try WeightingSettings(method: weighting, arguments: weightingArguments)
            } catch let error as TandemError {
                throw fail("\(error)")
            }
        }
        if let value = json["optimizer"] {
            optimizer = try string("optimizer", value)
            guard ["sgd", "adam", "adamw"].contains(optimizer) else { throw fail("unknown optimizer '\(optimizer)'; available: sgd, adam, adamw") }
        }
        learningRate = try json["lr"].map { try float("lr", $0, positive: true) }
        if let value = json["momentum"] {
            momentum = try float("momentum", value)
            guard momentum < 1 else { throw fail("'momentum' must be below 1") }
        }
        weightDecay = try json["weight_decay"].map { try float("weight_decay", $0) }
        device = try json["device"].map { try string("device", $0) }
        if let value = json["seed"] { seed = UInt64(try integer("seed", value, minimum: 0, maximum: 1 << 53)) }
        if let value = json["batch_size"] { batchSize = try integer("batch_size", value, minimum: 1, maximum: 1 << 20) }
        gradientClip = try json["grad_clip"].map { try float("grad_clip", $0, positive: true) }
        if let value = json["rep_grad"] {
            guard case let .bool(flag) = value else { throw fail("'rep_grad' must be true or false") }
            if flag, weighting == "gradnorm" { throw fail("'rep_grad' cannot be combined with gradnorm, which measures norms at the last shared weight") }
            representationGradients = flag
        }
        if weighting == "graddrop", !representationGradients { throw fail("'graddrop' works at the shared representation: add \"rep_grad\": true") }
        if let value = json["on_nan"] {
            let name = try string("on_nan", value)
            guard let policy = NonFinitePolicy(rawValue: name) else { throw fail("'on_nan' must be \"stop\" or \"skip\", got '\(name)'") }
            onNonFinite = policy
        }
    }

    public var taskSpecs: [TaskSpec] {
        tasks.map { task in
            var spec = TaskSpec(task.name, task.kind)
            spec.auxiliary = task.auxiliary
            spec.adversarialLambda = task.adversarialLambda
            return spec
        }
    }

    /// Each task's label shape per sample (the sample dimension excluded).
    public var labelShapes: [[Int]] {
        let spatial = inputShape.count == 3 ? Array(inputShape[1...]) : []
        return tasks.map { task in
            switch task.kind {
            case .classification: return []
            case .regression: return task.outputs == 1 ? [] : [task.outputs]
            case .segmentation: return spatial
            case .depth: return [1] + spatial
            case .normals: return [3] + spatial
            }
        }
    }

    /// The configuration as JSON (for `tandem_model_info_json`).
    public func taskJSON(_ t: Int, labelShape: [Int], outputShape: [Int]) -> JSON {
        let task = tasks[t]
        var fields: [(String, JSON)] = [("name", .string(task.name))]
        switch task.kind {
        case let .classification(classes):
            fields += [("kind", .string("classification")), ("classes", .number(Double(classes)))]
        case .regression: fields += [("kind", .string("regression")), ("outputs", .number(Double(task.outputs)))]
        case let .segmentation(classes):
            fields += [("kind", .string("segmentation")), ("classes", .number(Double(classes)))]
        case .depth: fields.append(("kind", .string("depth")))
        case .normals: fields.append(("kind", .string("normals")))
        }
        func shape(_ dims: [Int]) -> JSON { .array(dims.map { .number(Double($0)) }) }
        fields += [("label_shape", shape(labelShape)), ("label_size", .number(Double(labelShape.reduce(1, *)))),
                   ("output_shape", shape(outputShape)), ("output_size", .number(Double(outputShape.reduce(1, *))))]
        return .object(fields)
    }
}
