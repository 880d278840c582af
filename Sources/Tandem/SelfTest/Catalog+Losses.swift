import TandemCore

extension OpCatalog {
    /// Checks of the losses family (being written).
    public static var losses: [OpCase] { [] }
}
