import COISPExporterABI
import OISPEvent

/// One serialised, redacted event as handed to exporters. Its bytes — the event JSON, then
/// the event id, then the partition key, then its fields (`RecordField`) — live in one array
/// (one allocation and one reference per record), shared copy-on-write between every
/// exporter's queue.
public struct ExportRecord: Sendable {
    /// `json`, `eventID`, `partitionKey` and the field table, back to back.
    public private(set) var storage: [UInt8]
    public private(set) var jsonCount: Int
    public private(set) var idCount: Int
    /// Where the field table starts in `storage` (its end when the record has none): entries of
    /// [field tag: 1 byte][value length: 2 bytes, little-endian][value].
    public private(set) var fieldsStart: Int
    /// Whether the field table was made (an exporter asked for fields); a record without it has
    /// no table, which is not the same as an event with no fields.
    public private(set) var carriesFields: Bool
    public var eventType: String
    public var timestampNs: Int64
    public var flags: UInt32

    /// The event JSON (no newline).
    public var json: ArraySlice<UInt8> { storage[0..<jsonCount] }
    public var eventID: String { String(decoding: storage[jsonCount..<(jsonCount + idCount)], as: UTF8.self) }
    /// `host/pid`, or the host alone.
    public var partitionKey: String { String(decoding: storage[(jsonCount + idCount)..<fieldsStart], as: UTF8.self) }

    /// The record's fields, in table order (ABI 1.3: what exporters get beside the JSON).
    public var fields: [(field: RecordField, value: String)] {
        var out: [(RecordField, String)] = []
        forEachField { f, r in out.append((f, String(decoding: storage[r], as: UTF8.self))) }
        return out
    }

    /// Each field and where its value lies in `storage`.
    public func forEachField(_ body: (RecordField, Range<Int>) -> Void) {
        var i = fieldsStart
        while i + 3 <= storage.count {
            let n = Int(storage[i + 1]) | Int(storage[i + 2]) << 8
            guard let f = RecordField(rawValue: storage[i]), i + 3 + n <= storage.count else { return }
            body(f, (i + 3)..<(i + 3 + n))
            i += 3 + n
        }
    }

    /// A record of JSON written elsewhere; with `fields`, they are read from the JSON when it
    /// parses as an event (a record read back from the spool).
    public init(eventID: String, eventType: String, timestampNs: Int64, partitionKey: String, flags: UInt32 = 0, json: [UInt8], fields: RecordFieldLevel = .off) {
        var s = json
        s.reserveCapacity(json.count + eventID.utf8.count + partitionKey.utf8.count + (fields == .off ? 0 : 256))
        s.append(contentsOf: eventID.utf8)
        s.append(contentsOf: partitionKey.utf8)
        let fieldsStart = s.count
        var made = false
        if fields != .off, let e = try? OISPEvent(jsonBytes: json) { RecordField.append(of: e, to: &s, calls: fields == .call); made = true }
        self.init(packed: s, jsonCount: json.count, idCount: eventID.utf8.count, fieldsStart: fieldsStart, carriesFields: made,
                  eventType: eventType, timestampNs: timestampNs, flags: flags)
    }

