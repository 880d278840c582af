import TandemCore

extension OpCatalog {
    /// Checks of the optimizers family (being written).
    public static var optimizers: [OpCase] { [] }
}
