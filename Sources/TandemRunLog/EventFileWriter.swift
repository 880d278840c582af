import SwiftProtobuf

/// Writes a TensorBoard event file: TFRecord framing around serialized `Event` messages.
///
/// Each record is the data's length as a little-endian UInt64, the masked CRC-32C of those 8 bytes
/// (little-endian UInt32), the data, and the masked CRC-32C of the data. The first record holds the
/// file version "brain.Event:2"; the following ones hold scalar summaries. TensorBoard reads a
/// directory's files whose names contain "tfevents", so the file is named
/// `events.out.tfevents.<unix seconds>.<host name>` (with `.1`, `.2`, … appended when a file of
/// that name exists already).
final class EventFileWriter {
    /// The event file's path.
    let path: String
    private let file: LogFile

    /// Creates a new event file in `directory` (which must exist) and writes the file-version record.
    init(directory: String) throws(RunLogError) {
        let base = "\(directory)/events.out.tfevents.\(Int(LogFile.wallTime())).\(LogFile.hostName())"
        var attempt = 0
        while true {
            // A name taken (another log started in the same second): the next suffix.
            let candidate = attempt == 0 ? base : "\(base).\(attempt)"
            if let created = try LogFile(creating: candidate) {
                file = created
                path = candidate
                break
            }
            attempt += 1
        }
        var event = Tensorboard_Event()
        event.wallTime = LogFile.wallTime()
        event.fileVersion = "brain.Event:2"
        try write(event)
    }

    /// Writes one `Event` at `step` holding `scalars` as simple values, in order. Does nothing when
    /// `scalars` is empty.
    func write(step: Int, scalars: [(tag: String, value: Float)]) throws(RunLogError) {
        guard !scalars.isEmpty else { return }
        var summary = Tensorboard_Summary()
        summary.value = scalars.map { scalar in
            var value = Tensorboard_Summary.Value()
            value.tag = scalar.tag
            value.simpleValue = scalar.value
            return value
        }
        var event = Tensorboard_Event()
        event.wallTime = LogFile.wallTime()
        event.step = Int64(step)
        event.summary = summary
        try write(event)
    }

    /// Frames and writes one serialized event.
    private func write(_ event: Tensorboard_Event) throws(RunLogError) {
        let data: [UInt8]
        do {
            data = try event.serializedBytes()
        } catch {
            throw RunLogError(path: path, operation: "cannot encode an event for", reason: "\(error)")
        }
        try file.write(Self.record(data))
    }

    /// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
    static func record(_ data: [UInt8]) -> [UInt8] {
        let length = Self.littleEndian(UInt64(data.count))
        var bytes = length
        bytes += Self.littleEndian(CRC32C.maskedChecksum(length))
        bytes += data
        bytes += Self.littleEndian(CRC32C.maskedChecksum(data))
        return bytes
    }

    /// The bytes of `value`, least significant first.
    static func littleEndian<Value: FixedWidthInteger>(_ value: Value) -> [UInt8] {
        (0..<(Value.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    /// Closes the file; later writes throw.
    func close() { file.close() }
}
