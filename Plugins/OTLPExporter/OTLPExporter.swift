// The OTLP exporter plugin (liboisp-exporter-otlp.so): OISP events → OTLP traces (one span per
// AI call, GenAI semantic conventions) and/or logs, over gRPC (HTTP/2 via libcurl) or
// HTTP/protobuf / HTTP/JSON. It sees only the C header; retries are the host's.
import COISPExporterABI
import COISPHTTP
import CZlibCrypto
import Foundation
import OISPExporterKit
import OISPJSON
import SwiftProtobuf

typealias TraceRequest = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
typealias TraceResponse = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse
typealias LogsRequest = Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceRequest
typealias LogsResponse = Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceResponse

/// One instance serves concurrent `on_export` calls (the kit's table declares
/// OISP_EXPORTER_CAP_CONCURRENT_EXPORT): parsing, encoding and sending run in parallel; only the
/// span builder's pairing state is shared, and batches are fed to it in batch-id order. Error
/// texts are the kit's, per calling thread.
final class OTLPInstance: BatchExporter {
    var config: OTLPConfig!
    /// The kit's libcurl client (a handle per concurrent call), its HTTP version set by protocol.
    let http = HTTPClient()
    let host: PluginHost
    var spans: SpanBuilder!
    /// The metrics signal (MetricsBuilder.swift).
    let metrics = MetricsBuilder()
    let state = NSCondition()
    /// Spans built for a batch and not yet accepted by the backend, by batch id: a retry of the
    /// batch sends them again instead of feeding its events to the builder twice. An entry
    /// holding `[]` means the traces went out and only another signal is being retried.
    var builtSpans: [UInt64: [TracedSpan]] = [:]
    var builtOrder: [UInt64] = []
    /// The host retries at most `max_in_flight` batches at once (at most 64; the most calls
    /// seen at once here, `peakCalls`): entries past twice that are batches the host gave up on
    /// (dropped or spooled), the oldest first. Kept at 1024, a dead backend held ~100 MB of
    /// spans here beyond `queue_max_bytes` (#25, item 1); 64 still ~30 MB.
    static let maxBuiltBatches = 64
    var callsInFlight = 0, peakCalls = 1
    /// The batch id the builder expects next (batches reach it in order).
    var nextBatch: UInt64?
    var resourceAttrs: [KV] = []
    /// Error spans drained at flush, or expired on the pairing clock, and not yet accepted.
    var flushSpans: [TracedSpan] = []
    /// The pairing clock: a request left unanswered (or a response left without its request)
    /// becomes its span when its time is up, even when no further batch comes to carry it out.
    var stopping = false
    let clockDone = DispatchSemaphore(value: 0)

    func startPairingClock() {
        let tick = Double(min(1000, max(50, config.pairTimeoutMs / 4))) / 1000
        Thread.detachNewThread { [self] in
            while true {
                state.lock()
                if !stopping { _ = state.wait(until: Date(timeIntervalSinceNow: tick)) }
                if stopping { state.unlock(); break }
                state.unlock()
                // a failure keeps them for the next tick (or the flush at shutdown)
                _ = sendPendingSpans { $0.consume([], nowNs: UInt64(Date().timeIntervalSince1970 * 1e9)) }
            }
            clockDone.signal()
        }
    }

    /// Adds what `more` takes from the builder to the spans waiting outside any batch and sends
    /// them all; what the receiver accepted (or refused for good) is not sent again. One sender at
    /// a time (the pairing clock or a flush), so no span goes out twice.
    let sendLock = NSLock()
    func sendPendingSpans(_ more: (SpanBuilder) -> [TracedSpan]) -> Outcome {
        sendLock.lock(); defer { sendLock.unlock() }
        state.lock(); flushSpans += more(spans); let out = flushSpans; state.unlock()
        guard !out.isEmpty else { return .ok }
        let r = sendSpans(out)
        switch r {
        case .ok, .rejected, .permanent:
            if case .permanent = r {} else { count("otlp_spans", out.count) }
            state.lock(); flushSpans.removeFirst(out.count); state.unlock()
        case .retry: break
        }
        return r
    }

    func stopPairingClock() {
        state.lock()
        let running = !stopping && spans != nil && config.traces
        stopping = true
        state.broadcast()
        state.unlock()
        if running { clockDone.wait() }
    }

