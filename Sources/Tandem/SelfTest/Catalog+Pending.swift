// Op families whose checks are being written; each moves to its own Catalog+Family.swift.
extension OpCatalog {
    public static let convolution: [OpCase] = []
    public static let pooling: [OpCase] = []
    public static let losses: [OpCase] = []
    public static let fused: [OpCase] = []
}