    /// `b` in a buffer of its own size (an `Array` copy would share the original's).
    static func compacted(_ b: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: b.count) { dst, n in
            n = b.withUnsafeBufferPointer { src in src.isEmpty ? 0 : dst.initialize(from: src).1 }
        }
    }

    /// From bytes already laid out as `json ‖ eventID ‖ partitionKey ‖ fields` (no copy).
    public init(packed storage: [UInt8], jsonCount: Int, idCount: Int, fieldsStart: Int? = nil, carriesFields: Bool = false,
                eventType: String, timestampNs: Int64, flags: UInt32) {
        let fs = fieldsStart ?? storage.count
        precondition(jsonCount >= 0 && idCount >= 0 && jsonCount + idCount <= fs && fs <= storage.count)
        self.storage = storage; self.jsonCount = jsonCount; self.idCount = idCount; self.fieldsStart = fs
        self.carriesFields = carriesFields
        self.eventType = eventType; self.timestampNs = timestampNs; self.flags = flags
    }

    /// Serialises an event (after redaction) into a record.
    public init(event: OISPEvent, flags: UInt32 = 0, fields: RecordFieldLevel = .off) {
        var json = event.jsonBytes()
        self.init(event: event, json: &json, redacted: false, flags: flags, fields: fields)
    }

    /// A record of an event already written into `json` (by a writer that may have redacted it:
    /// `redacted` says it added `ext["oisp.redaction"]`; `found`, that it replaced a finding —
    /// `minimal` mode's content replacements alone are not findings). The id and partition key
    /// are appended to `json`'s own buffer, which the record then keeps: no copy of the event's bytes.
    public init(event: OISPEvent, json: inout [UInt8], redacted: Bool, found: Bool? = nil, flags: UInt32 = 0, fields: RecordFieldLevel = .off) {
        let jsonCount = json.count
        json.append(contentsOf: event.eventID.utf8)
        // the partition key: `host/pid`, or the host alone
        if let h = event.host?.hostname { json.append(contentsOf: h.utf8) }
        if let p = event.process {
            json.append(UInt8(ascii: "/"))
            JSONWriter.appendDecimal(p.pid, to: &json)
        }
        let fieldsStart = json.count
        if fields != .off { RecordField.append(of: event, to: &json, rewritten: found ?? redacted, calls: fields == .call) }
        // a record lives in queues (and is counted against queue_max_bytes) by its bytes: a
        // writer's buffer with much room left is copied to its size once
        if json.capacity - json.count > json.count / 8 { json = ExportRecord.compacted(json) }
        var f = flags
        if redacted || event.ext?["oisp.redaction"] != nil { f |= OISP_RECORD_FLAG_REDACTED.rawValue }
        if event.confidence?.completeness == "partial" { f |= OISP_RECORD_FLAG_TRUNCATED.rawValue }
        self.init(packed: json, jsonCount: jsonCount, idCount: event.eventID.utf8.count, fieldsStart: fieldsStart,
                  carriesFields: fields != .off, eventType: event.eventType, timestampNs: event.ts.nanoseconds, flags: f)
    }
}

/// What a record carries beside its JSON (ABI 1.3 `oisp_field`): the fields a span, a stream
/// label or a message key most often needs, so an exporter needs no JSON parser for them. Each
/// value is the one the record's (redacted) JSON holds; the names and sources are listed in
/// `sdk/include/oisp/exporter.h`. Tags are this process's own (never stored across versions:
/// the spool keeps the JSON and reads the fields again).
public enum RecordField: UInt8, CaseIterable, Sendable {
    case requestID, provider, requestModel, responseModel, responseID, inputTokens, outputTokens, finishReasons
    case costAmount, costCurrency, hostName, pid, processName, containerID, namespace, podName, traceID, spanID, statusCode
    // the call fields, for plugins that also declare OISP_EXPORTER_CAP_CALL_FIELDS (`callField`);
    // `callFieldsMark` ("oisp.call_fields" = "1") first on every record says they are there
    case callFieldsMark, requestType, endpoint, totalTokens, embeddingTokens, temperature, maxTokens, topP, streaming, timeToFirstToken, latency
    case conversationID, success, errorType, errorMessage, costStatus, costSource, unpricedReason
    case costInput, costOutput, costCacheRead, costCacheWrite, costReasoning
    case exe, sensorName, podUID, k8sContainer, containerImage, workloadKind, workloadName, ownerKind, ownerName, nodeName
    case serviceAccount, podLabel, choiceFinishReason

    /// Whether the field is a call field, given only to plugins that declare
    /// OISP_EXPORTER_CAP_CALL_FIELDS (another plugin's list stays what 1.3 said).
    public var callField: Bool { rawValue >= RecordField.callFieldsMark.rawValue }

