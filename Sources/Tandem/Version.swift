/// Tandem's version, as `tandem --version`, reports and `tandem_version()` give it (static, so the
/// C API can hand out its bytes).
public let tandemVersion: StaticString = "0.2.0"
