import Foundation
import OISPExporterKit
import OISPJSON
import SwiftProtobuf

typealias KV = Opentelemetry_Proto_Common_V1_KeyValue
typealias Span = Opentelemetry_Proto_Trace_V1_Span

typealias AnyValue = Opentelemetry_Proto_Common_V1_AnyValue

func kv(_ k: String, _ v: Any?) -> KV? {
    guard let v else { return nil }
    var a = AnyValue()
    switch v {
    case let s as String: a.stringValue = s
    case let b as Bool: a.boolValue = b
    case let i as Int64: a.intValue = i
    case let i as Int: a.intValue = Int64(i)
    case let d as Double: a.doubleValue = d
    case let arr as [String]: a.arrayValue = strings(arr)
    default: a.stringValue = "\(v)"
    }
    return kv(k, value: a)
}

/// An attribute from a JSON value (strings, booleans, numbers, arrays of strings); nil for null,
/// objects and absent values. Built directly: no `Any` boxing and casts on the per-span path.
func kv(_ k: String, _ v: JSONValue?) -> KV? {
    guard let v else { return nil }
    var a = AnyValue()
    switch v {
    case .string(let s): a.stringValue = s
    case .bool(let b): a.boolValue = b
    case .int(let i): a.intValue = i
    case .double(let d): a.doubleValue = d
    case .array(let arr): a.arrayValue = strings(arr.compactMap(\.stringValue))
    case .null, .object: return nil
    }
    return kv(k, value: a)
}

/// Typed attributes (an AI call's facts): nil when the value is absent.
func kv(_ k: String, _ v: String?) -> KV? { v.map { s in attr(k) { $0.stringValue = s } } }
func kv(_ k: String, _ v: Bool?) -> KV? { v.map { b in attr(k) { $0.boolValue = b } } }
func kv(_ k: String, _ v: CallFacts.Number?) -> KV? {
    v.map { n in
        attr(k) {
            switch n {
            case .int(let i): $0.intValue = i
            case .double(let d): $0.doubleValue = d
            }
        }
    }
}

func attr(_ k: String, _ set: (inout AnyValue) -> Void) -> KV {
    var a = AnyValue()
    set(&a)
    return kv(k, value: a)
}

func kv(_ k: String, value: AnyValue) -> KV {
    var out = KV()
    out.key = k
    out.value = value
    return out
}

func strings(_ arr: [String]) -> Opentelemetry_Proto_Common_V1_ArrayValue {
    var av = Opentelemetry_Proto_Common_V1_ArrayValue()
    av.values = arr.map { var x = AnyValue(); x.stringValue = $0; return x }
    return av
}

/// Integer view of a JSON number.
func num(_ v: JSONValue?) -> Int64? {
    switch v {
    case .int(let i)?: return i
    case .double(let d)?: return Int64(d)
    default: return nil
    }
}

/// FNV-1a, for deterministic ids derived from event ids when no trace context was set.
func fnv(_ s: String, seed: UInt64) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
    for b in s.utf8 { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
    return h
}

func bytes(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) } }

func hexBytes(_ s: String?) -> Data? {
    guard let s, !s.isEmpty, s.utf8.count % 2 == 0 else { return nil }
    @inline(__always) func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    var out = [UInt8]()
    out.reserveCapacity(s.utf8.count / 2)
    var hi: UInt8?
    for c in s.utf8 {
        guard let v = nibble(c) else { return nil }
        if let h = hi { out.append(h << 4 | v); hi = nil } else { hi = v }
    }
    return Data(out)
}

