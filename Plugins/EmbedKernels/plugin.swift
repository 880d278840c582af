import PackagePlugin

/// Turns `Kernels/*.cl` and the Swift declarations of `Sources/TandemABI` into the generated
/// sources of the TandemKernels target (`Sources/KernelGenerator` says what each holds): the kernels
/// travel inside the compiled library as string literals with the ABI header in front, and every
/// kernel gets one typed Swift launch method. The toolchain's clang, when the plugin finds it,
/// compiles every kernel file as strict OpenCL C 1.2 during the build.
@main
struct EmbedKernels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let kernels = module.sourceFiles
            .filter { $0.url.pathExtension == "cl" }
            .map(\.url)
            .sorted { $0.path < $1.path }
        let directory = context.pluginWorkDirectoryURL
        let clang = (try? context.tool(named: "clang"))?.url.path ?? "-"
        return [
            .buildCommand(
                displayName: "Generating the kernel ABI and launches from \(kernels.count) OpenCL kernel file(s)",
                executable: try context.tool(named: "KernelGenerator").url,
                arguments: [directory.path, clang] + kernels.map(\.path),
                inputFiles: kernels,
                // The generator also writes tandem_abi.h there, for clang: an input of its own, not a product.
                outputFiles: [directory.appending(path: "EmbeddedKernels.swift"), directory.appending(path: "KernelLaunches.swift")]
            )
        ]
    }
}