    /// The calling thread's error text (the kit's `last_error`).
    func setError(_ s: String) { setThreadError(s) }

    init(config c: Config, host: PluginHost) throws {
        self.host = host
        config = try OTLPConfig(entries: c.entries)
        var o = HTTPClient.Options()
        o.timeoutMs = config.timeoutMs
        o.caFile = config.caFile; o.certFile = config.certFile; o.keyFile = config.keyFile
        o.verify = !config.insecureSkipVerify
        o.httpVersion = config.proto != .grpc ? Int32(OISP_HTTP_DEFAULT)
            : config.endpoint.hasPrefix("https://") ? Int32(OISP_HTTP_2_TLS) : Int32(OISP_HTTP_2_PRIOR_KNOWLEDGE)
        http.options = o
        guard http.available else { throw OTLPConfig.Invalid(message: "libcurl could not be initialised") }
        spans = SpanBuilder(pairTimeoutMs: config.pairTimeoutMs, captureContent: config.captureContent, contentMaxBytes: config.captureContentMaxBytes)
        if config.traces { startPairingClock() }
        log(OISP_LOG_INFO, "otlp exporter: \(config.proto.rawValue) → \(config.endpoint) (signals: \(config.traces ? "traces " : "")\(config.logs ? "logs " : "")\(config.metrics ? "metrics" : ""))")
    }

    /// The spans of batch `id`: built now from `events` (in batch order: an earlier batch still
    /// being parsed on another thread is waited for, briefly), or kept from an earlier try.
    func spans(forBatch id: UInt64, events: [OTLPEvent], nowNs: UInt64) -> [TracedSpan] {
        state.lock(); defer { state.unlock() }
        if let kept = builtSpans[id] { return kept }
        let deadline = Date(timeIntervalSinceNow: 0.05)
        while let next = nextBatch, id > next, state.wait(until: deadline) {}
        let built = spans.consume(events, nowNs: nowNs)
        if nextBatch.map({ id >= $0 }) ?? true { nextBatch = id + 1 }
        builtSpans[id] = built
        builtOrder.append(id)
        if builtOrder.count > min(OTLPInstance.maxBuiltBatches, max(8, 2 * peakCalls)) {
            // batches the host gave up on (dropped or spooled) leave their entry behind
            builtSpans[builtOrder.removeFirst()] = nil
        }
        state.broadcast()
        return built
    }

    func finishBatch(_ id: UInt64, tracesSentOnly: Bool) {
        state.lock(); defer { state.unlock() }
        if tracesSentOnly { if builtSpans[id] != nil { builtSpans[id] = [] }; return }
        if builtSpans.removeValue(forKey: id) != nil, let k = builtOrder.firstIndex(of: id) { builtOrder.remove(at: k) }
    }

    func log(_ level: oisp_log_level, _ s: String) { host.log(level, s) }
    func count(_ name: String, _ n: Int) { host.count(name, n) }

    /// `rejected(n)`: delivered, but the receiver's partial_success refused n items for good.
    enum Outcome { case ok, rejected(Int), retry(Int?), permanent }

    /// OTLP/JSON wants ids as hex and enums as numbers; swift-protobuf writes base64 and names.
    static func otlpJSON(_ m: Message) throws -> Data {
        var o = JSONEncodingOptions()
        o.alwaysPrintEnumsAsInts = true
        let raw = try m.jsonUTF8Data(options: o)
        guard var obj = try JSONSerialization.jsonObject(with: raw) as? [String: Any] else { return raw }
        func fix(_ v: Any) -> Any {
            if var d = v as? [String: Any] {
                for (k, x) in d {
                    if ["traceId", "spanId", "parentSpanId"].contains(k), let s = x as? String, let b = Data(base64Encoded: s) {
                        d[k] = b.map { String(format: "%02x", $0) }.joined()
                    } else { d[k] = fix(x) }
                }
                return d
            }
            if let a = v as? [Any] { return a.map(fix) }
            return v
        }
        obj = fix(obj) as! [String: Any]
        return try JSONSerialization.data(withJSONObject: obj)
    }