/// RFC 3339 (`2025-12-22T14:30:16.345678Z`, or with an offset) → Unix nanoseconds; 0 when malformed.
func rfc3339Nanos(_ str: String?) -> UInt64 {
    guard var s = str else { return 0 }
    return s.withUTF8 { u -> UInt64 in
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for k in a..<(a + n) { guard u[k] >= 48 && u[k] <= 57 else { return nil }; v = v * 10 + Int(u[k] - 48) }
            return v
        }
        guard u.count >= 20, let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
              let se = num(17, 2) else { return 0 }
        var i = 19
        var frac: UInt64 = 0, digits = 0
        if i < u.count && u[i] == 46 {
            i += 1
            while i < u.count && u[i] >= 48 && u[i] <= 57 { if digits < 9 { frac = frac * 10 + UInt64(u[i] - 48); digits += 1 }; i += 1 }
            for _ in digits..<9 { frac *= 10 }
        }
        var offset = 0
        if i < u.count && (u[i] == 43 || u[i] == 45), let oh = num(i + 1, 2), let om = num(i + 4, 2) {
            offset = (oh * 60 + om) * 60 * (u[i] == 43 ? 1 : -1)
        }
        // days from civil (Howard Hinnant's algorithm)
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let secs = days * 86400 + h * 3600 + mi * 60 + se - offset
        return secs < 0 ? 0 : UInt64(secs) * 1_000_000_000 + frac
    }
}

/// A span and the attributes of the resource it belongs to, taken from its event: the node
/// (`host.name`, the sensor) and, for a process in a pod, the pod (`ext["oisp.k8s"]` in
/// Kubernetes resource semantic-convention names), so a backend groups the spans per pod.
struct TracedSpan {
    var span: Span
    var resource: [KV]
}

/// The event's own resource attributes (the instance adds `service.name` and the SDK's).
func eventResource(_ f: CallFacts?) -> [KV] {
    var out = [kv("host.name", f?.hostName), kv("oisp.sensor.name", f?.sensorName)].compactMap { $0 }
    guard let f, let k = f.k8s else { return out }
    out += [kv("k8s.namespace.name", k.namespace), kv("k8s.pod.name", k.podName), kv("k8s.pod.uid", k.podUID),
            kv("k8s.container.name", k.containerName), kv("container.id", f.containerID)].compactMap { $0 }
    if let image = k.containerImage {
        let (name, tag) = splitImage(image)
        out.append(kv("container.image.name", name)!)
        if let tag { out.append(kv("container.image.tags", [tag])!) }
    }
    for (kind, name) in [(k.workloadKind, k.workloadName), (k.ownerKind, k.ownerName)] {
        guard let kind, let name, let key = workloadKeys[kind] else { continue }
        out.append(kv(key, name)!)
    }
    out += [kv("k8s.node.name", k.nodeName), kv("oisp.k8s.service_account.name", k.serviceAccount)].compactMap { $0 }
    for l in k.labels { out.append(kv("k8s.pod.label.\(l.key)", l.value)!) }
    return out
}

/// One event as the builders read it: its facts (from the record's fields, or its JSON), its
/// time, and its parsed JSON when it was parsed (content capture, and events other than an AI
/// call's, which have no call fields).
struct OTLPEvent {
    var f: CallFacts
    var tsNs: UInt64
    var json: JSONValue?
    /// The event's JSON text, for the logs signal ("" without it).
    var text: String = ""
}

let workloadKeys = ["Deployment": "k8s.deployment.name", "ReplicaSet": "k8s.replicaset.name", "StatefulSet": "k8s.statefulset.name",
                    "DaemonSet": "k8s.daemonset.name", "Job": "k8s.job.name", "CronJob": "k8s.cronjob.name"]

/// `registry:5000/team/app:1.4` → (`registry:5000/team/app`, `1.4`); a digest reference has no tag.
func splitImage(_ image: String) -> (String, String?) {
    let ref = image.split(separator: "@", maxSplits: 1).first.map(String.init) ?? image
    let slash = ref.lastIndex(of: "/") ?? ref.startIndex
    if let colon = ref[slash...].lastIndex(of: ":") {
        return (String(ref[..<colon]), String(ref[ref.index(after: colon)...]))
    }
    return (ref, nil)
}

