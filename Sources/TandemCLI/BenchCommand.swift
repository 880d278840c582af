import ArgumentParser
import Tandem

#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps of the standard workloads on each device: CPU against GPU throughput.",
        discussion: """
        A step is forward, loss, backward, optimizer update and reading the loss (WORKLOADS.md). Each \
        workload warms up, then times --steps steps; the table shows the median with min and max.
        """)

    @Option(help: "Comma-separated workloads (\(Workload.names.joined(separator: ", "))).")
    var workloads: String = Workload.names.joined(separator: ",")

    @Option(help: "Comma-separated device selectors (default: cpu and every OpenCL device).")
    var devices: String?

    @Option(help: "Timed steps per workload and device (at least 1).")
    var steps: Int = 30

    @Option(help: "Warm-up steps, not timed (kernel compilation happens here).")
    var warmup: Int = 5

    @Option(help: "Batch size (default: the workload's own, 256 or 8 for mtan-segnet).")
    var batch: Int?

    @Option(name: .customLong("batch-sweep"), help: "Run one workload over --batches and show where each device overtakes the CPU.")
    var batchSweep: String?

    @Option(help: "Comma-separated batch sizes for --batch-sweep.")
    var batches: String = "8,16,32,64,128,256,512"

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Option(help: "Draw an SVG bar chart of samples/s to this file.")
    var chart: String?

    @Flag(help: "Per-op time accounting: where a step's time goes on each device (OpenCL: event profiling).")
    var profile = false

    @Option(help: "Data-parallel scaling over N MPI ranks (launched with mpirun, each on the one --devices device) against one rank; set TANDEM_CPU_THREADS to the threads each rank gets.")
    var ranks: Int?

    @Option(name: .customLong("bucket-mb"), help: "With --ranks or --data-parallel: MiB of gradients per all-reduce bucket (default 25; see tandem train --bucket-mb).")
    var bucketMegabytes: Double?

    @Flag(name: .customLong("data-parallel"), help: "Data-parallel scaling: the --devices list trains one model together (one replica per device in this process), against each device alone.")
    var dataParallel = false

    /// `--bucket-mb` in bytes.
    var bucketBytes: Int? { BucketSize.bytes(bucketMegabytes) }

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        if let batch, batch < 2 { throw ValidationError("--batch must be at least 2") }
        try BucketSize.validate(bucketMegabytes)
        if let ranks, ranks < 2 { throw ValidationError("--ranks must be at least 2") }
        if ranks != nil || dataParallel {
            guard batchSweep == nil, !profile else { throw ValidationError("--ranks and --data-parallel cannot be combined with --batch-sweep or --profile") }
        }
        if ranks != nil, dataParallel { throw ValidationError("give --ranks (MPI ranks) or --data-parallel (devices of this process), not both") }
    }

    func run() throws {
        let names = batchSweep.map { [$0] } ?? workloads.split(separator: ",").map(String.init)
        for name in names where !Workload.names.contains(name) {
            throw ValidationError("unknown workload '\(name)'; available: \(Workload.names.joined(separator: ", "))")
        }
        // Before any device opens, so that OpenCL queues are created with profiling enabled.
        if profile { Profiler.setEnabled(true) }
        let selectors = devices?.split(separator: ",").map(String.init) ?? Devices.all.map(\.selector)
        let targets = try selectors.map { try Devices.select($0) }
        if let ranks {
            guard targets.count == 1 else { throw ValidationError("--ranks runs every rank on one device: give one --devices selector") }
            return try rankScaling(ranks, names: names, device: targets[0])
        }
        if dataParallel {
            guard targets.count >= 2 else { throw ValidationError("--data-parallel needs at least two --devices (for example cpu,opencl:0)") }
            return try deviceScaling(names: names, devices: targets)
        }
        // Started by mpirun (--ranks launches this): every rank steps, gradients are all-reduced, rank 0 reports.
        let communicator = try Communicators.fromEnvironment()
        defer { (communicator as? MPICommunicator)?.finish() }
        let sizes: [Int?]
        if batchSweep != nil {
            let parsed = batches.split(separator: ",").map { Int($0) }
            guard parsed.allSatisfy({ ($0 ?? 0) >= 2 }) else { throw ValidationError("--batches must be integers ≥ 2, got \(batches)") }
            sizes = parsed
        } else {
            sizes = [batch]
        }
        var peaks: [String: Double] = [:]
        for device in targets { peaks[device.info.selector] = try Bench.gemmPeak(on: device) }

        var results: [BenchResult] = []
        for name in names {
            for size in sizes {
                for device in targets {
                    let label = "\(name) (batch \(size ?? Workload.defaultBatch(name))) on \(device.info.selector)"
                    let result = try Bench.run(name, on: device, batch: size, warmup: warmup, steps: steps,
                                               communicator: communicator, bucketBytes: bucketBytes) { done, total in
                        progressLine("bench \(label): step \(done)/\(total)")
                    }
                    progressLine(nil)
                    results.append(result)
                }
            }
        }
        say(report(results, peaks: peaks))
        if let peak = System.residentMemory()?.peak { say("peak RSS of this process: \(ByteCount.describe(peak))") }
        for device in targets {
            let pool = device.poolStatistics
            say("\(device.info.selector): tensors peaked at \(ByteCount.describe(pool.peakBytesInUse)) over this run; "
                + "the buffer pool holds \(ByteCount.describe(pool.bytesCached)) for reuse")
        }
        if profile {
            for r in results { say("\n" + profileReport(r)) }
        }
        if batchSweep != nil { say("\n" + crossover(results)) }
        guard communicator.isRoot else { return }
        if let json { try write(json, renderJSON(results, peaks: peaks)) }
        if let chart { try write(chart, renderChart(results)) }
    }

    func write(_ path: String, _ text: String) throws {
        guard System.writeFileAtomically(path, Array(text.utf8)) else {
            throw ValidationError("cannot write \(path)")
        }
        say("wrote \(path)")
    }

    func cpuResult(_ r: BenchResult, in results: [BenchResult]) -> BenchResult? {
        results.first { $0.workload == r.workload && $0.batch == r.batch && $0.device == "cpu" }
    }

    func report(_ results: [BenchResult], peaks: [String: Double]) -> String {
        let rows = results.map { r -> [String] in
            let speedup = cpuResult(r, in: results).map { fixed($0.medianMilliseconds / r.medianMilliseconds, 2) + "×" } ?? "-"
            let peak = peaks[r.device] ?? 0
            return [r.workload, r.device, String(r.batch), fixed(r.medianMilliseconds, 2), fixed(r.minMilliseconds, 2) + "–" + fixed(r.maxMilliseconds, 2),
                    fixed(r.samplesPerSecond, 0), speedup, fixed(r.gflops, 1), peak > 0 ? fixed(100 * r.gflops / peak, 0) + "%" : "-"]
        }
        let devices = Set(results.map(\.device)).sorted().map { d in "\(d): \(results.first { $0.device == d }!.deviceName), GEMM peak \(fixed(peaks[d] ?? 0, 1)) GFLOP/s" }
        return table(["workload", "device", "batch", "median ms", "min–max ms", "samples/s", "vs cpu", "GFLOP/s", "of peak"], rows)
            + "\n\n" + devices.joined(separator: "\n")
            + "\nGFLOP/s counts GEMM flops (convolutions, linear layers, matmuls) per step over the median step time."
    }

    /// The per-op table of one result: calls, milliseconds per step, share of the step, host issue time.
    func profileReport(_ r: BenchResult) -> String {
        let steps = Double(max(r.steps, 1))
        let total = r.profile.reduce(0) { $0 + $1.seconds } / steps * 1e3
        let isCPU = r.device == "cpu"
        var rows = r.profile.map { e -> [String] in
            let ms = e.seconds / steps * 1e3
            return [e.op, fixed(Double(e.calls) / steps, 0), fixed(ms, 3), fixed(100 * ms / max(r.medianMilliseconds, 1e-9), 1) + "%"]
                + (isCPU ? [] : [fixed(e.hostSeconds / steps * 1e3, 3)])
        }
        let outside = r.medianMilliseconds - total
        rows.append(["(all ops)", fixed(Double(r.profile.reduce(0) { $0 + $1.calls }) / steps, 0), fixed(total, 3),
                     fixed(100 * total / max(r.medianMilliseconds, 1e-9), 1) + "%"]
                    + (isCPU ? [] : [fixed(r.profile.reduce(0) { $0 + $1.hostSeconds } / steps * 1e3, 3)]))
        rows.append([isCPU ? "(outside ops: graph, allocation)" : "(step time not covered by device ops)", "", fixed(outside, 3),
                     fixed(100 * outside / max(r.medianMilliseconds, 1e-9), 1) + "%"] + (isCPU ? [] : [""]))
        let header = ["op", "calls/step", "ms/step", "share"] + (isCPU ? [] : ["host issue ms/step"])
        let note = isCPU ? "CPU: wall time around each primitive."
            : "OpenCL: device time from profiling events (a CLBlast GEMM counts from the end of the command before it); host issue = time to set arguments and enqueue."
        return "profile: \(r.workload) on \(r.device) (batch \(r.batch), median step \(fixed(r.medianMilliseconds, 2)) ms)\n"
            + table(header, rows) + "\n" + note
    }

    func crossover(_ results: [BenchResult]) -> String {
        var lines: [String] = []
        for device in Set(results.map(\.device)).sorted() where device != "cpu" {
            let faster = results.filter { $0.device == device }.sorted { $0.batch < $1.batch }.first { r in
                cpuResult(r, in: results).map { $0.medianMilliseconds > r.medianMilliseconds } ?? false
            }
            lines.append(faster.map { "\(device) overtakes the CPU from batch \($0.batch)" } ?? "\(device) does not overtake the CPU at these batch sizes")
        }
        return lines.joined(separator: "\n")
    }

    func renderJSON(_ results: [BenchResult], peaks: [String: Double]) -> String {
        JSON.object([
            ("steps", .int(steps)), ("warmup", .int(warmup)),
            ("peak_rss_bytes", System.residentMemory().map { .int($0.peak) } ?? .null),
            ("devices", .array(Set(results.map(\.device)).sorted().map { d in
                .object([("selector", .string(d)), ("name", .string(results.first { $0.device == d }!.deviceName)),
                         ("gemm_peak_gflops", .number(peaks[d] ?? 0))])
            })),
            ("results", .array(results.map { r in
                .object([("workload", .string(r.workload)), ("device", .string(r.device)), ("device_name", .string(r.deviceName)),
                         ("batch", .int(r.batch)), ("median_ms", .number(r.medianMilliseconds)), ("min_ms", .number(r.minMilliseconds)),
                         ("max_ms", .number(r.maxMilliseconds)), ("samples_per_second", .number(r.samplesPerSecond)),
                         ("parameters", .int(r.parameters)), ("gflops", .number(r.gflops)),
                         ("communication_ms", .number(r.communicationMilliseconds)),
                         ("speedup_vs_cpu", cpuResult(r, in: results).map { .number($0.medianMilliseconds / r.medianMilliseconds) } ?? .null)])
            })),
        ]).rendered() + "\n"
    }

    /// Grouped horizontal bars: one group per workload (and batch), one bar per device.
    func renderChart(_ results: [BenchResult]) -> String {
        let devices = Set(results.map(\.device)).sorted()
        let groups = results.reduce(into: [String]()) { keys, r in
            let key = "\(r.workload) b\(r.batch)"
            if !keys.contains(key) { keys.append(key) }
        }
        let colours = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"]
        let barHeight = 16, gap = 10, left = 170, width = 460
        let height = 40 + groups.count * (devices.count * barHeight + gap) + 20 * devices.count
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + width + 120)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<text x=\"10\" y=\"20\" font-size=\"14\">Training throughput (samples/s, longer is faster)</text>\n"
        var y = 35
        for group in groups {
            let members = results.filter { "\($0.workload) b\($0.batch)" == group }
            let best = members.map(\.samplesPerSecond).max() ?? 1
            svg += "<text x=\"10\" y=\"\(y + barHeight)\">\(group)</text>\n"
            for (i, d) in devices.enumerated() {
                guard let r = members.first(where: { $0.device == d }) else { continue }
                let w = max(1, Int(Double(width) * r.samplesPerSecond / best))
                svg += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(w)\" height=\"\(barHeight - 2)\" fill=\"\(colours[i % colours.count])\"/>\n"
                svg += "<text x=\"\(left + w + 5)\" y=\"\(y + barHeight - 4)\">\(fixed(r.samplesPerSecond, 0))</text>\n"
                y += barHeight
            }
            y += gap
        }
        for (i, d) in devices.enumerated() {
            svg += "<rect x=\"10\" y=\"\(y + 20 * i)\" width=\"12\" height=\"12\" fill=\"\(colours[i % colours.count])\"/>"
            svg += "<text x=\"28\" y=\"\(y + 20 * i + 11)\">\(d): \(xmlEscape(results.first { $0.device == d }!.deviceName))</text>\n"
        }
        return svg + "</svg>\n"
    }
}

func xmlEscape(_ text: String) -> String {
    text.reduce(into: "") { out, c in
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if digits == 0 { return String(Int(rounded)) }
    var text = "\(rounded)"
    let decimals = text.split(separator: ".").last.map(\.count) ?? 0
    if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
    return text
}

/// Rewrites one status line on a terminal's standard error; nil clears it. Silent when stderr is not a terminal.
func progressLine(_ text: String?) {
    guard isatty(2) != 0 else { return }
    let line = "\r\u{1b}[2K" + (text ?? "")
    _ = line.withCString { write(2, $0, strlen($0)) }
}
