import CZlib
import Foundation
import Testing
@testable import Tandem
@testable import TandemData

/// Issue 17, "bounded resources": deflated `.npz` members and gzip IDX files are inflated a piece at
/// a time straight into the final array, with the header's claims checked against the container's
/// sizes, the read ceiling and the ratio limit before anything is allocated, and the stream stopped as
/// soon as it produces more than claimed, ends early or expands beyond the ratio limit.
@Suite("hardening: bounded reads (streamed inflation, read limits)")
struct BoundedReadHardeningTests {
    // MARK: Building test files

    /// One deflate stream (raw, or gzip with `gzip`) over `segments`, each ended by a full flush, so
    /// its output is byte-aligned and independent of what came before (a segment's output can be
    /// repeated to stand for its input repeated); returns each segment's output and, last, the end.
    static func deflateSegments(_ segments: [[UInt8]], gzip: Bool = false, level: Int32 = 6) -> [[UInt8]] {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer {
            deflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        let status = deflateInit2_(stream, level, Z_DEFLATED, gzip ? 31 : -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                                   Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK)
        var outputs: [[UInt8]] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        for (segment, flush) in segments.map({ ($0, Z_FULL_FLUSH) }) + [([], Z_FINISH)] {
            var input = segment
            var output: [UInt8] = []
            input.withUnsafeMutableBufferPointer { bytes in
                stream.pointee.next_in = bytes.baseAddress
                stream.pointee.avail_in = UInt32(bytes.count)
                var result: Int32 = Z_OK
                repeat {
                    chunk.withUnsafeMutableBufferPointer { out in
                        stream.pointee.next_out = out.baseAddress
                        stream.pointee.avail_out = UInt32(out.count)
                        result = deflate(stream, flush)
                        output.append(contentsOf: out[0..<(out.count - Int(stream.pointee.avail_out))])
                    }
                } while stream.pointee.avail_out == 0 || (flush == Z_FINISH && result != Z_STREAM_END)
            }
            outputs.append(output)
        }
        return outputs
    }

    /// The deflate stream (and its CRC-32 and length) of `prefix`, then `zeroMiB` MiB of zero bytes
    /// (made by repeating one flushed mebibyte's output, so a large stream costs almost nothing to
    /// build), then `suffix`.
    static func deflatedWithZeros(prefix: [UInt8], zeroMiB: Int, suffix: [UInt8] = []) -> (data: [UInt8], crc: UInt32, size: Int) {
        let mebibyte = [UInt8](repeating: 0, count: 1 << 20)
        let parts = deflateSegments([prefix, mebibyte, mebibyte, suffix])
        var data = parts[0]
        if zeroMiB > 0 { data += parts[1] }
        for _ in 1..<max(1, zeroMiB) { data += parts[2] }
        data += parts[3] + parts[4]
        var crc = CZlib.crc32(0, prefix, UInt32(prefix.count))
        for _ in 0..<zeroMiB { crc = CZlib.crc32(crc, mebibyte, UInt32(mebibyte.count)) }
        crc = CZlib.crc32(crc, suffix, UInt32(suffix.count))
        return (data, UInt32(crc), prefix.count + zeroMiB << 20 + suffix.count)
    }

    /// The raw deflate stream of `bytes`.
    static func deflated(_ bytes: [UInt8]) -> [UInt8] { deflateSegments([bytes]).joined().map { $0 } }

    /// A gzip file of `bytes`.
    static func gzipped(_ bytes: [UInt8]) -> [UInt8] { deflateSegments([bytes], gzip: true).joined().map { $0 } }

    /// A zip member as the tests build it: deflated unless stated, with whatever CRC and size the
    /// headers should claim.
    typealias Member = ZipWriter.Member

    /// A deflated member holding `npy` exactly (its true CRC and size).
    static func member(_ name: String, _ npy: [UInt8]) -> Member {
        Member(name: name, method: 8, data: deflated(npy), crc: Zlib.crc32(npy), size: npy.count)
    }

    /// A zip archive of `members`, laid out as NumPy writes one (no zip64).
    static func zip(_ members: [Member]) -> [UInt8] { ZipWriter.bytes(members) }

    /// The `.npy` header of a little-endian `descr` array of `shape` (C order unless `fortran`).
    static func npyHeader(_ descr: String, _ shape: [Int], fortran: Bool = false) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        return HardeningTests.npy(header: "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(dims), }")
    }