/// Turns OISP events into spans per the OpenTelemetry GenAI semantic conventions: one CLIENT
/// span per AI call (request → response), built in bounded state so a request and its response
/// may arrive in different batches; an unanswered request becomes an error span after
/// `pairTimeoutMs` (or at shutdown). Other events become standalone spans. An AI call's events
/// are read from the record's call fields when the host gives them, else from the
/// JSON (parsed with the SDK's parser).
final class SpanBuilder {
    struct Pending {
        var event: OTLPEvent; var startNs: UInt64; var seenAt: UInt64
        /// What a pairing keeps of an event: its facts, and its JSON only for message content
        /// (not its text, which only the logs signal sends, at once).
        init(event: OTLPEvent, startNs: UInt64, seenAt: UInt64, content: Bool) {
            var e = event
            e.text = ""
            if !content { e.json = nil }
            self.event = e; self.startNs = startNs; self.seenAt = seenAt
        }
    }
    private var pending: [String: Pending] = [:]      // request_id → request
    private var order: [String] = []
    /// Responses whose request has not been seen (yet): batches exported concurrently may
    /// hand a response over just before its request. Held briefly, then emitted on their own.
    private var orphans: [String: Pending] = [:]      // request_id → response
    private var orphanOrder: [String] = []
    let pairTimeoutNs: UInt64
    let orphanGraceNs: UInt64
    static let maxPending = 10_000
    /// `capture_content`: the conventions' opt-in message attributes (off by default).
    let captureContent: Bool
    let contentMaxBytes: Int

    init(pairTimeoutMs: Int64, captureContent: Bool = false, contentMaxBytes: Int = 16384) {
        self.captureContent = captureContent
        self.contentMaxBytes = contentMaxBytes
        pairTimeoutNs = UInt64(max(1, pairTimeoutMs)) * 1_000_000
        orphanGraceNs = min(pairTimeoutNs, 2_000_000_000)
    }

    static func ids(_ f: CallFacts?) -> (Data, Data) {
        if let t = hexBytes(f?.traceID), t.count == 16, let s = hexBytes(f?.spanID), s.count == 8 {
            return (t, s)
        }
        let id = f?.requestID ?? f?.eventID ?? UUID().uuidString
        return (Data(bytes(fnv(id, seed: 1)) + bytes(fnv(id, seed: 2))), Data(bytes(fnv(id, seed: 3))))
    }

    static func operation(_ requestType: String?) -> String {
        switch requestType {
        case "chat": return "chat"
        case "completion": return "text_completion"
        case "embedding": return "embeddings"
        default: return requestType ?? "chat"
        }
    }

    func commonAttributes(_ f: CallFacts) -> [KV] {
        [kv("process.pid", f.pid), kv("process.executable.name", f.processName), kv("process.executable.path", f.exe),
         kv("oisp.event_id", f.eventID), kv("oisp.event_type", f.eventType.isEmpty ? nil : f.eventType)].compactMap { $0 }
    }

    func traced(_ s: Span, _ anchor: OTLPEvent?) -> TracedSpan { TracedSpan(span: s, resource: eventResource(anchor?.f)) }

