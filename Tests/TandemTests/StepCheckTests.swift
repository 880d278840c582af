import Testing
@testable import Tandem

/// `tandem selftest`'s training-step rows: one step of each workload at tiny shapes against the CPU.
@Suite("Step checks")
struct StepCheckTests {
    /// Seed 1, as `tandem selftest` uses: a float32 step through ReLU, max-pooling and batch norm
    /// flips a choice near a tie now and then (see `SelfTest.stepGradientTolerance`), so a fixed
    /// seed keeps this test from depending on the draw; the op catalog's tests vary theirs.
    static let seed: UInt64 = 1

    @Test("one step of each workload at tiny shapes matches the CPU, with both kernel kinds and both GEMMs",
          arguments: openCLSelectors)
    func everyKernelKind(selector: String) throws {
        for rowKernels in [false, true] {
            for gemm in [OpenCLDevice.GEMMImplementation.tiled, .clblast] {
                let device = try privateOpenCL(selector, options: OpenCLDevice.Options(gemm: gemm, rowKernels: rowKernels))
                for result in SelfTest.steps(on: device, seed: Self.seed) {
                    #expect(result.passed, "\(result.op) on \(selector), rows \(rowKernels), \(gemm): \(result)")
                }
            }
        }
    }

    @Test("the tiny workloads keep the standard models' structure at batch 2")
    func tinyShapes() throws {
        for name in Workload.names {
            let tiny = try Workload(name, size: .tiny, on: CPUDevice.shared)
            #expect(tiny.batch == 2)
            let standard = try Presets.make(name, on: CPUDevice.shared)
            // Same layers by name; only W4's widths differ.
            #expect(tiny.model.namedParameters().map(\.0) == standard.namedParameters().map(\.0))
            if name != "mtan-segnet" { #expect(tiny.model.parameterCount == standard.parameterCount) }
        }
        let w4 = try Workload("mtan-segnet", size: .tiny, on: CPUDevice.shared)
        #expect(w4.input.shape == [2, 3, 32, 32])
    }

    @Test("on a device that computes exp wrongly, the steps through log-softmax and sigmoid fail and say why")
    func failsOnAWrongDevice() throws {
        let results = SelfTest.steps(on: BrokenExpDevice(), seed: Self.seed)
        #expect(results.allSatisfy { $0.failure == nil }, "the checks computed, nothing threw: \(results)")
        let failed = Dictionary(uniqueKeysWithValues: results.filter { !$0.passed }.map { ($0.op, $0.detail ?? "") })
        // W2 and W3 end in log-softmax, W4's attention masks are sigmoids; W1's gates are softmaxes,
        // which exp off by a constant factor does not change.
        for name in ["lenet-hps", "lenet-crossstitch", "mtan-segnet"] {
            let failure = try #require(failed[SelfTest.stepCheckName(name)], "\(name) passed: \(results)")
            #expect(failure.hasPrefix("loss ") && failure.hasSuffix("on the CPU"), "\(failure)")
        }
        #expect(failed[SelfTest.stepCheckName("mmoe-synth")] == nil, "\(results)")
    }

    @Test("the CPU's step check compares the CPU with itself and finds nothing")
    func cpuAgainstItself() throws {
        for result in SelfTest.steps(on: CPUDevice.shared, seed: Self.seed) {
            #expect(result.passed && result.forwardMaxRelativeError == 0 && result.backwardMaxRelativeError == 0, "\(result)")
        }
    }

    @Test("selftest --checks steps prints one row per workload and refuses unknown parts and workloads")
    func command() throws {
        let run = try runTandem(["selftest", "--device", "cpu", "--checks", "steps", "--workloads", "mmoe-synth,lenet-hps"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains(SelfTest.stepCheckName("mmoe-synth")))
        #expect(run.stdout.contains(SelfTest.stepCheckName("lenet-hps")))
        #expect(!run.stdout.contains("mtan-segnet"))
        #expect(run.stdout.contains("2 passed, 0 failed"))
        let badPart = try runTandem(["selftest", "--device", "cpu", "--checks", "everything"])
        #expect(badPart.status != 0 && badPart.stderr.contains("--checks takes ops, steps"))
        let badWorkload = try runTandem(["selftest", "--device", "cpu", "--checks", "steps", "--workloads", "resnet"])
        #expect(badWorkload.status != 0 && badWorkload.stderr.contains("unknown workload 'resnet'"))
    }
}