    static func message(_ body: () throws -> Void) -> String? { HardeningTests.message(body) }

    /// The number just before `marker` in `text` (e.g. "… 1048576 bytes of output …").
    static func number(before marker: String, in text: String) -> Int? {
        guard let range = text.range(of: marker) else { return nil }
        return Int(text[..<range.lowerBound].split(separator: " ").last ?? "")
    }

    // MARK: Deflated .npz members

    @Test("a deflated member longer or shorter than its header states stops with an error naming it")
    func memberLengths() throws {
        let header = Self.npyHeader("<f4", [1000])
        let exact = header + [UInt8](repeating: 7, count: 4000)
        let longer = header + [UInt8](repeating: 7, count: 4400)
        let shorter = header + [UInt8](repeating: 7, count: 3000)
        #expect(try NPZ.decode(Self.zip([Self.member("x.npy", exact)]), file: "a.npz")["x"]?.count == 1000)

        // 400 bytes more than the header and the zip entry state: refused at the first extra byte.
        var extra = Self.member("x.npy", longer)
        extra.size = exact.count
        let long = try #require(Self.message { _ = try NPZ.decode(Self.zip([extra]), file: "a.npz") })
        #expect(long.contains("a.npz:x.npy") && long.contains("longer than the \(exact.count) bytes"), "\(long)")

        // The zip entry states the true length, which the .npy header does not describe: refused from
        // the header, before the array is allocated.
        let disagree = try #require(Self.message { _ = try NPZ.decode(Self.zip([Self.member("x.npy", longer)]), file: "a.npz") })
        #expect(disagree.contains("a.npz:x.npy") && disagree.contains("400 bytes after the data"), "\(disagree)")

        // A stream that ends (cleanly) 1,000 bytes before what is stated.
        var short = Self.member("x.npy", shorter)
        short.size = exact.count
        let early = try #require(Self.message { _ = try NPZ.decode(Self.zip([short]), file: "a.npz") })
        #expect(early.contains("a.npz:x.npy") && early.contains("truncated: the data ends after \(shorter.count) of the \(exact.count) bytes"), "\(early)")

        // A stream cut in the middle.
        var cut = Self.member("x.npy", exact)
        cut.data = Array(cut.data.prefix(cut.data.count / 2))
        let truncated = try #require(Self.message { _ = try NPZ.decode(Self.zip([cut]), file: "a.npz") })
        #expect(truncated.contains("a.npz:x.npy") && truncated.contains("truncated compressed data"), "\(truncated)")

        // No compressed bytes at all (found by the fuzzer: the stream was released twice).
        let empty = try #require(Self.message { _ = try NPZ.decode(Self.zip([Member(name: "x.npy", method: 8, data: [], crc: 0, size: exact.count)]), file: "a.npz") })
        #expect(empty.contains("a.npz:x.npy") && empty.contains("empty compressed stream"), "\(empty)")

        // The right length with a wrong CRC is still caught after the stream.
        var crc = Self.member("x.npy", exact)
        crc.crc ^= 1
        let mismatch = try #require(Self.message { _ = try NPZ.decode(Self.zip([crc]), file: "a.npz") })
        #expect(mismatch.contains("CRC mismatch in member 'x.npy'"), "\(mismatch)")
    }