    /// Consumes a batch of events; returns finished spans.
    func consume(_ events: [OTLPEvent], nowNs: UInt64) -> [TracedSpan] {
        var spans: [TracedSpan] = []
        for e in events {
            let f = e.f
            let ts = e.tsNs
            switch f.eventType {
            case "ai.request":
                guard let rid = f.requestID else { continue }
                if let resp = orphans.removeValue(forKey: rid) {
                    // its response came first: pair now
                    if let k = orphanOrder.firstIndex(of: rid) { orphanOrder.remove(at: k) }
                    spans.append(traced(aiSpan(request: e, response: resp.event, start: ts, end: resp.event.tsNs), e))
                    continue
                }
                if pending[rid] == nil { order.append(rid) }
                pending[rid] = Pending(event: e, startNs: ts, seenAt: nowNs, content: captureContent)
                if order.count > SpanBuilder.maxPending, let old = order.first {
                    order.removeFirst()
                    if let p = pending.removeValue(forKey: old) { spans.append(traced(unanswered(p, reason: "pairing state full"), p.event)) }
                }
            case "ai.response", "ai.embedding":
                let rid = f.requestID ?? ""
                let req = pending.removeValue(forKey: rid)
                if req != nil, let k = order.firstIndex(of: rid) { order.remove(at: k) }
                let latency = UInt64(max(0, f.latency?.int64 ?? 0))
                let start = req?.startNs ?? (ts > latency * 1_000_000 ? ts - latency * 1_000_000 : ts)
                if req == nil && !rid.isEmpty && orphans[rid] == nil {
                    // no request yet: give it a moment to arrive (the span is built from the
                    // response's latency_ms if it does not)
                    orphans[rid] = Pending(event: e, startNs: start, seenAt: nowNs, content: captureContent)
                    orphanOrder.append(rid)
                    if orphanOrder.count > SpanBuilder.maxPending, let old = orphanOrder.first {
                        orphanOrder.removeFirst()
                        if let o = orphans.removeValue(forKey: old) { spans.append(traced(responseOnly(o), o.event)) }
                    }
                    continue
                }
                spans.append(traced(aiSpan(request: req?.event, response: e, start: start, end: ts), req?.event ?? e))
            case "ai.streaming_chunk":
                continue // the call's span carries the stream's outcome
            case "agent.tool_call":
                let data = e.json?["data"] ?? .null
                var s = standalone(e, name: "execute_tool \(data["tool"]?["name"]?.stringValue ?? "")", ts: ts)
                s.attributes += [kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", data["tool"]?["name"]),
                                 kv("gen_ai.tool.call.id", data["call_id"])].compactMap { $0 }
                spans.append(traced(s, e))
            default:
                spans.append(traced(standalone(e, name: f.eventType, ts: ts), e))
            }
        }
        // unanswered requests past the pairing timeout
        for rid in order {
            guard let p = pending[rid], nowNs >= p.seenAt + pairTimeoutNs else { break }
            pending[rid] = nil
            spans.append(traced(unanswered(p, reason: "no response within pair timeout"), p.event))
        }
        if order.count != pending.count { order.removeAll { pending[$0] == nil } }
        // responses whose request did not turn up within the grace period
        while let rid = orphanOrder.first, let o = orphans[rid], nowNs >= o.seenAt + orphanGraceNs {
            orphanOrder.removeFirst()
            orphans[rid] = nil
            spans.append(traced(responseOnly(o), o.event))
        }
        return spans
    }

    func responseOnly(_ o: Pending) -> Span {
        aiSpan(request: nil, response: o.event, start: o.startNs, end: o.event.tsNs)
    }

    /// Everything still waiting (shutdown): unanswered requests as error spans, responses
    /// without their request as spans of their own.
    func drain() -> [TracedSpan] {
        let out = order.compactMap { pending[$0] }.map { traced(unanswered($0, reason: "sensor stopped before the response"), $0.event) }
            + orphanOrder.compactMap { orphans[$0] }.map { traced(responseOnly($0), $0.event) }
        pending = [:]; order = []
        orphans = [:]; orphanOrder = []
        return out
    }

    var pendingCount: Int { pending.count }

    /// An endpoint's host, parsed once (an endpoint repeats call after call; URL is dear).
    private var hosts: [String: String?] = [:]
    private func host(of endpoint: String) -> String? {
        if let h = hosts[endpoint] { return h }
        let h = URL(string: endpoint)?.host
        if hosts.count >= 1024 { hosts.removeAll(keepingCapacity: true) }
        hosts[endpoint] = .some(h)
        return h
    }

    func unanswered(_ p: Pending, reason: String) -> Span {
        var s = aiSpan(request: p.event, response: nil, start: p.startNs, end: p.startNs)
        s.status.code = .error
        s.status.message = reason
        s.attributes.append(kv("error.type", "no_response")!)
        return s
    }

