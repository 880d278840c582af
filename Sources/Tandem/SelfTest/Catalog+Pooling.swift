import TandemCore

extension OpCatalog {
    /// Checks of the pooling family (being written).
    public static var pooling: [OpCase] { [] }
}
