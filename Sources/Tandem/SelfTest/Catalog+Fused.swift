import TandemCore

extension OpCatalog {
    /// Checks of the fused family (being written).
    public static var fused: [OpCase] { [] }
}