    func aiSpan(request: OTLPEvent?, response: OTLPEvent?, start: UInt64, end: UInt64) -> Span {
        let q = request?.f, a = response?.f
        var s = Span()
        let (t, sid) = SpanBuilder.ids(q ?? a)
        s.traceID = t
        s.spanID = sid
        s.kind = .client
        s.startTimeUnixNano = start
        s.endTimeUnixNano = max(start, end)
        let requestType = q?.requestType ?? (a?.eventType == "ai.embedding" ? "embedding" : "chat")
        let op = SpanBuilder.operation(requestType)
        let reqModel = q?.model
        let respModel = a?.model
        let model = reqModel ?? respModel ?? ""
        s.name = model.isEmpty ? op : op + " " + model
        let provider = q?.provider ?? a?.provider
        let host = q?.endpoint.flatMap(host(of:))
        var finish = a?.choiceFinishReasons ?? []
        if finish.isEmpty, let f = a?.finishReason { finish = [f] }
        s.attributes = [
            kv("gen_ai.operation.name", op), kv("gen_ai.provider.name", provider), kv("gen_ai.system", provider),
            kv("gen_ai.request.model", reqModel), kv("gen_ai.response.model", respModel),
            kv("gen_ai.response.id", a?.responseID),
            kv("gen_ai.usage.input_tokens", a?.inputTokens), kv("gen_ai.usage.output_tokens", a?.outputTokens),
            finish.isEmpty ? nil : kv("gen_ai.response.finish_reasons", finish),
            kv("gen_ai.request.temperature", q?.temperature), kv("gen_ai.request.max_tokens", q?.maxTokens),
            kv("gen_ai.request.top_p", q?.topP),
            kv("server.address", host), kv("oisp.request_id", q?.requestID ?? a?.requestID),
            kv("oisp.streaming", q?.streaming), kv("gen_ai.usage.total_tokens", a?.totalTokens),
            kv("oisp.time_to_first_token_ms", a?.timeToFirstToken), kv("http.response.status_code", a?.statusCode),
        ].compactMap { $0 } + ((q ?? a).map(commonAttributes) ?? [])
        if let conv = q?.conversationID { s.attributes.append(kv("gen_ai.conversation.id", conv)!) }
        if let a { s.attributes += SpanBuilder.costAttributes(a) }
        if captureContent {
            s.attributes += SpanBuilder.contentAttributes(request: request?.json?["data"] ?? .null, response: response?.json?["data"] ?? .null,
                                                          maxBytes: contentMaxBytes)
        }
        if let a, a.success == false {
            s.status.code = .error
            s.status.message = a.errorMessage ?? "request failed"
            if let t = a.errorType { s.attributes.append(kv("error.type", t)!) }
        } else if response != nil {
            s.status.code = .ok
        }
        return s
    }

