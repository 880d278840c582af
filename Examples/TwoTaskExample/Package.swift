// swift-tools-version: 6.0
// An app that embeds Tandem as a Swift library: it depends on the repository by path.
import PackageDescription

let package = Package(
    name: "TwoTaskExample",
    dependencies: [
        .package(name: "Tandem", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "TwoTaskExample", dependencies: [.product(name: "Tandem", package: "Tandem")]),
    ],
    swiftLanguageModes: [.v6]
)
