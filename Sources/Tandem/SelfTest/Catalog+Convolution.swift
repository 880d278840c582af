import TandemCore

extension OpCatalog {
    /// Checks of the convolution family (being written).
    public static var convolution: [OpCase] { [] }
}
