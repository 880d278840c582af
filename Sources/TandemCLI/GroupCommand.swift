import ArgumentParser
import Tandem
import TandemRunLog

/// `tandem group`: which tasks should share a network. Trains the networks each grouping method
/// needs (TAG: one run of all tasks with lookahead affinities; HOA: every task alone and every pair;
/// ESA: every group for a fraction of the epochs; exact: every group), predicts what every group is
/// worth to each of its tasks, and chooses the groups under the budget (Standley et al. 2020;
/// Fifty et al. 2021). With `--verify` the chosen networks are trained and tested, beside all
/// tasks together and each alone.
struct GroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Recommend which tasks to train together under a budget (TAG, HOA, ESA, exact search).",
        discussion: """
        Each method predicts, for every group of tasks, each task's validation loss in the group's network relative to \
        the task's own network (1: as good as alone), and a branch and bound picks the groups within the budget that \
        minimise the sum over tasks (a task may sit in several chosen groups; the best one serves it). tag trains \
        all tasks once and measures lookahead affinities Z(i→j) = 1 − Lj(θ − η∇Li)/Lj(θ) after every epoch on \
        --tag-batches batches; a task's value in a group is minus the mean affinity onto it from the others (0 alone). \
        hoa trains every task alone and every pair; a task's value in a bigger group is the mean over its pairs in it. \
        esa trains every group for --esa-epochs. exact trains every group fully. Networks are shared between methods \
        (esa reads the full runs' first epochs when the learning rate is constant). With several seeds each seed \
        chooses on its own and the recommendation comes from the mean over seeds; the test split is read only by --verify.

        Example: tandem group --model hps --data mmoe-pairs --networks 2 --seeds 3 --epochs 10 --device cpu \
        --json group.json --picture group.svg
        """)

    @OptionGroup(title: "Recipe") var recipeOptions: RecipeOptions

    @Option(help: "Comma-separated grouping methods (default tag,hoa,esa,exact): tag, hoa, esa, exact.")
    var methods: String?
    @Option(help: "Budget: at most this many networks (default 2, unless --budget is given).")
    var networks: Int?
    @Option(help: "Budget as inference cost relative to one network of all the tasks: each network costs its parameter count over that network's.")
    var budget: Double?
    @Flag(help: "Choose disjoint networks only (each task in exactly one), instead of letting chosen networks share tasks.")
    var disjoint = false
    @Option(help: "Seeds: the recipe's seed and the ones after it (default 1).")
    var seeds = 1
    @Option(name: .customLong("esa-epochs"), help: "Epochs of the early-stopping approximation's runs (default a fifth of --epochs, at least 1).")
    var esaEpochs: Int?
    @Option(name: .customLong("tag-batches"), help: "Training batches on which TAG measures the lookahead after every epoch (default 10).")
    var tagBatches = 10
    @Option(name: .customLong("tag-lr"), help: "TAG's lookahead step η (default the recipe's learning rate).")
    var tagLearningRate: Float?
    @Flag(help: "Train the chosen networks, all tasks together and each task alone, and report their test metrics and Δm.")
    var verify = false
    @Option(help: "Device selector: cpu, opencl, opencl:N, gpu, name:TEXT or auto (default: $TANDEM_DEVICE, else auto).")
    var device: String?
    @Option(help: "Read the recipe from a JSON file (keys: the long option names with _ for -); options given here override it.")
    var config: String?
    @Option(help: "Write every network's validation losses, the tables, the choices and the verification as JSON here.")
    var json: String?
    @Option(help: "Draw the affinity matrix and each method's chosen groups as an SVG picture here.")
    var picture: String?

    /// The methods asked for, in the canonical order.
    var methodList: [GroupingMethod] {
        guard let methods else { return GroupingMethod.allCases }
        let names = methods.split(separator: ",").map(\.trimmingSpaces)
        return GroupingMethod.allCases.filter { names.contains($0.rawValue) }
    }

    func validate() throws {
        if let methods {
            let names = methods.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingSpaces)
            if let unknown = names.first(where: { GroupingMethod(rawValue: $0) == nil }) {
                throw ValidationError("unknown grouping method '\(unknown)'; available: \(GroupingMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if Set(names).count != names.count { throw ValidationError("--methods names a method twice: \(methods)") }
        }
        if networks != nil, budget != nil { throw ValidationError("give the budget as --networks or as --budget, not both") }
        if let networks, networks < 1 { throw ValidationError("--networks must be at least 1, got \(networks)") }
        if let budget, !(budget > 0 && budget.isFinite) { throw ValidationError("--budget must be a positive number, got \(budget)") }
        guard (1...20).contains(seeds) else { throw ValidationError("--seeds must be in 1...20, got \(seeds)") }
        if let esaEpochs, esaEpochs < 1 { throw ValidationError("--esa-epochs must be at least 1, got \(esaEpochs)") }
        if tagBatches < 1 { throw ValidationError("--tag-batches must be at least 1, got \(tagBatches)") }
        if let tagLearningRate, !(tagLearningRate > 0 && tagLearningRate.isFinite) {
            throw ValidationError("--tag-lr must be a positive number, got \(tagLearningRate)")
        }
        if recipeOptions.singleTask { throw ValidationError("group trains each task alone itself; leave --single-task out") }
        if recipeOptions.auxiliary != nil || recipeOptions.adversarial != nil || recipeOptions.reconstruct || recipeOptions.stopAuxiliary {
            throw ValidationError("group chooses among the data's tasks as equals; auxiliary, adversarial and reconstruction tasks are not grouped")
        }
    }

    /// The most tasks each method handles: 2^T − 1 networks for esa and exact, T(T + 1)/2 for hoa;
    /// the choice itself searches 2^T − 1 groups.
    static func maximumTasks(_ method: GroupingMethod) -> Int { method == .esa || method == .exact ? 6 : 10 }

    func run() throws {
        let target = try Devices.select(device)
        var (recipe, fileKeys) = try recipeOptions.resolve(config: config, command: Self.self)
        if recipe.singleTaskBaselines || !recipe.auxiliaryTasks.isEmpty || !recipe.adversarialTasks.isEmpty || recipe.reconstruction {
            throw CommandError("--config: group chooses among the data's tasks as equals; leave out single_task, auxiliary, adversarial and reconstruct")
        }
        if recipe.validationFraction <= 0 {
            throw CommandError("group reads validation losses; --val-fraction must be above 0 (it is \(recipe.validationFraction))")
        }
        for path in [json, picture].compactMap({ $0 }) { try OutputPaths.checkFile(path, option: path == json ? "--json" : "--picture") }
        let chosenMethods = methodList
        guard !chosenMethods.isEmpty else { throw ValidationError("--methods names no method") }
        let esaLength = esaEpochs ?? Swift.max(1, recipe.epochs / 5)
        if chosenMethods.contains(.esa), esaLength >= recipe.epochs {
            throw CommandError("--esa-epochs (\(esaLength)) must be fewer than --epochs (\(recipe.epochs)): the approximation stops early")
        }
        let seedList = (0..<seeds).map { recipe.seed &+ UInt64($0) }
        Interrupts.install()
        defer { Interrupts.remove() }

        var study = GroupStudy(methods: chosenMethods, esaEpochs: esaLength, seeds: seedList)
        for seed in seedList {
            recipe.seed = seed
            var data = try RunData(recipe: recipe)
            let resolved = recipeOptions.resolvedBatch(recipe, data: data, fileKeys: fileKeys)
            try resolved.validate()
            let names = data.train.tasks.map(\.name)
            let taskCount = names.count
            if seed == seedList[0] {
                guard taskCount >= 2 else { throw CommandError("\(resolved.data) has \(taskCount) task; grouping needs two or more") }
                for method in chosenMethods where taskCount > Self.maximumTasks(method) {
                    throw CommandError("\(method.rawValue) handles at most \(Self.maximumTasks(method)) tasks (it trains \(method.trainedGroups(tasks: Swift.min(taskCount, 10)).count)+ networks); \(resolved.data) has \(taskCount)")
                }
                study.tasks = names
                study.recipe = resolved.json
                study.costs = try Self.costs(recipe: resolved, data: data, budget: budget)
                study.budget = budget ?? Double(networks ?? 2)
                say("Grouping the \(taskCount) tasks of \(resolved.data) (\(names.joined(separator: ", "))) with \(resolved.model), budget \(budget.map { "\(fixed($0, 2)) × the cost of one network of all tasks" } ?? "\(networks ?? 2) network(s)"), \(seeds) seed(s), \(resolved.epochs) epochs, \(target.info.selector)")
                for method in chosenMethods { say("  \(method.rawValue): \(method.summary)") }
                for warning in data.warnings { say("Warning: \(warning)") }
            }
            data.warnings = []
            // The full networks every method needs, each trained once; TAG measures on the all-task one.
            var full = Set(chosenMethods.flatMap { $0.trainedGroups(tasks: taskCount) })
            if verify { full.formUnion(HigherOrderApproximation.trainedGroups(tasks: taskCount).filter { $0.count == 1 }) }
            let everything = TaskGroup(Array(0..<taskCount))
            let tagRate = tagLearningRate ?? resolved.effectiveLearningRate
            var runs: [TaskGroup: GroupRun] = [:]
            for group in full.sorted() {
                let measure = chosenMethods.contains(.tag) && group == everything
                let (run, affinities) = try train(resolved, data: data, group: group, device: target, names: names,
                                                  lookahead: measure ? (tagBatches, tagRate) : nil)
                runs[group] = run
                if let affinities { study.affinities[seed] = affinities }
            }
            study.fullRuns[seed] = runs
            if chosenMethods.contains(.esa) {
                let reuse = resolved.schedule == .constant
                var short: [TaskGroup: GroupRun] = [:]
                for group in TaskGroup.all(tasks: taskCount) {
                    if reuse, let run = runs[group] {
                        short[group] = run
                    } else {
                        var brief = resolved
                        brief.epochs = esaLength
                        short[group] = try train(brief, data: data, group: group, device: target, names: names, lookahead: nil).run
                    }
                }
                if reuse, runs.count == TaskGroup.all(tasks: taskCount).count {
                    say("seed \(seed): esa reads the first \(esaLength) epoch(s) of the full runs (constant learning rate: the same trajectory)")
                }
                study.esaRuns[seed] = short
            }
            for method in chosenMethods {
                let scores = try study.scores(method, seed: seed)
                let choice = try GroupSelection.search(scores, budget: study.budget, disjoint: disjoint, cost: study.cost)
                study.choices[method, default: [:]][seed] = choice
                say("seed \(seed): \(method.rawValue) chooses \(Self.describe(choice, names: names))")
            }
        }
        // The recommendation: each method's tables averaged over the seeds.
        for method in chosenMethods {
            let mean = try GroupScores.mean(try seedList.map { try study.scores(method, seed: $0) })
            study.recommended[method] = (mean, try GroupSelection.search(mean, budget: study.budget, disjoint: disjoint, cost: study.cost))
        }
        if verify { try runVerification(&study, recipe: recipe, fileKeys: fileKeys, device: target) }
        report(study, device: target)
        if let json {
            try OutputPaths.write(study.json(device: target.info.selector, deviceName: target.info.name).rendered() + "\n", to: json, what: "grouping")
            say("Grouping written to \(json)")
        }
        if let picture {
            try OutputPaths.write(study.picture(), to: picture, what: "grouping picture")
            say("Picture drawn to \(picture)")
        }
    }

    /// Trains one network, prints its line and stops the command at an interrupt.
    func train(_ recipe: TrainingRecipe, data: RunData, group: TaskGroup, device: any Device, names: [String],
               lookahead: (Int, Float)?) throws -> (run: GroupRun, affinities: GroupTraining.Affinities?) {
        let start = Bench.now()
        var (run, affinities) = try GroupTraining.train(recipe: recipe, data: data, group: group, device: device,
                                                        lookahead: lookahead.map { (batches: $0.0, rate: $0.1) },
                                                        stop: { Interrupts.received != nil })
        if let signal = Interrupts.received {
            say("\nInterrupted: grouping keeps no partial results; run the same command again to start over.")
            throw Interrupts.exitCode(signal)
        }
        run.seconds = Bench.now() - start
        let values = run.values().enumerated().filter { group.contains($0.offset) }
            .map { "\(names[$0.offset]) \(fixed($0.element, 4))" }.joined(separator: ", ")
        say("seed \(recipe.seed): \(group.label(names)) \(recipe.epochs) epochs: validation loss \(values) (epoch \(run.bestEpoch + 1))  \(fixed(run.seconds, 1)) s")
        return (run, affinities)
    }

    /// Each group's cost: 1 with --networks, else its network's parameters over the all-task network's.
    static func costs(recipe: TrainingRecipe, data: RunData, budget: Double?) throws -> [TaskGroup: Double] {
        let tasks = data.train.tasks
        var out: [TaskGroup: Double] = [:]
        guard budget != nil else {
            for group in TaskGroup.all(tasks: Swift.min(tasks.count, 10)) { out[group] = 1 }
            return out
        }
        let cpu = try Devices.select("cpu")
        func parameters(_ group: TaskGroup) throws -> Double {
            let members = group.members
            let specs = recipe.taskSpecs(members.map { tasks[$0] })
            let model = try ModelFactory.make(recipe.model, tasks: specs, inputShape: data.train.inputShape,
                                              labelCounts: members.map { tasks[$0].labelCount }, seed: recipe.seed, on: cpu)
            return Double(model.parameterCount)
        }
        let whole = try parameters(TaskGroup(Array(tasks.indices)))
        for group in TaskGroup.all(tasks: Swift.min(tasks.count, 10)) { out[group] = try parameters(group) / whole }
        return out
    }

    /// Trains what verification needs that is not trained yet (the chosen groups, all tasks, each alone) and
    /// measures each recommendation on the test split: each task's metrics from the network serving it, Δm
    /// against the single-task networks of the same seed.
    func runVerification(_ study: inout GroupStudy, recipe base: TrainingRecipe, fileKeys: Set<String>, device: any Device) throws {
        let taskCount = study.tasks.count
        let everything = TaskGroup(Array(0..<taskCount))
        var needed = Set(study.recommended.values.flatMap(\.choice.groups))
        needed.insert(everything)
        for seed in study.seeds {
            var seeded = base
            seeded.seed = seed
            let data = try RunData(recipe: seeded)
            let recipe = recipeOptions.resolvedBatch(seeded, data: data, fileKeys: fileKeys)
            for group in needed.sorted() where study.fullRuns[seed]?[group] == nil {
                study.fullRuns[seed, default: [:]][group] = try train(recipe, data: data, group: group, device: device, names: study.tasks, lookahead: nil).run
            }
        }
        for (method, recommended) in study.recommended {
            study.verified[method.rawValue] = try study.verify(recommended.choice.serving)
        }
        study.verified["all together"] = try study.verify(Array(repeating: everything, count: taskCount))
        study.verified["each alone"] = try study.verify((0..<taskCount).map { TaskGroup([$0]) })
    }

    static func describe(_ choice: GroupSelection, names: [String]) -> String {
        let groups = choice.groups.map { $0.label(names) }.joined(separator: " ")
        return "\(groups) (predicted mean value \(fixed(choice.total / Double(names.count), 4)), cost \(fixed(choice.cost, 2)))"
    }

    /// The summary: the affinity matrix, each method's recommendation with per-task predictions, and the verification.
    func report(_ study: GroupStudy, device: any Device) {
        let names = study.tasks
        let largest = study.meanLookahead.map(GroupStudy.largestOffDiagonal) ?? 0
        let power = GroupStudy.power(largest), unit = GroupStudy.tenTo(power)
        if let z = study.meanLookahead {
            say("\nTAG lookahead affinity Z(row → column) × 10^\(power), mean over epochs and seeds (Z: the fraction by which a step of η on the row task lowers the column task's loss):")
            say(table(["task"] + names, names.indices.map { i in [names[i]] + names.indices.map { j in i == j ? "-" : fixed(unit * z[i][j], 3) } }))
        }
        say("\nRecommended networks (tables averaged over \(study.seeds.count) seed(s)); predicted: validation loss relative to the task alone (tag: the affinity onto the task × 10^\(power)):")
        var rows: [[String]] = []
        for method in study.methods {
            guard let (_, choice) = study.recommended[method] else { continue }
            let perSeed = study.seeds.map { seed in study.choices[method]?[seed].map { $0.groups == choice.groups } ?? false }
            rows.append([method.rawValue, choice.groups.map { $0.label(names) }.joined(separator: " "),
                         names.indices.map { "\(names[$0]) \(method == .tag ? fixed(-unit * choice.values[$0], 3) : fixed(choice.values[$0], 4))" }
                            .joined(separator: ", "),
                         "\(perSeed.filter { $0 }.count)/\(perSeed.count)"])
        }
        say(table(["method", "networks", "predicted per task", "seeds agreeing"], rows))
        guard !study.verified.isEmpty else { return }
        say("\nVerified on the test split (each task served by its network; Δm against each task alone, mean ± sd over seeds):")
        var verifiedRows: [[String]] = []
        for key in study.verificationOrder {
            guard let v = study.verified[key] else { continue }
            verifiedRows.append([key] + names.map { name in
                let values = v.perSeed.compactMap { $0.result[name]?.main?.value }
                let s = MethodComparison.Statistic(values)
                return "\(fixed(s.mean, 4)) ± \(fixed(s.standardDeviation, 4))"
            } + ["\(CompareCommand.signed(100 * v.deltaM.mean)) ± \(fixed(100 * v.deltaM.standardDeviation, 2))"])
        }
        let metricNames = names.map { name in
            let metric = study.fullRuns.values.first?.values.first { $0.test[name] != nil }?.test[name]?.main
            return "\(name) \(metric?.name ?? "") \(metric.map { $0.higherIsBetter ? "↑" : "↓" } ?? "")"
        }
        say(table(["networks"] + metricNames + ["Δm %"], verifiedRows))
    }
}