    /// Sends one request for a signal; parses partial success.
    func send<M: Message>(signal: String, message: M, protobuf: (() throws -> Data)? = nil) -> Outcome {
        let c = config!
        var body: Data
        var headers = c.headers
        var url: String
        do {
            switch c.proto {
            case .grpc:
                let service = signal == "traces" ? "opentelemetry.proto.collector.trace.v1.TraceService"
                    : signal == "metrics" ? "opentelemetry.proto.collector.metrics.v1.MetricsService" : "opentelemetry.proto.collector.logs.v1.LogsService"
                url = "\(c.endpoint)/\(service)/Export"
                var payload = try protobuf?() ?? message.serializedData()
                var flag: UInt8 = 0
                if c.gzip { payload = gzipData(payload); flag = 1; headers.append("grpc-encoding: gzip") }
                body = Data([flag]) + withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Data($0) } + payload
                headers += ["content-type: application/grpc", "te: trailers", "grpc-accept-encoding: gzip", "user-agent: oisp-sensor-otlp/0.1"]
            case .httpProtobuf, .httpJSON:
                url = "\(c.endpoint)/v1/\(signal)"
                if c.endpoint.hasSuffix("/v1/\(signal)") { url = c.endpoint }
                body = c.proto == .httpJSON ? try OTLPInstance.otlpJSON(message) : try protobuf?() ?? message.serializedData()
                headers.append(c.proto == .httpJSON ? "Content-Type: application/json" : "Content-Type: application/x-protobuf")
                if c.gzip { body = gzipData(body); headers.append("Content-Encoding: gzip") }
            }
        } catch {
            setError("encoding the OTLP request failed: \(error)")
            return .permanent
        }
        let rs = http.request("POST", url, headers: headers, body: body)
        if let e = rs.error {
            setError("\(c.proto.rawValue) \(url): \(e)")
            return .retry(nil)
        }
        let header = rs.header
        let respBody = rs.body
        if ProcessInfo.processInfo.environment["OISP_OTLP_DEBUG"] != nil {
            log(OISP_LOG_INFO, "response \(rs.status) headers: \(rs.headers.map { "\($0.0): \($0.1)" }.joined(separator: " | "))")
        }
        let retryAfter = rs.retryAfterMs
        if c.proto == .grpc {
            guard rs.status == 200 else {
                setError("gRPC \(url): HTTP \(rs.status)")
                return [429, 502, 503, 504].contains(Int(rs.status)) ? .retry(retryAfter) : .permanent
            }
            let code = Int(header("grpc-status") ?? "0") ?? 0
            if code != 0 {
                let msg = (header("grpc-message") ?? "").removingPercentEncoding ?? ""
                setError("gRPC status \(code): \(msg)")
                // UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED, CANCELLED, OUT_OF_RANGE, DATA_LOSS;
                // a RetryInfo in the status details is the server's throttle (OTLP spec)
                return [1, 4, 8, 10, 11, 14, 15].contains(code) ? .retry(header("grpc-status-details-bin").flatMap(OTLPInstance.retryInfoMs) ?? retryAfter) : .permanent
            }
            let n = respBody.count >= 5 ? partialSuccess(signal: signal, Data(respBody.dropFirst(5))) : 0
            return n > 0 ? .rejected(n) : .ok
        }
        switch rs.status {
        case 200..<300:
            let n = c.proto == .grpc ? 0 : partialSuccess(signal: signal, respBody, json: c.proto == .httpJSON)
            return n > 0 ? .rejected(n) : .ok
        case 429, 502, 503, 504:
            setError("HTTP \(rs.status) from \(url)")
            return .retry(retryAfter)
        default:
            setError("HTTP \(rs.status) from \(url): \(String(decoding: respBody.prefix(300), as: UTF8.self))")
            return .permanent
        }
    }

    /// The delay of a `google.rpc.RetryInfo` in a `grpc-status-details-bin` trailer (base64 of a
    /// `google.rpc.Status`, padding optional), in ms; nil when there is none or it is unreadable.
    static func retryInfoMs(_ value: String) -> Int? {
        var b64 = value.trimmingCharacters(in: .whitespaces)
        b64 += String(repeating: "=", count: (4 - b64.utf8.count % 4) % 4)
        guard let raw = Data(base64Encoded: b64), let status = try? Google_Rpc_Status(serializedBytes: raw) else { return nil }
        for any in status.details where any.typeURL.hasSuffix("/google.rpc.RetryInfo") {
            guard let info = try? Google_Rpc_RetryInfo(serializedBytes: any.value), info.hasRetryDelay else { continue }
            let d = info.retryDelay
            guard d.seconds >= 0, d.nanos >= 0 else { return 0 }
            return Int(min(d.seconds, 86_400)) * 1000 + Int(d.nanos) / 1_000_000
        }
        return nil
    }

    /// The receiver's partial_success: how many spans or log records it refused for good (0 if
    /// none). Per the OTLP spec they are not retried.
    func partialSuccess(signal: String, _ d: Data, json: Bool = false) -> Int {
        guard !d.isEmpty else { return 0 }
        // OTLP/HTTP answers in the request's encoding: protobuf, or JSON (lowerCamelCase, int64 as strings)
        func decode<M: SwiftProtobuf.Message>(_ t: M.Type) -> M? {
            var o = JSONDecodingOptions(); o.ignoreUnknownFields = true
            return json ? try? M(jsonUTF8Data: d, options: o) : try? M(serializedBytes: d)
        }
        if signal == "traces", let r = decode(TraceResponse.self), r.hasPartialSuccess, r.partialSuccess.rejectedSpans > 0 {
            count("otlp_rejected_spans", Int(r.partialSuccess.rejectedSpans))
            log(OISP_LOG_WARN, "OTLP partial success: \(r.partialSuccess.rejectedSpans) spans rejected: \(r.partialSuccess.errorMessage)")
            return Int(r.partialSuccess.rejectedSpans)
        }
        if signal == "logs", let r = decode(LogsResponse.self), r.hasPartialSuccess, r.partialSuccess.rejectedLogRecords > 0 {
            count("otlp_rejected_logs", Int(r.partialSuccess.rejectedLogRecords))
            let msg = "OTLP partial success: \(r.partialSuccess.rejectedLogRecords) log records rejected: \(r.partialSuccess.errorMessage)"
            setError(msg) // logs only: the host reports these as rejected, with this text
            if config.traces { log(OISP_LOG_WARN, msg) }
            return Int(r.partialSuccess.rejectedLogRecords)
        }
        return 0
    }

    /// The resource of spans or log records whose events have these attributes (`eventResource`):
    /// `service.name` first, the node's name from the pod's metadata or else `NODE_NAME`.
    func resource(_ attrs: [KV]) -> Opentelemetry_Proto_Resource_V1_Resource {
        var r = Opentelemetry_Proto_Resource_V1_Resource()
        var a = [kv("service.name", config.serviceName)!]
        if !attrs.contains(where: { $0.key == "host.name" }) { a.append(kv("host.name", ProcessInfo.processInfo.hostName)!) }
        a += attrs
        if !attrs.contains(where: { $0.key == "k8s.node.name" }), let n = kv("k8s.node.name", ProcessInfo.processInfo.environment["NODE_NAME"]) { a.append(n) }
        a.append(kv("telemetry.sdk.name", "oisp-sensor")!)
        r.attributes = a
        return r
    }

    /// Items grouped by resource, in order of first appearance.
    static func byResource<T>(_ items: [T], _ attrs: (T) -> [KV]) -> [(resource: [KV], items: [T])] {
        var index: [[KV]: Int] = [:]
        var groups: [(resource: [KV], items: [T])] = []
        for x in items {
            let key = attrs(x)
            if let i = index[key] { groups[i].items.append(x) } else { index[key] = groups.count; groups.append((key, [x])) }
        }
        return groups
    }

    func scope() -> Opentelemetry_Proto_Common_V1_InstrumentationScope {
        var s = Opentelemetry_Proto_Common_V1_InstrumentationScope()
        s.name = "oisp-sensor"
        s.version = "0.1.0"
        return s
    }

    /// One request; one ResourceSpans per resource (per pod, and the node's own processes).
    func sendSpans(_ spans: [TracedSpan]) -> Outcome {
        guard !spans.isEmpty else { return .ok }
        var req = TraceRequest()
        req.resourceSpans = OTLPInstance.byResource(spans, \.resource).map { g in
            var rs = Opentelemetry_Proto_Trace_V1_ResourceSpans()
            rs.resource = resource(g.resource)
            var ss = Opentelemetry_Proto_Trace_V1_ScopeSpans()
            ss.scope = scope()
            ss.spans = g.items.map(\.span)
            rs.scopeSpans = [ss]
            return rs
        }
        return send(signal: "traces", message: req, protobuf: { try OTLPInstance.protobufBytes(req) })
    }

    /// The request's protobuf bytes with each span encoded once. swift-protobuf writes a nested
    /// message's length by sizing it again at every level it sits in, so an attribute deep in a
    /// span was sized at each of request → ResourceSpans → ScopeSpans → Span → KeyValue →
    /// AnyValue; here the library encodes each span, resource and scope, and the three outer
    /// levels are framed around those bytes (trace_service.proto field 1; trace.proto
    /// ResourceSpans 1–3, ScopeSpans 1–3). Byte for byte `req.serializedData()`: checked on every
    /// request in debug builds (the test suite's).
    static func protobufBytes(_ req: TraceRequest) throws -> Data {
        func varint(_ v: Int, _ out: inout [UInt8]) {
            var v = UInt64(v)
            while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
            out.append(UInt8(v))
        }
        func field(_ n: Int, _ bytes: [UInt8], _ out: inout [UInt8]) {
            out.append(UInt8(n << 3 | 2)) // length-delimited
            varint(bytes.count, &out)
            out += bytes
        }
        var out: [UInt8] = []
        for rs in req.resourceSpans {
            var r: [UInt8] = []
            if rs.hasResource { field(1, try rs.resource.serializedBytes(), &r) }
            for ss in rs.scopeSpans {
                var sc: [UInt8] = []
                if ss.hasScope { field(1, try ss.scope.serializedBytes(), &sc) }
                for span in ss.spans { field(2, try span.serializedBytes(), &sc) }
                if !ss.schemaURL.isEmpty { field(3, Array(ss.schemaURL.utf8), &sc) }
                field(2, sc, &r)
            }
            if !rs.schemaURL.isEmpty { field(3, Array(rs.schemaURL.utf8), &r) }
            field(1, r, &out)
        }
        let data = Data(out)
        assert(data == (try? req.serializedData()), "framed OTLP traces differ from swift-protobuf's encoding")
        return data
    }

    func sendLogs(_ events: [OTLPEvent]) -> Outcome {
        guard !events.isEmpty else { return .ok }
        var req = LogsRequest()
        req.resourceLogs = OTLPInstance.byResource(events, { eventResource($0.f) }).map { g in
            var rl = Opentelemetry_Proto_Logs_V1_ResourceLogs()
            rl.resource = resource(g.resource)
            var sl = Opentelemetry_Proto_Logs_V1_ScopeLogs()
            sl.scope = scope()
            sl.logRecords = logRecords(g.items)
            rl.scopeLogs = [sl]
            return rl
        }
        return send(signal: "logs", message: req)
    }

    func logRecords(_ events: [OTLPEvent]) -> [Opentelemetry_Proto_Logs_V1_LogRecord] {
        events.map { item in
            var l = Opentelemetry_Proto_Logs_V1_LogRecord()
            l.timeUnixNano = item.tsNs
            l.observedTimeUnixNano = UInt64(Date().timeIntervalSince1970 * 1e9)
            l.severityNumber = .info
            l.severityText = "INFO"
            l.eventName = item.f.eventType
            var body = Opentelemetry_Proto_Common_V1_AnyValue()
            body.stringValue = item.text
            l.body = body
            if let t = hexBytes(item.f.traceID), t.count == 16 { l.traceID = t }
            if let s = hexBytes(item.f.spanID), s.count == 8 { l.spanID = s }
            // an AI call's event from its facts; another event's from its JSON (no call fields)
            let d = item.json?["data"]
            l.attributes = spans.commonAttributes(item.f) + [
                item.f.provider.map { kv("gen_ai.provider.name", $0) } ?? kv("gen_ai.provider.name", d?["provider"]?["name"]),
                item.f.model.map { kv("gen_ai.request.model", $0) } ?? kv("gen_ai.request.model", d?["model"]?["id"]),
                item.f.requestID.map { kv("oisp.request_id", $0) } ?? kv("oisp.request_id", d?["request_id"])].compactMap { $0 }
            return l
        }
    }
}