    public var name: String {
        switch self {
        case .requestID: return "oisp.request_id"
        case .provider: return "gen_ai.provider.name"
        case .requestModel: return "gen_ai.request.model"
        case .responseModel: return "gen_ai.response.model"
        case .responseID: return "gen_ai.response.id"
        case .inputTokens: return "gen_ai.usage.input_tokens"
        case .outputTokens: return "gen_ai.usage.output_tokens"
        case .finishReasons: return "gen_ai.response.finish_reasons"
        case .costAmount: return "gen_ai.usage.cost.amount"
        case .costCurrency: return "gen_ai.usage.cost.currency"
        case .hostName: return "host.name"
        case .pid: return "process.pid"
        case .processName: return "process.executable.name"
        case .containerID: return "container.id"
        case .namespace: return "k8s.namespace.name"
        case .podName: return "k8s.pod.name"
        case .traceID: return "trace_id"
        case .spanID: return "span_id"
        case .statusCode: return "http.response.status_code"
        case .callFieldsMark: return "oisp.call_fields"
        case .requestType: return "oisp.request_type"
        case .endpoint: return "url.full"
        case .totalTokens: return "gen_ai.usage.total_tokens"
        case .embeddingTokens: return "oisp.total_tokens"
        case .temperature: return "gen_ai.request.temperature"
        case .maxTokens: return "gen_ai.request.max_tokens"
        case .topP: return "gen_ai.request.top_p"
        case .streaming: return "oisp.streaming"
        case .timeToFirstToken: return "oisp.time_to_first_token_ms"
        case .latency: return "oisp.latency_ms"
        case .conversationID: return "gen_ai.conversation.id"
        case .success: return "oisp.success"
        case .errorType: return "error.type"
        case .errorMessage: return "oisp.error.message"
        case .costStatus: return "oisp.cost.status"
        case .costSource: return "gen_ai.usage.cost.source"
        case .unpricedReason: return "oisp.cost.unpriced_reason"
        case .costInput: return "oisp.cost.tokens.input"
        case .costOutput: return "oisp.cost.tokens.output"
        case .costCacheRead: return "gen_ai.usage.cache_read.input_tokens"
        case .costCacheWrite: return "gen_ai.usage.cache_creation.input_tokens"
        case .costReasoning: return "gen_ai.usage.reasoning.output_tokens"
        case .exe: return "process.executable.path"
        case .sensorName: return "oisp.sensor.name"
        case .podUID: return "k8s.pod.uid"
        case .k8sContainer: return "k8s.container.name"
        case .containerImage: return "oisp.k8s.container_image"
        case .workloadKind: return "oisp.k8s.workload_kind"
        case .workloadName: return "oisp.k8s.workload_name"
        case .ownerKind: return "oisp.k8s.owner_kind"
        case .ownerName: return "oisp.k8s.owner_name"
        case .nodeName: return "k8s.node.name"
        case .serviceAccount: return "oisp.k8s.service_account.name"
        case .podLabel: return "k8s.pod.label"
        case .choiceFinishReason: return "oisp.choice.finish_reason"
        }
    }