    /// The GenAI conventions' opt-in content (`capture_content = true`): the request's messages
    /// as `gen_ai.input.messages` (system ones as `gen_ai.system_instructions`) and the answer's
    /// choices as `gen_ai.output.messages`, each a JSON string in the conventions' shape (role,
    /// parts of type text / tool_call / tool_call_response, finish_reason). The events are
    /// redacted before any exporter sees them: a part whose content was replaced by a redaction
    /// object carries no content.
    static func contentAttributes(request q: JSONValue, response a: JSONValue, maxBytes: Int = 16384) -> [KV] {
        /// At most `maxBytes` of UTF-8, cut at a character boundary and marked with "…".
        func clip(_ s: String) -> String {
            guard s.utf8.count > maxBytes else { return s }
            var n = 0, end = s.startIndex
            for i in s.indices {
                let w = s[i].utf8.count
                if n + w > maxBytes - 3 { break }
                n += w; end = s.index(after: i)
            }
            return String(s[..<end]) + "…"
        }
        func textPart(_ c: JSONValue?) -> JSONValue {
            var p = JSONObject()
            p["type"] = "text"
            if let s = c?.stringValue { p["content"] = .string(clip(s)) }
            return .object(p)
        }
        var input: [JSONValue] = [], system: [JSONValue] = []
        for m in q["messages"]?.arrayValue ?? [] {
            let role = m["role"]?.stringValue ?? "user"
            if role == "system" { system.append(textPart(m["content"])); continue }
            var o = JSONObject()
            o["role"] = .string(role)
            if role == "tool", let id = m["tool_call_id"]?.stringValue {
                var p = JSONObject()
                p["type"] = "tool_call_response"
                p["id"] = .string(id)
                if let r = m["content"]?.stringValue { p["response"] = .string(clip(r)) }
                o["parts"] = [.object(p)]
            } else {
                o["parts"] = [textPart(m["content"])]
            }
            input.append(.object(o))
        }
        var output: [JSONValue] = []
        for (i, c) in (a["choices"]?.arrayValue ?? []).enumerated() {
            let msg = c["message"] ?? .null
            var o = JSONObject()
            o["role"] = .string(msg["role"]?.stringValue ?? "assistant")
            var parts: [JSONValue] = []
            if msg["content"] != nil && msg["content"]?.isNull == false { parts.append(textPart(msg["content"])) }
            for t in (msg["tool_calls"]?.arrayValue ?? (i == 0 ? a["tool_calls"]?.arrayValue : nil) ?? []) {
                var p = JSONObject()
                p["type"] = "tool_call"
                p.set("id", t["id"])
                p.set("name", t["name"] ?? t["function"]?["name"])
                p.set("arguments", (t["arguments"] ?? t["function"]?["arguments"]).map { $0.stringValue.map { .string(clip($0)) } ?? $0 })
                parts.append(.object(p))
            }
            o["parts"] = .array(parts)
            o["finish_reason"] = .string(c["finish_reason"]?.stringValue ?? a["finish_reason"]?.stringValue ?? "stop")
            output.append(.object(o))
        }
        return [system.isEmpty ? nil : kv("gen_ai.system_instructions", JSONValue.array(system).jsonString()),
                input.isEmpty ? nil : kv("gen_ai.input.messages", JSONValue.array(input).jsonString()),
                output.isEmpty ? nil : kv("gen_ai.output.messages", JSONValue.array(output).jsonString())].compactMap { $0 }
    }

    /// The sensor's cost of the call (`ext["oisp.cost"]`) as the attributes proposed for the
    /// conventions (`gen_ai.usage.cost.*`, semantic-conventions-genai PR #443), and the cache and
    /// reasoning token counts it was computed from.
    static func costAttributes(_ f: CallFacts) -> [KV] {
        var out = [kv("gen_ai.usage.cache_read.input_tokens", f.costCacheRead), kv("gen_ai.usage.cache_creation.input_tokens", f.costCacheWrite),
                   kv("gen_ai.usage.reasoning.output_tokens", f.costReasoning)].compactMap { $0 }
        if f.costStatus == "priced" {
            out += [kv("gen_ai.usage.cost.amount", f.costAmount), kv("gen_ai.usage.cost.currency", f.costCurrency),
                    kv("gen_ai.usage.cost.source", f.costSource)].compactMap { $0 }
        } else {
            out += [kv("oisp.cost.unpriced_reason", f.unpricedReason)].compactMap { $0 }
        }
        return out
    }

    func standalone(_ e: OTLPEvent, name: String, ts: UInt64) -> Span {
        var s = Span()
        let id = e.f.eventID ?? UUID().uuidString
        s.traceID = hexBytes(e.f.traceID) ?? Data(bytes(fnv(id, seed: 1)) + bytes(fnv(id, seed: 2)))
        s.spanID = Data(bytes(fnv(id, seed: 5)))
        if let parent = hexBytes(e.f.spanID), parent.count == 8 { s.parentSpanID = parent }
        s.kind = .internal
        s.name = name
        s.startTimeUnixNano = ts
        let data = e.json?["data"] ?? .null
        let runtime = UInt64(max(0, num(data["runtime_ms"]) ?? num(data["latency_ms"]) ?? 0))
        s.endTimeUnixNano = ts
        if runtime > 0 && ts > runtime * 1_000_000 { s.startTimeUnixNano = ts - runtime * 1_000_000 }
        s.attributes = commonAttributes(e.f)
        if let dest = data["dest"], dest.objectValue != nil {
            s.attributes += [kv("server.address", dest["ip"]), kv("server.port", dest["port"])].compactMap { $0 }
        }
        if let code = data["exit_code"], let x = kv("process.exit.code", code) { s.attributes.append(x) }
        return s
    }
}
