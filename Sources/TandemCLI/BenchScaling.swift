import ArgumentParser
import Tandem

#if canImport(Glibc)
import Glibc
#endif

/// Data-parallel throughput: `--ranks N` (N MPI ranks, launched with mpirun) and `--data-parallel`
/// (the --devices list training one model in this process), each against one replica alone.
/// Weak scaling, as DDP and Horovod report it: every replica keeps the workload's batch, so N ranks
/// step on N batches; efficiency = samples/s of the N replicas / the sum of each replica's alone.
extension BenchCommand {
    /// One row of the scaling table.
    struct ScalingRow {
        var workload: String
        var devices: [String]
        var batchPerReplica: Int
        var alone: Double
        var together: Double
        var medianMilliseconds: Double
        /// Milliseconds per step rank 0 spent combining gradients.
        var communicationMilliseconds: Double
        var efficiency: Double { alone > 0 ? together / alone : 0 }
    }

    /// `--ranks N` from outside mpirun: one rank here, then N ranks under mpirun, per workload.
    func rankScaling(_ ranks: Int, names: [String], device: any Device) throws {
        var rows: [ScalingRow] = []
        let mpirun = try Self.findMPIRun()
        for name in names {
            progressLine("bench \(name) on \(device.info.selector): 1 rank")
            let one = try Bench.run(name, on: device, batch: batch, warmup: warmup, steps: steps)
            progressLine("bench \(name) on \(device.info.selector): \(ranks) ranks (mpirun)")
            let file = "/tmp/tandem-bench-ranks-\(getpid())-\(name).json"
            defer { unlink(file) }
            var arguments = [mpirun, "-np", "\(ranks)", "--oversubscribe"]
            if getuid() == 0 { arguments.append("--allow-run-as-root") }
            for variable in ["TANDEM_CPU_THREADS", "OPENBLAS_NUM_THREADS", "TANDEM_COLLECTIVE_TIMEOUT"] where System.environment(variable) != nil {
                arguments += ["-x", variable]
            }
            arguments += [programPath(), "bench", "--workloads", name, "--devices", device.info.selector, "--steps", "\(steps)",
                          "--warmup", "\(warmup)", "--json", file] + (batch.map { ["--batch", "\($0)"] } ?? [])
                + (bucketMegabytes.map { ["--bucket-mb", "\($0)"] } ?? [])
            let status = try Self.spawnAndWait(arguments)
            progressLine(nil)
            guard status == 0 else { throw ValidationError("the \(ranks)-rank run failed (mpirun exited with \(status)): \(arguments.joined(separator: " "))") }
            guard let bytes = System.readFile(file), let result = try? JSON.parse(bytes), case let .array(items)? = result["results"],
                  let first = items.first, case let .number(together)? = first["samples_per_second"],
                  case let .number(median)? = first["median_ms"], case let .number(communication)? = first["communication_ms"] else {
                throw ValidationError("the \(ranks)-rank run wrote no readable results to \(file)")
            }
            rows.append(ScalingRow(workload: name, devices: Array(repeating: device.info.selector, count: ranks), batchPerReplica: one.batch,
                                   alone: one.samplesPerSecond * Double(ranks), together: together, medianMilliseconds: median,
                                   communicationMilliseconds: communication))
        }
        say(scalingReport(rows, what: "\(ranks) MPI ranks on \(device.info.selector) against 1 rank (threads per rank: $TANDEM_CPU_THREADS = \(System.environment("TANDEM_CPU_THREADS") ?? "all cores"))"))
        if let json { try write(json, scalingJSON(rows)) }
    }