    /// Appends the event's field table to `s`. Made from the event before it is written: the
    /// 1.3 fields come from members the redactor never rewrites (`Redactor.skipKeys`:
    /// request_id, provider, model, provider_request_id, finish_reason; numbers and booleans;
    /// the envelope and `ext`), so they are what the redacted JSON holds (`RedactingWriterTests`
    /// checks the skip list). The few call fields from text the redactor scans (request type,
    /// conversation id, error type and message: none a `minimal`-mode content field) are left
    /// out when the writer replaced a finding anywhere (`rewritten`), and the mark then says
    /// "0": a field never says what the JSON no longer does. Without `calls` (no exporter reads
    /// them) the record has the 1.3 fields alone and no mark.
    public static func append(of e: OISPEvent, to s: inout [UInt8], rewritten: Bool = false, calls: Bool = true) {
        func put(_ f: RecordField, _ v: String?) {
            guard var v, !v.isEmpty else { return }
            v.withUTF8 { u in
                guard u.count <= 0xFFFF else { return }
                s.append(f.rawValue); s.append(UInt8(u.count & 0xFF)); s.append(UInt8(u.count >> 8))
                s.append(contentsOf: u)
            }
        }
        func put(_ f: RecordField, _ v: Int64?) {
            guard let v else { return }
            s.append(f.rawValue)
            let at = s.count
            s.append(0); s.append(0)
            JSONWriter.appendDecimal(v, to: &s)
            let n = s.count - at - 2
            s[at] = UInt8(n & 0xFF); s[at + 1] = UInt8(n >> 8)
        }
        /// A number or a boolean as the JSON writes it (a whole double keeps its ".0").
        func put(_ f: RecordField, value v: JSONValue?) {
            switch v {
            case .int(let i)?: put(f, i)
            case .double(let d)? where d.isFinite:
                var w = JSONWriter(capacity: 24)
                w.double(d)
                put(f, String(decoding: w.bytes, as: UTF8.self))
            case .bool(let b)?: put(f, b ? "true" : "false")
            default: return
            }
        }
        if calls { put(.callFieldsMark, rewritten ? "0" : "1") }
        let d = e.data
        let ai = e.eventType.hasPrefix("ai.")
        if ai {
            put(.requestID, d["request_id"]?.stringValue)
            put(.provider, d["provider"]?["name"]?.stringValue)
            put(e.eventType == "ai.request" ? .requestModel : .responseModel, d["model"]?["id"]?.stringValue)
            put(.responseID, d["provider_request_id"]?.stringValue)
            if let u = d["usage"] {
                put(.inputTokens, u["prompt_tokens"]?.intValue)
                put(.outputTokens, u["completion_tokens"]?.intValue)
            }
            put(.finishReasons, d["finish_reason"]?.stringValue)
            if let c = e.ext?["oisp.cost"], c["status"]?.stringValue == "priced" {
                if let a = c["amount"]?.doubleValue { put(.costAmount, "\(a)") }
                put(.costCurrency, c["currency"]?.stringValue)
            }
            put(.statusCode, d["status_code"]?.intValue)
        }
        if calls && ai {
            // the call fields: what a span and the GenAI metrics of the call read
            if !rewritten { put(.requestType, d["request_type"]?.stringValue) }
            put(.endpoint, d["provider"]?["endpoint"]?.stringValue)
            put(.totalTokens, value: d["usage"]?["total_tokens"])
            put(.embeddingTokens, value: d["total_tokens"])
            if let p = d["parameters"] {
                put(.temperature, value: p["temperature"]); put(.maxTokens, value: p["max_tokens"]); put(.topP, value: p["top_p"])
            }
            put(.streaming, value: d["streaming"])
            put(.timeToFirstToken, value: d["time_to_first_token_ms"])
            put(.latency, value: d["latency_ms"])
            put(.success, value: d["success"])
            if !rewritten {
                put(.conversationID, d["conversation"]?["id"]?.stringValue)
                put(.errorType, d["error"]?["type"]?.stringValue)
                put(.errorMessage, d["error"]?["message"]?.stringValue)
            }
            for c in d["choices"]?.arrayValue ?? [] { put(.choiceFinishReason, c["finish_reason"]?.stringValue) }
            if let c = e.ext?["oisp.cost"] {
                put(.costStatus, c["status"]?.stringValue)
                if c["status"]?.stringValue == "priced" { put(.costSource, c["price"]?["source"]?.stringValue) } else { put(.unpricedReason, c["reason"]?.stringValue) }
                if let t = c["tokens"] {
                    put(.costInput, value: t["input"]); put(.costOutput, value: t["output"]); put(.costCacheRead, value: t["cache_read"])
                    put(.costCacheWrite, value: t["cache_write"]); put(.costReasoning, value: t["reasoning"])
                }
            }
        }
        put(.hostName, e.host?.hostname)
        if let p = e.process {
            put(.pid, p.pid)
            put(.processName, p.name)
            put(.containerID, p.containerID)
            if calls { put(.exe, p.exe) }
        }
        if calls { put(.sensorName, e.source.sensorHost) }
        let k = e.ext?["oisp.k8s"]
        put(.namespace, k?["namespace"]?.stringValue)
        put(.podName, k?["pod_name"]?.stringValue)
        put(.traceID, e.traceContext?.traceID)
        put(.spanID, e.traceContext?.spanID)
        if calls, let k, k.objectValue != nil {
            put(.podUID, k["pod_uid"]?.stringValue); put(.k8sContainer, k["container_name"]?.stringValue)
            put(.containerImage, k["container_image"]?.stringValue)
            put(.workloadKind, k["workload_kind"]?.stringValue); put(.workloadName, k["workload_name"]?.stringValue)
            put(.ownerKind, k["owner_kind"]?.stringValue); put(.ownerName, k["owner_name"]?.stringValue)
            put(.nodeName, k["node_name"]?.stringValue); put(.serviceAccount, k["service_account"]?.stringValue)
            for (key, v) in k["labels"]?.objectValue ?? JSONObject() {
                if let v = v.stringValue { put(.podLabel, key + "=" + v) }
            }
        }
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
    /// Whether the sink reads each record's fields (`RecordField`).
    var wantsRecordFields: Bool { get }
    /// Whether it also reads the call fields (`RecordField.callField`).
    var wantsCallFields: Bool { get }
}

/// Which fields a record carries: none, the 1.3 list, or those and the call fields. Each costs
/// every record, so records carry the most any exporter asks for, and no more.
public enum RecordFieldLevel: UInt8, Sendable {
    case off, record, call
}

/// A processing stage run on every event before fan-out (the GenAI cost stage is one). Returns
/// false to drop.
public protocol EventStage: AnyObject {
    func process(_ event: inout OISPEvent) -> Bool
}

/// The last step before fan-out: writes an event that went through the stages into its record
/// (the redacting writer is one). Called from several threads at once.
public protocol EventRecordWriter: AnyObject {
    /// `fields`: which fields the record carries (the most any exporter reads).
    func record(for event: OISPEvent, fields: RecordFieldLevel) -> ExportRecord
}

extension ExportSink {
    public var acceptsConcurrentExports: Bool { false }
    /// Whether the sink reads each record's fields (`RecordField`, ABI 1.3): records carry them
    /// only when some sink asks, as making them costs every record.
    public var wantsRecordFields: Bool { false }
    public var wantsCallFields: Bool { false }
    /// The fields this sink reads.
    public var recordFieldLevel: RecordFieldLevel { wantsCallFields ? .call : wantsRecordFields ? .record : .off }
}