    @Test("a zip bomb beyond the ratio limit stops within a few megabytes of output, at once")
    func zipBomb() throws {
        // 64 MiB of zeros, then 2 MiB of noise so that the whole member is within a ratio limit of
        // 50:1 (66 MiB from about 2.2 MB): only the running ratio can catch its front.
        var random = SplitMix64(seed: 17)
        var noise = [UInt8](repeating: 0, count: 2 << 20)
        noise.withUnsafeMutableBytes { raw in
            for offset in stride(from: 0, to: raw.count, by: 8) { raw.storeBytes(of: random.next(), toByteOffset: offset, as: UInt64.self) }
        }
        let elements = ((64 << 20) + noise.count) / 4
        let stream = Self.deflatedWithZeros(prefix: Self.npyHeader("<f4", [elements]), zeroMiB: 64, suffix: noise)
        let archive = Self.zip([Member(name: "x.npy", method: 8, data: stream.data, crc: stream.crc, size: stream.size)])
        let limits = ReadLimits(maximumRatio: 50)
        let start = ContinuousClock.now
        let error = try #require(Self.message { _ = try NPZ.decode(archive, file: "bomb.npz", limits: limits) })
        let elapsed = ContinuousClock.now - start
        #expect(error.contains("bomb.npz:x.npy") && error.contains("ratio limit of 50:1") && error.contains("zip bomb"), "\(error)")
        let output = try #require(Self.number(before: " bytes of output", in: error), "\(error)")
        #expect(output <= 3 << 20, "\(output) bytes were inflated before the refusal")
        #expect(elapsed < .seconds(2), "the refusal took \(elapsed)")

        // A member that claims more than the ratio limit allows is refused before it is inflated.
        let zeros = Self.deflatedWithZeros(prefix: Self.npyHeader("<f4", [16 << 20]), zeroMiB: 64)
        let claim = try #require(Self.message {
            _ = try NPZ.decode(Self.zip([Member(name: "x.npy", method: 8, data: zeros.data, crc: zeros.crc, size: zeros.size)]), file: "claim.npz", limits: limits)
        })
        #expect(claim.contains("claim.npz:x.npy") && claim.contains("claims \(zeros.size) bytes") && claim.contains("50:1"), "\(claim)")

        // gzip streams: the same guard, and the ceiling for output whose size no header states.
        let gz = Self.gzipped([UInt8](repeating: 0, count: 16 << 20))
        let gzBomb = try #require(Self.message { _ = try Zlib.gunzip(gz, file: "z.gz", limits: limits) })
        #expect(gzBomb.contains("z.gz") && gzBomb.contains("zip bomb"), "\(gzBomb)")
        let gzCeiling = try #require(Self.message { _ = try Zlib.gunzip(gz, file: "z.gz", limits: ReadLimits(maximumBytes: 1 << 20)) })
        #expect(gzCeiling.contains("z.gz") && gzCeiling.contains("read limit of \(1 << 20) bytes"), "\(gzCeiling)")
        #expect(try Zlib.gunzip(gz, file: "z.gz").count == 16 << 20)
    }

    @Test("a ceiling below the arrays' size is refused before allocating, naming the limit and its variable")
    func ceiling() throws {
        let x = NDArray(shape: [100, 3], values: [Float](repeating: 1, count: 300))  // 1,200 bytes as Float
        let y = NDArray(shape: [100], values: [Float](repeating: 0, count: 100), dtype: .int64)  // 400 bytes
        let stored = NPZ.encode([("x", x), ("y", y)])
        let deflated = Self.zip([Self.member("x.npy", NPY.encode(x)), Self.member("y.npy", NPY.encode(y))])
        for (bytes, kind) in [(stored, "stored"), (deflated, "deflated")] {
            #expect(try NPZ.decode(bytes, file: "a.npz", limits: ReadLimits(maximumBytes: 1_600))["y"]?.count == 100, "\(kind)")
            let first = try #require(Self.message { _ = try NPZ.decode(bytes, file: "a.npz", limits: ReadLimits(maximumBytes: 1_000)) })
            #expect(first.contains("a.npz:x.npy") && first.contains("takes 1200 bytes") && first.contains("read limit of 1000 bytes")
                    && first.contains("TANDEM_MAX_READ_BYTES"), "\(kind): \(first)")
            // The limit holds for the archive: the second member is refused after the first.
            let second = try #require(Self.message { _ = try NPZ.decode(bytes, file: "a.npz", limits: ReadLimits(maximumBytes: 1_500)) })
            #expect(second.contains("a.npz:y.npy") && second.contains("after 1200 bytes of earlier arrays"), "\(kind): \(second)")
        }
        let npy = try #require(Self.message { _ = try NPY.decode(NPY.encode(x), file: "x.npy", limits: ReadLimits(maximumBytes: 1_000)) })
        #expect(npy.contains("x.npy") && npy.contains("read limit"), "\(npy)")
        let idx = IDX.encode(uint8: [UInt8](repeating: 1, count: 600), shape: [20, 30])
        let idxError = try #require(Self.message { _ = try IDX.decode(idx, file: "i.idx", limits: ReadLimits(maximumBytes: 500)) })
        #expect(idxError.contains("i.idx") && idxError.contains("read limit of 500 bytes"), "\(idxError)")
        let raw = try #require(Self.message { _ = try Zlib.inflateRaw(Self.deflated(idx)[...], expectedCount: idx.count, file: "m", op: "t",
                                                                       limits: ReadLimits(maximumBytes: 100)) })
        #expect(raw.contains("read limit of 100 bytes"), "\(raw)")

        #expect(ReadLimits.byteCount("1500") == 1500 && ReadLimits.byteCount("64M") == 64 << 20 && ReadLimits.byteCount("2GiB") == 2 << 30
                && ReadLimits.byteCount("3kb") == 3 << 10)
        #expect(ReadLimits.byteCount("lots") == nil && ReadLimits.byteCount("G") == nil && ReadLimits.byteCount("99999999999T") == nil)
        #expect(ReadLimits().maximumBytes == System.physicalMemoryBytes / 2 && ReadLimits().maximumRatio == 1_040)
    }

    @Test("streamed conversion: float64, int64, float16, bool and Fortran order across chunks read as stored")
    func streamedConversion() throws {
        // 400 × 350 float64 (1.1 MB, beyond one 1 MiB chunk), column-major on disk.
        let (rows, columns) = (400, 350)
        var fortran = Self.npyHeader("<f8", [rows, columns], fortran: true)
        for j in 0..<columns { for i in 0..<rows { fortran.appendLittleEndian(Double(i * columns + j).bitPattern) } }
        let big = NDArray(shape: [400, 400], values: (0..<160_000).map { Float($0 % 977) - 400 }, dtype: .float64)
        let labels = NDArray(shape: [150_001], values: (0..<150_001).map { Float($0 % 7) - 1 }, dtype: .int64)
        let halves = NDArray(shape: [3, 5], values: (0..<15).map { Float($0) / 4 }, dtype: .float16)
        let flags = NDArray(shape: [9], values: (0..<9).map { Float($0 % 2) }, dtype: .bool)
        let members = [Self.member("f.npy", fortran), Self.member("big.npy", NPY.encode(big)), Self.member("labels.npy", NPY.encode(labels)),
                       Self.member("halves.npy", NPY.encode(halves)), Self.member("flags.npy", NPY.encode(flags))]
        let archive = try NPZ.decode(Self.zip(members), file: "c.npz")
        #expect(archive.names == ["f", "big", "labels", "halves", "flags"])
        let f = try #require(archive["f"])
        #expect(f.shape == [rows, columns] && f.dtype == .float64 && f.values == (0..<rows * columns).map { Float($0) })
        #expect(archive["big"] == big && archive["labels"] == labels && archive["halves"] == halves && archive["flags"] == flags)
        // The same Fortran-order bytes decoded in memory and from a file.
        #expect(try NPY.decode(fortran, file: "f.npy") == f)
        let path = temporaryDirectory("bounded") + "/f.npy"
        #expect(System.writeFile(path, fortran) == nil)
        #expect(try NPY.read(path) == f)
        #expect(Self.message { _ = try NPY.read(path, limits: ReadLimits(maximumBytes: 500_000)) }?.contains("read limit of 500000 bytes") == true)
    }

    // MARK: gzip IDX

    @Test("gzip IDX files stream into the payload: longer, shorter, over-claiming and over-limit files are refused")
    func gzipIDX() throws {
        let dir = temporaryDirectory("bounded")
        func read(_ name: String, _ bytes: [UInt8], limits: ReadLimits? = nil) throws -> IDX.Contents {
            let path = dir + "/" + name
            #expect(System.writeFile(path, bytes) == nil)
            return try IDX.read(path, limits: limits)
        }
        let values = (0..<6_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let idx = IDX.encode(uint8: values, shape: [60, 100])
        let good = try read("good.gz", Self.gzipped(idx))
        #expect(good.shape == [60, 100] && good.payload == values)

        let long = try #require(Self.message { _ = try read("long.gz", Self.gzipped(idx + [1, 2, 3])) })
        #expect(long.contains("long.gz") && long.contains("longer than the \(idx.count) bytes"), "\(long)")
        let short = try #require(Self.message { _ = try read("short.gz", Self.gzipped(Array(idx.dropLast(10)))) })
        #expect(short.contains("short.gz") && short.contains("truncated: shape [60, 100] needs 6000 bytes of data, the decompressed file has 5990"), "\(short)")
        // A header claiming 2^30 bytes from a file of a few dozen: refused before allocating.
        let claim = try #require(Self.message { _ = try read("claim.gz", Self.gzipped(Array(IDX.encode(uint8: [1], shape: [1 << 30]).dropLast()))) })
        #expect(claim.contains("claim.gz") && claim.contains("claims \(8 + (1 << 30)) bytes"), "\(claim)")
        let ceiling = try #require(Self.message { _ = try read("ceiling.gz", Self.gzipped(idx), limits: ReadLimits(maximumBytes: 5_000)) })
        #expect(ceiling.contains("ceiling.gz") && ceiling.contains("read limit of 5000 bytes"), "\(ceiling)")
        let garbage = try #require(Self.message { _ = try read("garbage.gz", Self.gzipped(idx) + [9, 9]) })
        #expect(garbage.contains("garbage after the compressed data"), "\(garbage)")
        // gzip members back to back are one file.
        let halves = try read("two.gz", Self.gzipped(Array(idx.prefix(3000))) + Self.gzipped(Array(idx.dropFirst(3000))))
        #expect(halves.payload == values)
    }

    // MARK: Peak memory, in a child process

    /// Runs the built `tandem` with `arguments` (and `environment` added) under `PeakMemory`: its
    /// exit status, its standard error and its peak resident memory in bytes.
    static func measure(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stderr: String, peak: Int) {
        let tandem = try tandemExecutable()
        let probe = tandem.deletingLastPathComponent().appendingPathComponent("PeakMemory")
        try #require(FileManager.default.isExecutableFile(atPath: probe.path), "build the PeakMemory target first: \(probe.path)")
        let peakFile = temporaryDirectory("bounded") + "/peak"
        let process = Process()
        process.executableURL = probe
        process.arguments = [peakFile, tandem.path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = try String(contentsOfFile: peakFile, encoding: .utf8)
        let peak = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), "PeakMemory wrote '\(text)'")
        return (process.terminationStatus, String(decoding: stderr, as: UTF8.self), peak)
    }

    @Test("a 300 MiB array from a 300 KB .npz: peak memory under 1.3× the array; a lower ceiling refuses it before allocating")
    func peakMemory() throws {
        // x: float32 zeros [76800, 1024], deflated; no label array, so `tandem train` stops with a
        // usage error right after reading it.
        let arrayBytes = 300 << 20
        let stream = Self.deflatedWithZeros(prefix: Self.npyHeader("<f4", [arrayBytes / 4096, 1024]), zeroMiB: 300)
        let path = temporaryDirectory("bounded") + "/big.npz"
        #expect(System.writeFile(path, Self.zip([Member(name: "x.npy", method: 8, data: stream.data, crc: stream.crc, size: stream.size)])) == nil)
        let arguments = ["train", "--data", path, "--model", "hps", "--device", "cpu"]

        let run = try Self.measure(arguments)
        #expect(run.status == 1 && run.stderr.contains("no label arrays"), "\(run.stderr)")
        #expect(Double(run.peak) < 1.3 * Double(arrayBytes), "peak \(run.peak >> 20) MiB for a \(arrayBytes >> 20) MiB array")

        let refused = try Self.measure(arguments, environment: [ReadLimits.bytesVariable: "64M"])
        #expect(refused.status == 1 && refused.stderr.contains("read limit of \(64 << 20) bytes") && refused.stderr.contains("x.npy"), "\(refused.stderr)")
        #expect(refused.peak < 100 << 20, "peak \(refused.peak >> 20) MiB although the array was refused")

        let bad = try Self.measure(arguments, environment: [ReadLimits.bytesVariable: "lots"])
        #expect(bad.status == 1 && bad.stderr.contains("TANDEM_MAX_READ_BYTES='lots'"), "\(bad.stderr)")
    }
}
