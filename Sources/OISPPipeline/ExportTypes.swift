import COISPExporterABI
import OISPEvent

/// One serialised, redacted event as handed to exporters. Its bytes — the event JSON, then
/// the event id, then the partition key — live in one array (one allocation and one reference
/// per record), shared copy-on-write between every exporter's queue.
public struct ExportRecord: Sendable {
    /// `json`, `eventID` and `partitionKey`, back to back.
    public private(set) var storage: [UInt8]
    public private(set) var jsonCount: Int
    public private(set) var idCount: Int
    public var eventType: String
    public var timestampNs: Int64
    public var flags: UInt32

    /// The event JSON (no newline).
    public var json: ArraySlice<UInt8> { storage[0..<jsonCount] }
    public var eventID: String { String(decoding: storage[jsonCount..<(jsonCount + idCount)], as: UTF8.self) }
    /// `host/pid`, or the host alone.
    public var partitionKey: String { String(decoding: storage[(jsonCount + idCount)...], as: UTF8.self) }

    public init(eventID: String, eventType: String, timestampNs: Int64, partitionKey: String, flags: UInt32 = 0, json: [UInt8]) {
        var s = json
        s.reserveCapacity(json.count + eventID.utf8.count + partitionKey.utf8.count)
        s.append(contentsOf: eventID.utf8)
        s.append(contentsOf: partitionKey.utf8)
        self.init(packed: s, jsonCount: json.count, idCount: eventID.utf8.count, eventType: eventType, timestampNs: timestampNs, flags: flags)
    }

    /// From bytes already laid out as `json ‖ eventID ‖ partitionKey` (no copy).
    public init(packed storage: [UInt8], jsonCount: Int, idCount: Int, eventType: String, timestampNs: Int64, flags: UInt32) {
        precondition(jsonCount >= 0 && idCount >= 0 && jsonCount + idCount <= storage.count)
        self.storage = storage; self.jsonCount = jsonCount; self.idCount = idCount
        self.eventType = eventType; self.timestampNs = timestampNs; self.flags = flags
    }

    /// Serialises an event (after redaction) into a record.
    public init(event: OISPEvent, flags: UInt32 = 0) {
        var json = event.jsonBytes()
        self.init(event: event, json: &json, redacted: false, flags: flags)
    }

    /// A record of an event already written into `json` (by a writer that may have redacted it:
    /// `redacted` says it added `ext["oisp.redaction"]`). The id and partition key are appended
    /// to `json`'s own buffer, which the record then keeps: no copy of the event's bytes.
    public init(event: OISPEvent, json: inout [UInt8], redacted: Bool, flags: UInt32 = 0) {
        let jsonCount = json.count
        json.append(contentsOf: event.eventID.utf8)
        // the partition key: `host/pid`, or the host alone
        if let h = event.host?.hostname { json.append(contentsOf: h.utf8) }
        if let p = event.process {
            json.append(UInt8(ascii: "/"))
            JSONWriter.appendDecimal(p.pid, to: &json)
        }
        var f = flags
        if redacted || event.ext?["oisp.redaction"] != nil { f |= OISP_RECORD_FLAG_REDACTED.rawValue }
        if event.confidence?.completeness == "partial" { f |= OISP_RECORD_FLAG_TRUNCATED.rawValue }
        self.init(packed: json, jsonCount: jsonCount, idCount: event.eventID.utf8.count, eventType: event.eventType,
                  timestampNs: event.ts.nanoseconds, flags: f)
    }
}

/// A batch as handed to an exporter: the same `id` on every retry, `attempt` counting from 1.
public struct ExportBatch: Sendable {
    public var id: UInt64
    public var attempt: Int
    public var records: ArraySlice<ExportRecord>
    public init(id: UInt64, attempt: Int, records: ArraySlice<ExportRecord>) {
        self.id = id; self.attempt = attempt; self.records = records
    }
}

/// What an exporter says about one batch (Fluent Bit's OK / RETRY / ERROR).
public enum ExportOutcome: Equatable, Sendable {
    case ok
    /// Transient failure. `accepted` leading records were delivered and are not resent;
    /// `retryAfterMs` is the backend's Retry-After, when it gave one.
    /// `rejected` of the `accepted` records were refused for good (dropped and counted).
    case retry(accepted: Int, retryAfterMs: Int?, message: String, rejected: Int = 0)
    /// Delivered, except `rejected` records the backend refused for good (dropped and counted).
    case okRejecting(rejected: Int, message: String)
    /// The batch can never succeed: it is dropped and counted.
    case permanent(message: String)
}

/// An exporter backend: built-in (JSONL) or a plugin instance. Calls on one sink are never
/// concurrent unless the sink says it takes concurrent `export` calls
/// (`acceptsConcurrentExports`); `flush` and `close` are never concurrent with anything.
public protocol ExportSink: AnyObject {
    /// Whether `export` may be called from several threads at once.
    var acceptsConcurrentExports: Bool { get }
    /// Sends one batch; blocks until the backend answered.
    func export(_ batch: ExportBatch) -> ExportOutcome
    /// Flushes anything buffered inside the sink (shutdown, reload).
    func flush(timeoutMs: Int) -> ExportOutcome
    /// Releases the sink; no call follows.
    func close()
}

/// A processing stage run on every event before fan-out (the GenAI cost stage is one). Returns
/// false to drop.
public protocol EventStage: AnyObject {
    func process(_ event: inout OISPEvent) -> Bool
}

/// The last step before fan-out: writes an event that went through the stages into its record
/// (the redacting writer is one). Called from several threads at once.
public protocol EventRecordWriter: AnyObject {
    func record(for event: OISPEvent) -> ExportRecord
}

extension ExportSink {
    public var acceptsConcurrentExports: Bool { false }
}
