import TandemCore

/// Something that maps one tensor to another: layers, blocks, whole trunks.
public protocol Layer: AnyObject {
    func callAsFunction(_ x: Tensor) throws -> Tensor
}

/// The base of every model part. A module's parameters (tensors that require a gradient), buffers
/// (other tensors, such as batch-norm statistics) and child modules are found from its stored
/// properties, in declaration order, and named as PyTorch names them (`features.0.weight`,
/// `bn.running_mean`), so a state dictionary maps onto the PyTorch module of the same structure.
///
/// Supported property types: `Tensor`, `Module`, their optionals, and arrays of them (also arrays
/// of `Layer` existentials whose values are modules). Models are built on a device; tensors stay there.
open class Module {
    /// Training mode (batch statistics, dropout) or evaluation mode.
    public private(set) var isTraining = true

    public init() {}

    /// Stored properties whose contents appear without their own name in state names, as the
    /// children of PyTorch's `nn.Sequential` do (`0.weight`, not `layers.0.weight`).
    open class var transparentProperties: Set<String> { [] }

    /// Switches this module and every descendant to training (`true`) or evaluation mode.
    public func train(_ on: Bool = true) {
        isTraining = on
        for (_, child) in namedChildren() { child.train(on) }
    }

    /// Evaluation mode: running statistics, no dropout.
    public func eval() { train(false) }

    // MARK: Reflection

    enum Member {
        case tensor(Tensor)
        case module(Module)
    }

    /// Direct members (tensors and child modules) with their state-dictionary names.
    func members() -> [(String, Member)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror {
            mirrors.append(m)
            mirror = m.superclassMirror
        }
        var result: [(String, Member)] = []
        for m in mirrors.reversed() {
            for child in m.children {
                guard let label = child.label, !label.hasPrefix("$__lazy"), label != "isTraining" else { continue }
                let name = Self.transparentProperties.contains(label) ? "" : Module.stateName(label)
                Module.collect(name, child.value, into: &result)
            }
        }
        return result
    }

    private static func collect(_ name: String, _ value: Any, into result: inout [(String, Member)]) {
        if let tensor = value as? Tensor {
            result.append((name, .tensor(tensor)))
        } else if let module = value as? Module {
            result.append((name, .module(module)))
        } else {
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional:
                if let wrapped = mirror.children.first { collect(name, wrapped.value, into: &result) }
            case .collection:
                for (index, element) in mirror.children.enumerated() {
                    collect(name.isEmpty ? "\(index)" : "\(name).\(index)", element.value, into: &result)
                }
            default:
                break
            }
        }
    }

    /// `runningMean` → `running_mean`, PyTorch's spelling; a leading underscore is dropped.
    static func stateName(_ label: String) -> String {
        var out = ""
        for character in label.drop(while: { $0 == "_" }) {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }

    /// Child modules with their names.
    public func namedChildren() -> [(String, Module)] {
        members().compactMap { if case let .module(m) = $0.1 { return ($0.0, m) } else { return nil } }
    }

    /// Every tensor of this module and its descendants, with dotted names, each once.
    public func namedTensors() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Tensor)] = []
        func walk(_ module: Module, _ prefix: String) {
            for (name, member) in module.members() {
                switch member {
                case let .tensor(t):
                    if seen.insert(ObjectIdentifier(t)).inserted { result.append((prefix + name, t)) }
                case let .module(m):
                    walk(m, prefix + name + ".")
                }
            }
        }
        walk(self, "")
        return result
    }

    /// Trainable tensors (those that require a gradient), with names.
    public func namedParameters() -> [(String, Tensor)] { namedTensors().filter { $0.1.requiresGrad } }

    /// Non-trainable state (running statistics), with names.
    public func namedBuffers() -> [(String, Tensor)] { namedTensors().filter { !$0.1.requiresGrad } }

    /// Trainable tensors.
    public var parameters: [Tensor] { namedParameters().map(\.1) }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}