extension OTLPInstance {
    /// The events of an AI call, which the call fields describe whole.
    static let callTypes: Set<String> = ["ai.request", "ai.response", "ai.embedding"]

    /// The calling thread's error text, for a result's message.
    func failure(_ otherwise: String) -> String { threadErrorText() ?? otherwise }

    func export(batch: UnsafePointer<oisp_batch>) -> ExportResult {
        let id = batch.pointee.batch_id
        state.withLock { callsInFlight += 1; peakCalls = max(peakCalls, callsInFlight) }
        defer { state.withLock { callsInFlight -= 1 } }
        var events: [OTLPEvent] = []
        var reader = CallFieldReader()
        for r in records(of: batch) {
            // streamed chunks make no spans: with traces only, do not even parse them
            if !config.logs && r.eventType == "ai.streaming_chunk" { continue }
            let ts = UInt64(max(0, r.timestampNs))
            let text = config.logs ? r.withJSON { String(decoding: $0, as: UTF8.self) } : ""
            // an AI call's event from the host's call fields: no JSON parsed. The JSON is read
            // for message text (capture_content), records with a finding replaced (marked "0"),
            // other events, and hosts that do not give them.
            if !config.captureContent, OTLPInstance.callTypes.contains(r.eventType),
               let f = CallFacts(fieldsOf: r, reader: &reader) {
                events.append(OTLPEvent(f: f, tsNs: ts, json: nil, text: text))
                continue
            }
            // parsed whole: a member skipped by name would be skipped at every depth (a pod
            // label named "content"), and these facts must be the fields' (CallFactsTests)
            let parsed = r.withJSON { raw -> JSONValue? in try? JSONParser.parse(buffer: raw.bindMemory(to: UInt8.self)) }
            guard let obj = parsed, obj.objectValue != nil else { continue }
            events.append(OTLPEvent(f: CallFacts(json: obj, eventType: r.eventType), tsNs: ts, json: obj, text: text))
        }
        if config.metrics { // counted once per batch, sent on their own clock: never a reason to retry the batch
            metrics.consume(batch: id, events: events)
            sendMetrics(force: false)
        }
        var permanent = false
        var rejected = 0
        if config.traces {
            let now = UInt64(Date().timeIntervalSince1970 * 1e9)
            let built = spans(forBatch: id, events: events, nowNs: now)
            switch sendSpans(built) {
            case .ok, .rejected: count("otlp_spans", built.count) // a span is two events: no per-event count to give
            case .retry(let after): return .retry(message: failure("OTLP traces export failed"), retryAfterMs: after)
            case .permanent: permanent = true
            }
        }
        if config.logs {
            switch sendLogs(events) {
            case .ok: count("otlp_logs", events.count)
            case .rejected(let n):
                count("otlp_logs", max(0, events.count - n))
                // logs only: one record per event, so the receiver's count is the host's (ABI 1.1)
                if !config.traces { rejected = min(n, batch.pointee.count) }
            case .retry(let after):
                // traces (if any) went out: a retry of this batch must not send them again
                if config.traces && !permanent { finishBatch(id, tracesSentOnly: true) }
                return .retry(message: failure("OTLP logs export failed"), retryAfterMs: after)
            case .permanent: permanent = true
            }
        }
        finishBatch(id, tracesSentOnly: false)
        if permanent { return .permanent(message: failure("OTLP export refused")) }
        return rejected > 0 ? .okRejecting(rejected: rejected, message: failure("OTLP partial success")) : .ok
    }

    func flush() -> ExportResult {
        if config.metrics { sendMetrics(force: true) }
        guard config.traces else { return .ok }
        // requests still waiting for a response (shutdown) go out as error spans; spans of batches
        // being retried stay with those batches (the host retries or spools them)
        switch sendPendingSpans({ $0.drain() }) {
        case .ok, .rejected: return .ok
        case .retry: return .retry(message: failure("OTLP flush failed"))
        case .permanent: return .permanent(message: failure("OTLP flush refused"))
        }
    }

    func close() {
        stopPairingClock()
    }
}

extension OTLPConfig.Invalid: CustomStringConvertible {
    var description: String { message }
}

@_cdecl("oisp_exporter_entry")
public func oispOTLPEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    servesHost(major: hostMajor) ? otlpTable : nil
}

private let otlpTable = makePluginTable(name: "otlp", version: "0.1.0",
                                        description: "OpenTelemetry OTLP traces/logs/metrics over gRPC or HTTP (GenAI semantic conventions)",
                                        options: OTLPConfig.options, concurrent: true, callFields: true) { try OTLPInstance(config: $0, host: $1) as BatchExporter }
