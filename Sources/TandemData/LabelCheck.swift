/// One validation of labels and inputs for every way data comes in (user `.npz` files through the
/// command line, arrays through the C API), so both accept and refuse the same values.
public enum LabelCheck {
    /// The first value of `values` that a task of `kind` cannot take, with the rule it breaks; nil
    /// when every value is valid. Classes (per sample or per pixel) are whole numbers in
    /// 0..<classes, or −1 for a missing label; real targets are finite, or NaN for a missing one
    /// when `nanMarksMissing` (the `.npz` convention; the C API uses masks instead).
    public static func firstInvalid(_ values: [Float], kind: LabelKind, nanMarksMissing: Bool) -> (index: Int, rule: String)? {
        switch kind {
        case let .classification(classes), let .segmentation(classes):
            let limit = Float(classes)
            if let bad = values.firstIndex(where: { !($0 == $0.rounded() && $0 >= -1 && $0 < limit) }) {
                return (bad, "class indices are whole numbers 0...\(classes - 1), or -1 for a missing label")
            }
        case .regression, .depth, .normals:
            if let bad = values.firstIndex(where: { $0.isInfinite || (!nanMarksMissing && $0.isNaN) }) {
                return (bad, nanMarksMissing ? "targets are finite (NaN marks a missing one)" : "targets are finite")
            }
        }
        return nil
    }

    /// The index of the first input that is NaN or infinite; nil when all are finite.
    public static func firstNonFinite(_ values: [Float]) -> Int? { values.firstIndex { !$0.isFinite } }
}
