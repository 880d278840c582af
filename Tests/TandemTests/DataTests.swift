import Testing
@testable import Tandem

#if canImport(Glibc)
import Glibc
#endif

/// The committed NumPy fixtures (made by Fixtures/make_fixtures.py).
private let fixtures: String = {
    let parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false).dropLast()
    return parts.joined(separator: "/") + "/Fixtures"
}()

private func fixture(_ name: String) -> String { "\(fixtures)/\(name)" }

private let fashion = MultiFashion.defaultDirectory

/// The error `body` throws, or nil when it returns.
private func thrownError(_ body: () throws -> Void) -> TandemError? {
    do {
        try body()
        return nil
    } catch let error as TandemError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// Checks that `body` throws an `invalidArgument` of `op` whose message names `file` and contains `what`.
private func expectReaderError(_ op: String, file: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                               _ body: () throws -> Void) {
    guard let error = thrownError(body) else {
        Issue.record("expected \(op) to fail on \(file) with '\(what)'", sourceLocation: sourceLocation)
        return
    }
    guard case let .invalidArgument(actualOp, message) = error else {
        Issue.record("expected invalidArgument, got \(error)", sourceLocation: sourceLocation)
        return
    }
    #expect(actualOp == op, sourceLocation: sourceLocation)
    #expect(message.contains(file), "\(message)", sourceLocation: sourceLocation)
    #expect(message.contains(what), "\(message)", sourceLocation: sourceLocation)
}

/// Writes `bytes` to a fresh temporary file and returns its path.
private func writeTemporary(_ name: String, _ bytes: [UInt8]) -> String {
    let path = temporaryDirectory("data") + "/" + name
    System.writeFileAtomically(path, bytes)
    return path
}

private func bytes(_ path: String) throws -> [UInt8] { try #require(System.readFile(path)) }

private let grid: [Float] = [-1, -0.5, 0, 0.5, 1, 1.5]

@Suite("DataTests") struct DataTests {
    // MARK: NPY

    @Test func npyFixturesOfEveryDtype() throws {
        for (file, dtype) in [("f4_2x3.npy", NPY.DType.float32), ("f8_2x3.npy", .float64), ("f2_2x3.npy", .float16),
                              ("big_f4_2x3.npy", .float32), ("fortran_f4_2x3.npy", .float32),
                              ("v2_f4_2x3.npy", .float32), ("v3_f4_2x3.npy", .float32)] {
            let a = try NPY.read(fixture(file))
            #expect(a.shape == [2, 3], "\(file)")
            #expect(a.values == grid, "\(file)")
            #expect(a.dtype == dtype, "\(file)")
        }
        #expect(try bytes(fixture("f4_2x3.npy"))[6] == 1)  // a version 1.0 header
        #expect(try bytes(fixture("v2_f4_2x3.npy"))[6] == 2)
        #expect(try bytes(fixture("v3_f4_2x3.npy"))[6] == 3)

        let i8 = try NPY.read(fixture("i8_5.npy"))
        #expect(i8.shape == [5] && i8.values == [3, -1, 0, 9, 2] && i8.dtype == .int64 && i8.dtype.isInteger)
        let i4 = try NPY.read(fixture("i4_2x2x2.npy"))
        #expect(i4.shape == [2, 2, 2] && i4.values == (0..<8).map { Float($0 - 4) })
        let u1 = try NPY.read(fixture("u1_4.npy"))
        #expect(u1.shape == [4] && u1.values == [0, 1, 128, 255] && u1.dtype == .uint8)
        let b1 = try NPY.read(fixture("b1_3.npy"))
        #expect(b1.shape == [3] && b1.values == [1, 0, 1] && b1.dtype == .bool)
        let scalar = try NPY.read(fixture("scalar_f4.npy"))
        #expect(scalar.shape == [] && scalar.values == [2.5])
    }

    @Test func npyWriterRoundTripsAndMatchesNumPy() throws {
        // The writer's bytes equal NumPy's for the same array.
        #expect(NPY.encode(NDArray(shape: [2, 3], values: grid)) == (try bytes(fixture("f4_2x3.npy"))))
        #expect(NPY.encode(NDArray(shape: [5], values: [3, -1, 0, 9, 2], dtype: .int64)) == (try bytes(fixture("i8_5.npy"))))
        for dtype in NPY.DType.allCases {
            let values: [Float] = dtype == .bool ? [1, 0, 1, 1] : dtype.rawValue.hasPrefix("u") ? [0, 1, 7, 100] : [0, -1, 7, 100]
            let array = NDArray(shape: [2, 2], values: values, dtype: dtype)
            #expect(try NPY.decode(NPY.encode(array), file: "memory") == array, "\(dtype)")
        }
        let path = temporaryDirectory("data") + "/written.npy"
        try NPY.write(NDArray(shape: [3, 1], values: [1, 2, 3]), to: path)
        #expect(try NPY.read(path).shape == [3, 1])
    }

    @Test func npyCorruptCopiesGiveErrorsNamingTheFile() throws {
        let good = try bytes(fixture("f4_2x3.npy"))
        let truncated = writeTemporary("truncated.npy", Array(good.dropLast(3)))
        expectReaderError("NPY reader", file: truncated, "truncated") { _ = try NPY.read(truncated) }

        var magic = good
        magic[1] = UInt8(ascii: "X")
        let badMagic = writeTemporary("magic.npy", magic)
        expectReaderError("NPY reader", file: badMagic, "bad magic") { _ = try NPY.read(badMagic) }

        var long = good
        (long[8], long[9]) = (0xFF, 0xFF)
        let headerPastEnd = writeTemporary("header.npy", long)
        expectReaderError("NPY reader", file: headerPastEnd, "header length") { _ = try NPY.read(headerPastEnd) }

        func edited(_ old: String, _ new: String) -> [UInt8] { replacingBytes(good, old, new) }
        let bigShape = writeTemporary("shape.npy", edited("(2, 3)", "(4, 3)"))
        expectReaderError("NPY reader", file: bigShape, "truncated: shape [4, 3]") { _ = try NPY.read(bigShape) }
        let complex = writeTemporary("dtype.npy", edited("'<f4'", "'<c8'"))
        expectReaderError("NPY reader", file: complex, "unsupported dtype '<c8'") { _ = try NPY.read(complex) }
        let noShape = writeTemporary("noshape.npy", edited("'shape'", "'shap_'"))
        expectReaderError("NPY reader", file: noShape, "no 'shape'") { _ = try NPY.read(noShape) }
        let garbage = writeTemporary("garbage.npy", edited("False", "Fals!"))
        expectReaderError("NPY reader", file: garbage, "malformed header") { _ = try NPY.read(garbage) }
        let empty = writeTemporary("empty.npy", [])
        expectReaderError("NPY reader", file: empty, "too short") { _ = try NPY.read(empty) }
        expectReaderError("NPY reader", file: "/nonexistent/x.npy", "No such file") { _ = try NPY.read("/nonexistent/x.npy") }

        // Every prefix of a valid file fails cleanly (no trap).
        for n in 0..<good.count {
            #expect(thrownError { _ = try NPY.decode(good[0..<n], file: "prefix") } != nil)
        }
    }

    // MARK: NPZ

    @Test func npzStoredAndCompressedFixtures() throws {
        for file in ["user_stored.npz", "user_compressed.npz"] {
            let archive = try NPZ.read(fixture(file))
            #expect(archive.names == ["x", "left", "right"], "\(file)")
            let x = try #require(archive["x"])
            #expect(x.shape == [6, 3] && x.values == (0..<18).map { Float($0) / 10 })
            #expect(archive["left"]?.values == [0, 1, 2, -1, 1, 0] && archive["left"]?.dtype == .int64)
            let right = try #require(archive["right"]?.values)
            #expect(right[1].isNaN && right[0] == 0.5 && right[5] == 3)
        }
        // Our own writer's archives read back (and NumPy's zip64 local headers were read above).
        let members = [("a", NDArray(shape: [2], values: [1, 2])), ("b", NDArray(shape: [1, 1], values: [3], dtype: .int32))]
        let path = temporaryDirectory("data") + "/w.npz"
        try NPZ.write(members, to: path)
        let back = try NPZ.read(path)
        #expect(back.names == ["a", "b"] && back["b"]?.values == [3] && back["a"]?.shape == [2])
    }

    @Test func npzCorruptCopiesGiveErrorsNamingTheFile() throws {
        let stored = try bytes(fixture("user_stored.npz"))
        let compressed = try bytes(fixture("user_compressed.npz"))

        // A flipped byte inside the first member's data: the CRC no longer matches.
        var flipped = stored
        flipped[200] ^= 0x01
        let crc = writeTemporary("crc.npz", flipped)
        expectReaderError("NPZ reader", file: crc, "CRC mismatch in member 'x.npy'") { _ = try NPZ.read(crc) }

        let truncated = writeTemporary("truncated.npz", Array(stored.prefix(stored.count / 2)))
        expectReaderError("NPZ reader", file: truncated, "end-of-central-directory") { _ = try NPZ.read(truncated) }

        let notZip = writeTemporary("notzip.npz", try bytes(fixture("f4_2x3.npy")))
        expectReaderError("NPZ reader", file: notZip, "not a zip archive") { _ = try NPZ.read(notZip) }

        // The central directory's compressed size of the first member made larger than the file.
        let directory = try #require(findSignature(stored, [0x50, 0x4b, 1, 2]))
        var sizes = stored
        (sizes[directory + 20], sizes[directory + 21], sizes[directory + 22]) = (0, 0, 0x10)
        let badSize = writeTemporary("size.npz", sizes)
        expectReaderError("NPZ reader", file: badSize, "truncated: member 'x.npy'") { _ = try NPZ.read(badSize) }

        // Sizes that disagree for a stored member.
        var mismatch = stored
        mismatch[directory + 24] &+= 1
        let badStored = writeTemporary("stored.npz", mismatch)
        expectReaderError("NPZ reader", file: badStored, "stored member 'x.npy'") { _ = try NPZ.read(badStored) }

        // The central directory offset pointing past the end.
        let end = try #require(findSignature(stored, [0x50, 0x4b, 5, 6]))
        var offset = stored
        offset[end + 19] = 0x7f
        let badOffset = writeTemporary("offset.npz", offset)
        expectReaderError("NPZ reader", file: badOffset, "central directory") { _ = try NPZ.read(badOffset) }

        // Garbage inside a deflated member: zlib reports it, or the CRC does.
        var deflated = compressed
        for i in 60..<80 { deflated[i] ^= 0x5A }
        let badDeflate = writeTemporary("deflate.npz", deflated)
        #expect(thrownError { _ = try NPZ.read(badDeflate) }?.description.contains(badDeflate) == true)

        // A member whose .npy header is bad is named as archive:member.
        var header = stored
        header[try #require(findSignature(stored, Array("NUMPY".utf8))) + 1] = UInt8(ascii: "X")
        let badMember = writeTemporary("member.npz", header)
        #expect(thrownError { _ = try NPZ.read(badMember) }?.description.contains("member 'x.npy'") == true)

        // Every prefix, and random byte flips, fail cleanly or decode: never a trap.
        for archive in [stored, compressed] {
            for n in 0..<archive.count { _ = thrownError { _ = try NPZ.decode(Array(archive[0..<n]), file: "prefix") } }
            var random = SplitMix64(seed: 7)
            for _ in 0..<300 {
                var copy = archive
                for _ in 0..<3 { copy[Int(random.next() % UInt64(copy.count))] = UInt8(truncatingIfNeeded: random.next()) }
                _ = try? NPZ.decode(copy, file: "fuzz")
            }
        }
    }

    // MARK: IDX

    @Test func idxOnRealFashionMNIST() throws {
        let images = try IDX.read("\(fashion)/train-images-idx3-ubyte.gz")
        #expect(images.shape == [60000, 28, 28] && images.type == .uint8 && images.payload.count == 60000 * 784)
        let labels = try IDX.read("\(fashion)/train-labels-idx1-ubyte.gz")
        #expect(labels.shape == [60000])
        #expect(try #require(labels.uint8Values).allSatisfy { $0 < 10 })
        let test = try IDX.read("\(fashion)/t10k-labels-idx1-ubyte.gz")
        #expect(test.shape == [10000] && test.floatValues().allSatisfy { $0 >= 0 && $0 < 10 })
    }

    @Test func idxCorruptCopies() throws {
        let gz = try bytes("\(fashion)/t10k-labels-idx1-ubyte.gz")
        let truncated = writeTemporary("labels-truncated.gz", Array(gz.prefix(gz.count - 100)))
        expectReaderError("IDX reader", file: truncated, "truncated compressed data") { _ = try IDX.read(truncated) }
        var flipped = gz
        for i in 2000..<2010 { flipped[i] ^= 0xFF }
        let corrupt = writeTemporary("labels-corrupt.gz", flipped)
        expectReaderError("IDX reader", file: corrupt, "corrupt compressed data") { _ = try IDX.read(corrupt) }

        let raw = IDX.encode(uint8: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(try IDX.decode(raw, file: "m").shape == [2, 3])
        let short = writeTemporary("short.idx", Array(raw.dropLast()))
        expectReaderError("IDX reader", file: short, "truncated: shape [2, 3]") { _ = try IDX.read(short) }
        var magic = raw
        magic[0] = 1
        let badMagic = writeTemporary("magic.idx", magic)
        expectReaderError("IDX reader", file: badMagic, "bad magic") { _ = try IDX.read(badMagic) }
        var type = raw
        type[2] = 0x07
        let badType = writeTemporary("type.idx", type)
        expectReaderError("IDX reader", file: badType, "unknown element type") { _ = try IDX.read(badType) }
        for n in 0..<raw.count { #expect(thrownError { _ = try IDX.decode(Array(raw[0..<n]), file: "p") } != nil) }
    }

    // MARK: Data sets

    @Test func multiFashionFollowsTheRecipe() throws {
        let data = try MultiFashion(split: .train, seed: 3, limit: 300)
        let (images, labels) = try MultiFashion.readSource(split: .train)
        #expect(data.count == 300 && data.inputShape == [1, 28, 28] && data.taskNames == ["left", "right"])
        let batch = data.batch([0, 17, 299])
        #expect(batch.inputShape == [3, 1, 28, 28] && batch.masks.allSatisfy { $0 == nil })
        for (b, s) in [0, 17, 299].enumerated() {
            let (l, r) = data.pairs[s]
            #expect(l == s && r >= 0 && r < 300)
            #expect(batch.labels[0][b] == Float(labels[l]) && batch.labels[1][b] == Float(labels[r]))
            // The canvas by hand: zeros, l at 0..27, r at 6..33, max where they overlap.
            var canvas = [[UInt8]](repeating: [UInt8](repeating: 0, count: 36), count: 36)
            for y in 0..<28 { for x in 0..<28 { canvas[y][x] = images[l * 784 + y * 28 + x] } }
            for y in 0..<28 { for x in 0..<28 { canvas[y + 6][x + 6] = max(canvas[y + 6][x + 6], images[r * 784 + y * 28 + x]) } }
            for i in 0..<28 {
                for j in 0..<28 {
                    let y = Int(((Double(i) + 0.5) * 36 / 28).rounded(.down)), x = Int(((Double(j) + 0.5) * 36 / 28).rounded(.down))
                    #expect(batch.inputs[b * 784 + i * 28 + j] == Float(canvas[y][x]) / 255)
                }
            }
        }
        // The resize formula's values by hand: ⌊0.5·36/28⌋ = 0, ⌊27.5·36/28⌋ = ⌊35.36⌋ = 35, ⌊14.5·36/28⌋ = ⌊18.64⌋ = 18.
        #expect(MultiFashion.sourceIndex(0) == 0 && MultiFashion.sourceIndex(27) == 35 && MultiFashion.sourceIndex(14) == 18)
        #expect(batch.inputs.allSatisfy { $0 >= 0 && $0 <= 1 })
        // Seeded pairing: the same seed pairs the same way, another seed differently.
        #expect(try MultiFashion(split: .train, seed: 3, limit: 300).pairs.map(\.right) == data.pairs.map(\.right))
        #expect(try MultiFashion(split: .train, seed: 4, limit: 300).pairs.map(\.right) != data.pairs.map(\.right))
    }

    @Test func multiFashionMissingFilesSayWhichPackage() {
        let error = thrownError { _ = try MultiFashion(split: .test, directory: "/nonexistent/fashion") }
        #expect(error?.description.contains("apt-get install dataset-fashion-mnist") == true)
        #expect(error?.description.contains("/nonexistent/fashion/t10k-images-idx3-ubyte.gz") == true)
    }

    @Test func mmoeSyntheticFollowsTheRecipe() throws {
        let (u1, u2) = MMoESynthetic.basis(seed: 5)
        let dot = { (a: [Double], b: [Double]) in zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(abs(dot(u1, u2)) < 1e-12 && abs(dot(u1, u1) - 1) < 1e-12 && abs(dot(u2, u2) - 1) < 1e-12)
        for p in [0.5, 0.9, 1.0] {
            let (w1, w2) = MMoESynthetic.weights(correlation: p, seed: 5)
            #expect(abs(dot(w1, w2) / (dot(w1, w1) * dot(w2, w2)).squareRoot() - p) < 1e-9)
        }
        let data = try MMoESynthetic.make(count: 40, correlation: 0.9, seed: 5, sampleSeed: 6, name: "m")
        #expect(data.inputShape == [100] && data.taskNames == ["task1", "task2"])
        let (w1, w2) = MMoESynthetic.weights(correlation: 0.9, seed: 5)
        for i in [0, 39] {
            let x = (0..<100).map { Double(data.inputs[i * 100 + $0]) }
            var expected = 0.0
            for (k, w) in [w1, w2].enumerated() {
                let s = dot(w, x)
                // s + Σ_{k=1..10} sin(k·s + (k−1)²), written out independently.
                expected = s
                for k in 1...10 { expected += sin(Double(k) * s + Double(k - 1) * Double(k - 1)) }
                #expect(abs(Double(data.labels[k][i]) - expected) < 0.05)  // noise σ = 0.01
            }
        }
        #expect(thrownError { _ = try MMoESynthetic.make(count: 4, correlation: 1.5, seed: 0, sampleSeed: 0, name: "m") } != nil)
    }

    @Test func gradNormToyFollowsTheRecipe() throws {
        let data = try GradNormToy.make(count: 6, sigmas: [1, 100], seed: 2, sampleSeed: 3, name: "g")
        #expect(data.inputShape == [250] && data.tasks.map(\.labelShape) == [[100], [100]] && data.taskNames == ["task1", "task2"])
        let m = GradNormToy.matrices(taskCount: 2, seed: 2)
        // B's spread is about 10 and εᵢ's about 3.5: the two tasks' matrices differ by εᵢ − εⱼ (σ ≈ 3.5·√2).
        let difference = zip(m[0], m[1]).map { $0 - $1 }
        let spread = (difference.reduce(0) { $0 + $1 * $1 } / Double(difference.count)).squareRoot()
        #expect(abs(spread - 3.5 * 2.0.squareRoot()) < 0.1)
        let scale = (m[0].reduce(0) { $0 + $1 * $1 } / Double(m[0].count)).squareRoot()
        #expect(abs(scale - (100 + 3.5 * 3.5).squareRoot()) < 0.2)
        for t in 0..<2 {
            let sigma = [1.0, 100][t]
            for i in [0, 5] {
                for r in [0, 99] {
                    var s = 0.0
                    // The inputs are standardised: x = 0.01·input.
                    for j in 0..<250 { s += m[t][r * 250 + j] * 0.01 * Double(data.inputs[i * 250 + j]) }
                    #expect(abs(Double(data.labels[t][i * 100 + r]) - sigma * tanh(s)) < 1e-3 * sigma)
                }
            }
            #expect(data.labels[t].allSatisfy { abs($0) <= Float(sigma) })
        }
    }

    @Test func scenesGeometryIsConsistent() throws {
        let scenes = try Scenes(count: 6, seed: 1)
        let n = 64, plane = n * n, h = 2.0 / 64
        var classesSeen = Set<Int>()
        for index in 0..<6 {
            let s = scenes.render(index)
            for p in 0..<plane {
                let c = Int(s.classes[p])
                classesSeen.insert(c)
                #expect(c >= 0 && c < 7 && Float(c) == s.classes[p])
                let (nx, ny, nz) = (s.normals[p], s.normals[plane + p], s.normals[2 * plane + p])
                #expect(abs((nx * nx + ny * ny + nz * nz).squareRoot() - 1) < 1e-5)
                #expect(nz >= 0)
                // Background far, objects near: the depth map and the class map agree.
                #expect(s.depth[p] > 0 && (c == 0) == (s.depth[p] >= 7.5))
                #expect((c == 0) == (s.instance[p] == -1))
                #expect(s.image[p] >= 0 && s.image[p] <= 1)
            }
            // Normals agree with the depth map's slopes on planar surfaces (background, disc, square,
            // triangle): n ∝ (∂d/∂u, ∂d/∂v, 1), v pointing up (rows down).
            for i in 1..<(n - 1) {
                for j in 1..<(n - 1) {
                    let p = i * n + j
                    let c = Int(s.classes[p])
                    guard [0, 4, 5, 6].contains(c), [p - 1, p + 1, p - n, p + n].allSatisfy({ s.instance[$0] == s.instance[p] }) else { continue }
                    let du = Double(s.depth[p + 1] - s.depth[p - 1]) / (2 * h)
                    let dv = Double(s.depth[p - n] - s.depth[p + n]) / (2 * h)
                    let nz = Double(s.normals[2 * plane + p])
                    #expect(abs(du - Double(s.normals[p]) / nz) < 2e-3)
                    #expect(abs(dv - Double(s.normals[plane + p]) / nz) < 2e-3)
                }
            }
        }
        #expect(classesSeen.count >= 4)
        // A batch carries exactly the rendered targets, and rendering is deterministic.
        let batch = scenes.batch([4, 2])
        let s2 = scenes.render(2)
        #expect(batch.inputShape == [2, 3, 64, 64])
        #expect(Array(batch.inputs[(3 * plane)...]) == s2.image && Array(batch.labels[0][plane...]) == s2.classes)
        #expect(Array(batch.labels[1][plane...]) == s2.depth && Array(batch.labels[2][(3 * plane)...]) == s2.normals)
        #expect(scenes.tasks.map(\.labelShape) == [[64, 64], [1, 64, 64], [3, 64, 64]])
    }

    // MARK: User data

    @Test func userNPZDataWithMissingLabels() throws {
        for file in ["user_stored.npz", "user_compressed.npz"] {
            let splits = try UserData.load(fixture(file), testFraction: 0.34, seed: 1)
            #expect(splits.train.count == 4 && splits.test.count == 2)
            #expect(splits.train.tasks == [DatasetTask("left", .classification(classes: 3)), DatasetTask("right", .regression)])
            for data in [splits.train, splits.test] {
                let batch = data.batch(Array(0..<data.count))
                #expect(batch.inputShape == [data.count, 3])
                for b in 0..<data.count {
                    let sample = Int((batch.inputs[b * 3] * 10 / 3).rounded())  // x[i, 0] = 3i/10
                    let leftMissing = sample == 3, rightMissing = sample == 1
                    #expect((batch.masks[0]?[b] ?? 1) == (leftMissing ? 0 : 1))
                    #expect((batch.masks[1]?[b] ?? 1) == (rightMissing ? 0 : 1))
                    #expect(batch.labels[0][b] == (leftMissing ? -1 : [0, 1, 2, -1, 1, 0][sample]))
                    #expect(batch.labels[1][b] == (rightMissing ? 0 : [0.5, 0, 1.5, 2.0, 2.5, 3.0][sample]))
                }
            }
        }
        let bad = fixture("user_bad_lengths.npz")
        let error = thrownError { _ = try UserData.load(bad) }
        #expect(error?.description.contains("'left' has 5 samples but 'x' has 6") == true, "\(String(describing: error))")
        #expect(error?.description.contains(bad) == true)
    }

    @Test func catalogNamesAndUnknownNames() throws {
        let error = thrownError { _ = try DatasetCatalog.load("cifar") }
        #expect(error?.description.contains("multifashion, mmoe-synth, gradnorm-toy, scenes") == true)
        var options = DatasetCatalog.Options()
        options.trainCount = 8
        options.testCount = 4
        let splits = try DatasetCatalog.load("mmoe-synth", options: options)
        #expect(splits.train.count == 8 && splits.test.count == 4)
        #expect(try DatasetCatalog.load(fixture("user_stored.npz")).train.taskNames == ["left", "right"])
    }

    // MARK: Loader

    @Test func loaderShufflesReproduciblyAndCoversEveryone() throws {
        let data = try MMoESynthetic.make(count: 10, correlation: 0.5, seed: 0, sampleSeed: 1, name: "m")
        let loader = try DataLoader(data, batchSize: 3, seed: 9)
        #expect(loader.batchesPerEpoch == 4)
        let first = loader.batchIndices(epoch: 0)
        #expect(first.map(\.count) == [3, 3, 3, 1])
        #expect(first.flatMap { $0 }.sorted() == Array(0..<10))
        #expect(try DataLoader(data, batchSize: 3, seed: 9).batchIndices(epoch: 0) == first)
        #expect(loader.batchIndices(epoch: 1) != first)
        #expect(loader.batchIndices(epoch: 1).flatMap { $0 }.sorted() == Array(0..<10))
        let dropping = try DataLoader(data, batchSize: 3, dropLast: true, seed: 9)
        #expect(dropping.batchesPerEpoch == 3 && dropping.batchIndices(epoch: 0) == Array(first.prefix(3)))
        let ordered = try DataLoader(data, batchSize: 4, shuffle: false)
        #expect(ordered.batchIndices(epoch: 3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        #expect(thrownError { _ = try DataLoader(data, batchSize: 0) } != nil)
    }

    @Test func prefetchingGivesTheSameBatchesAsSynchronousLoading() throws {
        let scenes = try Scenes(count: 7, seed: 3)
        let background = try DataLoader(scenes, batchSize: 2, seed: 4, prefetch: 2)
        let synchronous = try DataLoader(scenes, batchSize: 2, seed: 4, prefetch: 0)
        for epoch in 0..<2 {
            let a = Array(background.epoch(epoch)), b = Array(synchronous.epoch(epoch))
            #expect(a.count == 4 && b.count == 4)
            for (x, y) in zip(a, b) {
                #expect(x.indices == y.indices && x.inputs == y.inputs && x.labels == y.labels)
            }
        }
        // Abandoning an epoch early stops the producer without hanging.
        var iterator = background.epoch(5).makeIterator()
        #expect(iterator.next()?.count == 2)
    }
}

private func findSignature(_ bytes: [UInt8], _ signature: [UInt8]) -> Int? {
    guard bytes.count >= signature.count else { return nil }
    return (0...(bytes.count - signature.count)).first { Array(bytes[$0..<$0 + signature.count]) == signature }
}

/// `bytes` with the first occurrence of `old` replaced by `new` (same length, so offsets stay valid).
private func replacingBytes(_ bytes: [UInt8], _ old: String, _ new: String) -> [UInt8] {
    let o = Array(old.utf8), n = Array(new.utf8)
    guard o.count == n.count, let at = findSignature(bytes, o) else { return bytes }
    var out = bytes
    out.replaceSubrange(at..<at + o.count, with: n)
    return out
}
