import TandemCore

/// The fused optimizer updates on OpenCL (`Kernels/optimizer.cl`), in place: one launch updates up
/// to `slots` tensors, so a step of W4's 396 parameters is 50 launches instead of 396.
extension OpenCLDevice {
    /// Tensors one launch updates (the kernels' argument slots).
    static let optimizerSlots = 8

    public func sgdUpdate(_ parameter: Buffer, gradient: Buffer, momentum: Buffer, count: Int, step: SGDStep) throws {
        try sgdUpdates([SGDUpdate(parameter: parameter, gradient: gradient, momentum: momentum, count: count, step: step)])
    }

    public func adamUpdate(_ parameter: Buffer, gradient: Buffer, m: Buffer, v: Buffer, count: Int, step: AdamStep) throws {
        try adamUpdates([AdamUpdate(parameter: parameter, gradient: gradient, m: m, v: v, count: count, step: step)])
    }

    public func sgdUpdates(_ updates: [SGDUpdate]) throws {
        for chunk in Self.slotChunks(updates.filter { $0.count > 0 }) {
            let (ends, total) = try Self.slotEnds(chunk.map(\.count), op: "sgdUpdates")
            let u = (0..<Self.optimizerSlots).map { chunk[min($0, chunk.count - 1)] }
            try sgd_update_f32(
                global: [total],
                p0: u[0].parameter, g0: u[0].gradient, b0: u[0].momentum, p1: u[1].parameter, g1: u[1].gradient, b1: u[1].momentum,
                p2: u[2].parameter, g2: u[2].gradient, b2: u[2].momentum, p3: u[3].parameter, g3: u[3].gradient, b3: u[3].momentum,
                p4: u[4].parameter, g4: u[4].gradient, b4: u[4].momentum, p5: u[5].parameter, g5: u[5].gradient, b5: u[5].momentum,
                p6: u[6].parameter, g6: u[6].gradient, b6: u[6].momentum, p7: u[7].parameter, g7: u[7].gradient, b7: u[7].momentum,
                ends: ends,
                s0: SGDParameters(u[0].step), s1: SGDParameters(u[1].step), s2: SGDParameters(u[2].step), s3: SGDParameters(u[3].step),
                s4: SGDParameters(u[4].step), s5: SGDParameters(u[5].step), s6: SGDParameters(u[6].step), s7: SGDParameters(u[7].step))
        }
    }

    public func adamUpdates(_ updates: [AdamUpdate]) throws {
        for chunk in Self.slotChunks(updates.filter { $0.count > 0 }) {
            let (ends, total) = try Self.slotEnds(chunk.map(\.count), op: "adamUpdates")
            let u = (0..<Self.optimizerSlots).map { chunk[min($0, chunk.count - 1)] }
            try adam_update_f32(
                global: [total],
                p0: u[0].parameter, g0: u[0].gradient, m0: u[0].m, v0: u[0].v, p1: u[1].parameter, g1: u[1].gradient, m1: u[1].m, v1: u[1].v,
                p2: u[2].parameter, g2: u[2].gradient, m2: u[2].m, v2: u[2].v, p3: u[3].parameter, g3: u[3].gradient, m3: u[3].m, v3: u[3].v,
                p4: u[4].parameter, g4: u[4].gradient, m4: u[4].m, v4: u[4].v, p5: u[5].parameter, g5: u[5].gradient, m5: u[5].m, v5: u[5].v,
                p6: u[6].parameter, g6: u[6].gradient, m6: u[6].m, v6: u[6].v, p7: u[7].parameter, g7: u[7].gradient, m7: u[7].m, v7: u[7].v,
                ends: ends,
                s0: AdamParameters(u[0].step), s1: AdamParameters(u[1].step), s2: AdamParameters(u[2].step), s3: AdamParameters(u[3].step),
                s4: AdamParameters(u[4].step), s5: AdamParameters(u[5].step), s6: AdamParameters(u[6].step), s7: AdamParameters(u[7].step))
        }
    }

    /// `updates` in runs of at most `optimizerSlots`.
    static func slotChunks<Update>(_ updates: [Update]) -> [[Update]] {
        stride(from: 0, to: updates.count, by: optimizerSlots).map { Array(updates[$0..<min($0 + optimizerSlots, updates.count)]) }
    }

    /// The running ends of the slots' element ranges (unused slots end where the last used one
    /// does, so no work-item reaches them) and the launch's total, which must fit the kernels' `int`.
    static func slotEnds(_ counts: [Int], op: String) throws -> (SIMD8<Int32>, Int) {
        var ends = SIMD8<Int32>(repeating: 0)
        var total = 0
        for slot in 0..<optimizerSlots {
            if slot < counts.count { total += counts[slot] }
            guard let end = Int32(exactly: total) else {
                throw TandemError.invalidArgument(op: op, message: "\(total) elements in one launch exceed the kernels' 32-bit index")
            }
            ends[slot] = end
        }
        return (ends, total)
    }
}
