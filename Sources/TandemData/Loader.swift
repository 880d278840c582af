import Dispatch
import Synchronization
import TandemCore

/// Turns a data set into batches, epoch by epoch: a seeded shuffle per epoch (the same seed and
/// epoch give the same order), batches of `batchSize` (the last partial batch kept or dropped), and
/// with `prefetch` > 0 a background producer that prepares up to `prefetch` batches ahead while the
/// caller computes on the previous one. Prefetching changes only when batches are made, never which.
public struct DataLoader: Sendable {
    /// The data set the batches come from.
    public let dataset: any MultiTaskDataset
    /// Samples per batch.
    public let batchSize: Int
    /// Whether each epoch visits the samples in a seeded random order (otherwise in index order).
    public let shuffle: Bool
    /// Whether a last batch smaller than `batchSize` is dropped.
    public let dropLast: Bool
    /// The shuffle seed.
    public let seed: UInt64
    /// How many batches the background producer may prepare ahead; 0 makes batches on the caller's
    /// thread.
    public let prefetch: Int
    /// Multi-input data: each step's tasks drawn by this rule, each task's samples from its own
    /// (`TaskBatchSampling`); nil: plain batches of the shuffled order.
    public let taskSampling: TaskBatchSampling?
    /// With `taskSampling`: each task's samples (those its label is present for).
    let groups: [[Int]]

    /// A loader over `dataset`. Throws when `batchSize` is not positive or `prefetch` is negative.
    public init(_ dataset: any MultiTaskDataset, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                seed: UInt64 = 0, prefetch: Int = 2, taskSampling: TaskBatchSampling? = nil) throws {
        guard batchSize > 0 else {
            throw TandemError.invalidArgument(op: "data loader", message: "batch size \(batchSize) must be positive")
        }
        guard prefetch >= 0 else {
            throw TandemError.invalidArgument(op: "data loader", message: "prefetch depth \(prefetch) must not be negative")
        }
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.seed = seed
        self.prefetch = prefetch
        self.taskSampling = taskSampling
        groups = taskSampling == nil ? [] : dataset.tasks.indices.map { t in
            dataset.labelledMask(task: t).map { mask in mask.indices.filter { mask[$0] } } ?? Array(0..<dataset.count)
        }
    }

    /// Batches in one epoch.
    public var batchesPerEpoch: Int {
        if let taskSampling { return taskSampling.layout(groups: groups, batchSize: batchSize).steps }
        return dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The order in which epoch `epoch` visits the samples.
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<dataset.count) }
        var random = DataRandom(seed: seed, stream: 0x10AD_0000 &+ UInt64(truncatingIfNeeded: epoch))
        return random.permutation(dataset.count)
    }

    /// The sample indices of each batch of epoch `epoch`.
    public func batchIndices(epoch: Int) -> [[Int]] {
        if let taskSampling { return taskSampling.batches(groups: groups, batchSize: batchSize, seed: seed, epoch: epoch) }
        let order = order(epoch: epoch)
        return stride(from: 0, to: order.count, by: batchSize).compactMap { start in
            let end = min(start + batchSize, order.count)
            return dropLast && end - start < batchSize ? nil : Array(order[start..<end])
        }
    }

    /// The batches of epoch `epoch`, made in the background when `prefetch` > 0.
    public func epoch(_ epoch: Int) -> EpochBatches {
        EpochBatches(dataset: dataset, indices: batchIndices(epoch: epoch), prefetch: prefetch)
    }
}

/// One epoch's batches, as a sequence. Iterating starts the background producer (when prefetching);
/// abandoning the iterator early stops it.
public struct EpochBatches: Sequence {
    let dataset: any MultiTaskDataset
    let indices: [[Int]]
    let prefetch: Int

    /// The number of batches.
    public var count: Int { indices.count }

    /// An iterator that yields the batches in order.
    public func makeIterator() -> BatchIterator {
        BatchIterator(dataset: dataset, indices: indices, prefetch: prefetch)
    }
}

/// Yields an epoch's batches; with prefetching, a background producer fills a bounded queue.
public struct BatchIterator: IteratorProtocol {
    private let dataset: any MultiTaskDataset
    private let indices: [[Int]]
    private var position = 0
    private let producer: PrefetchHandle?

    init(dataset: any MultiTaskDataset, indices: [[Int]], prefetch: Int) {
        self.dataset = dataset
        self.indices = indices
        producer = prefetch > 0 && !indices.isEmpty ? PrefetchHandle(Producer(dataset: dataset, indices: indices, depth: prefetch)) : nil
    }

    /// The next batch, or nil after the last.
    public mutating func next() -> HostBatch? {
        guard position < indices.count else { return nil }
        defer { position += 1 }
        if let producer { return producer.producer.take() }
        return dataset.batch(indices[position])
    }
}

/// The iterator's hold on a producer: when the iterator goes away (the epoch finished or was
/// abandoned), the producer is told to stop.
final class PrefetchHandle: Sendable {
    let producer: Producer
    init(_ producer: Producer) { self.producer = producer }
    deinit { producer.cancel() }
}

/// The background producer: makes the batches in order into a queue of at most `depth` batches.
/// The semaphores start at zero (free slots are signalled in), so cancelling with work in flight
/// never leaves a semaphore below its initial value.
final class Producer: Sendable {
    private let ready = Locked<[HostBatch]>([])
    private let cancelled = Atomic<Bool>(false)
    private let slots = DispatchSemaphore(value: 0)
    private let items = DispatchSemaphore(value: 0)

    init(dataset: any MultiTaskDataset, indices: [[Int]], depth: Int) {
        for _ in 0..<depth { slots.signal() }
        DispatchQueue.global().async { [self] in
            for batchIndices in indices {
                slots.wait()
                if cancelled.load(ordering: .acquiring) { break }
                let batch = dataset.batch(batchIndices)
                ready.withLock { $0.append(batch) }
                items.signal()
            }
        }
    }

    /// The next batch, waiting for the producer if it is not ready yet.
    func take() -> HostBatch {
        items.wait()
        let batch = ready.withLock { $0.removeFirst() }
        slots.signal()
        return batch
    }

    /// Stops the producer after the batch it is making (if any); queued batches are dropped.
    func cancel() {
        cancelled.store(true, ordering: .releasing)
        slots.signal()
    }
}
