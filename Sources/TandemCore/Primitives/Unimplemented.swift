/// The error a device scaffold throws for a primitive it does not implement yet.
extension Device {
    func missing(_ name: String) -> TandemError {
        .backend(op: name, device: info.selector, message: "not implemented yet")
    }
}