    /// `--data-parallel`: the devices train one model together (threads of this process), against each alone.
    func deviceScaling(names: [String], devices targets: [any Device]) throws {
        var rows: [ScalingRow] = []
        for name in names {
            var alone = 0.0
            var batchSize = 0
            for device in targets {
                progressLine("bench \(name) on \(device.info.selector) alone")
                let result = try Bench.run(name, on: device, batch: batch, warmup: warmup, steps: steps)
                alone += result.samplesPerSecond
                batchSize = result.batch
            }
            progressLine("bench \(name) on \(targets.map(\.info.selector).joined(separator: " + ")) together")
            let group = LocalGroup(size: targets.count, timeoutSeconds: 600)
            let communicators = group.communicators
            let results = Locked([BenchResult?](repeating: nil, count: targets.count))
            let (batch, warmup, steps) = (self.batch, self.warmup, self.steps)
            let errors = runRanks(targets.count, group: group) { rank in
                let result = try Bench.run(name, on: targets[rank], batch: batch, warmup: warmup, steps: steps, communicator: communicators[rank],
                                           bucketBytes: bucketBytes)
                results.withLock { $0[rank] = result }
            }
            progressLine(nil)
            if let error = errors.compactMap({ $0 }).first { throw error }
            let root = try results.withLock { try $0[0] ?? { throw ValidationError("no result from rank 0") }() }
            rows.append(ScalingRow(workload: name, devices: targets.map(\.info.selector), batchPerReplica: batchSize, alone: alone,
                                   together: root.samplesPerSecond, medianMilliseconds: root.medianMilliseconds,
                                   communicationMilliseconds: root.communicationMilliseconds))
        }
        say(scalingReport(rows, what: "one model on \(targets.map(\.info.selector).joined(separator: " + ")) against the sum of each device alone"))
        if let json { try write(json, scalingJSON(rows)) }
    }

    func scalingReport(_ rows: [ScalingRow], what: String) -> String {
        let lines = rows.map { r in
            [r.workload, r.devices.joined(separator: "+"), String(r.batchPerReplica), fixed(r.medianMilliseconds, 2),
             fixed(r.communicationMilliseconds, 2), fixed(r.alone, 0),
             fixed(r.together, 0), fixed(100 * r.efficiency, 1) + "%"]
        }
        return "Data-parallel scaling: \(what)\n"
            + table(["workload", "replicas", "batch each", "step ms", "combine ms", "alone samples/s (sum)", "together samples/s", "efficiency"], lines)
            + "\nWeak scaling: every replica steps on its own batch of the workload's size; efficiency = together / the sum alone."
            + "\ncombine ms: rank 0's time per step in the gradients' download, all-reduce (waits for slower replicas included) and upload."
    }

    func scalingJSON(_ rows: [ScalingRow]) -> String {
        JSON.object([("scaling", .array(rows.map { r in
            .object([("workload", .string(r.workload)), ("replicas", .array(r.devices.map { .string($0) })),
                     ("batch_per_replica", .int(r.batchPerReplica)), ("median_ms", .number(r.medianMilliseconds)),
                     ("communication_ms", .number(r.communicationMilliseconds)), ("alone_samples_per_second", .number(r.alone)), ("together_samples_per_second", .number(r.together)),
                     ("efficiency", .number(r.efficiency))])
        }))]).rendered() + "\n"
    }

    /// mpirun on the PATH, or an error that names the package.
    static func findMPIRun() throws -> String {
        let path = System.environment("PATH") ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":") where access("\(folder)/mpirun", X_OK) == 0 { return "\(folder)/mpirun" }
        throw ValidationError("--ranks launches mpirun, which is not on the PATH: install Open MPI (apt-get install openmpi-bin)")
    }

    /// Runs `arguments` (the first is the program's path) with this environment, its standard output
    /// discarded; returns its exit status.
    static func spawnAndWait(_ arguments: [String]) throws -> Int32 {
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // The ranks' own table goes nowhere: this process prints the comparison (errors still show).
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let status = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard status == 0 else { throw ValidationError("cannot start \(arguments[0]): \(System.errorMessage(status))") }
        var result: Int32 = 0
        while waitpid(pid, &result, 0) < 0, errno == EINTR {}
        // WIFEXITED / WEXITSTATUS, and a signal as 128 + its number.
        if result & 0x7f == 0 { return (result >> 8) & 0xff }
        return 128 + (result & 0x7f)
    }
}
