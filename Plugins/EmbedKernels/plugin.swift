import PackagePlugin

/// Turns every `Kernels/*.cl` file of the target into one generated Swift file of string literals,
/// so the kernels travel inside the compiled library (no resource bundle to find at run time).
@main
struct EmbedKernels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let kernels = module.sourceFiles
            .filter { $0.url.pathExtension == "cl" }
            .map(\.url)
            .sorted { $0.path < $1.path }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedKernels.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(kernels.count) OpenCL kernel file(s)",
                executable: try context.tool(named: "KernelEmbedder").url,
                arguments: [output.path] + kernels.map(\.path),
                inputFiles: kernels,
                outputFiles: [output]
            )
        ]
    }
}
