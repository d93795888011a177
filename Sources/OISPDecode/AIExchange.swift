import Foundation
import OISPEvent

/// One request/response pair on a connection (an HTTP/1.1 message pair or an HTTP/2 stream),
/// turned into OISP events as its parts complete.
final class AIExchange {
    let decoder: AIDecoder
    let connection: PlaintextChunk.ConnectionID
    let remotePort: Int?
    var match: ProviderMatch?
    var requestHead: HTTPHead?
    var requestBody: [UInt8] = []
    var requestStart: Timestamp?
    var requestEnd: Timestamp?
    var requestTruncated = false
    /// Where capture first left request body bytes out (the JSON before it is what is read).
    var requestGapAt: Int?
    /// What the answer's events take from the request's: its id, model and input count (not
    /// the whole event: keeping a copy retained each of its strings for the exchange's life).
    var requestEvent: (eventID: String, model: JSONValue?, inputCount: JSONValue?)?
    let requestID = "req_" + ULID.make()
    var responseHead: HTTPHead?
    var responseBody: [UInt8] = []
    var responseStart: Timestamp?
    var firstTokenAt: Timestamp?
    var sse: SSEParser?
    var ndjson: [UInt8]?
    var acc: AIResponseAccumulator?
    var chunkIndex: Int64 = 0
    var bodyOverflow = false
    /// The response finished before the request did (servers may answer before reading the body).
    var responseEndedEarly: (ts: Timestamp, truncated: Bool)?
    var family: APIFamily? { match?.family }

    let auth: AuthMemo

    /// Plain HTTP on a socket, not TLS.
    let plain: Bool

    init(decoder: AIDecoder, connection: PlaintextChunk.ConnectionID, remotePort: Int?, auth: AuthMemo, plain: Bool = false) {
        self.decoder = decoder
        self.connection = connection
        self.remotePort = remotePort
        self.auth = auth
        self.plain = plain
    }

    var isAI: Bool { match != nil }

    /// Both events of the call carry it: hashed once.
    lazy var traceContext: OISPEvent.TraceContext = {
        let h = Hashing.sha256(Array(requestID.utf8))
        return .init(traceID: Hashing.hexString(h[0..<16]), spanID: Hashing.hexString(h[16..<24]), traceFlags: 1)
    }()

    func requestHeadReceived(_ head: HTTPHead, ts: Timestamp) {
        requestHead = head
        requestStart = ts
        match = decoder.registry.match(authority: head.authority, path: head.path, remotePort: remotePort)
        if let match { acc = AIResponseAccumulator(family: match.family) }
    }

    func requestBodyReceived(_ bytes: [UInt8]) {
        guard isAI, !requestOverflow else { return }
        if requestBody.count + bytes.count > decoder.options.maxBodyBytes {
            // kept up to here (later, smaller pieces would splice the body)
            requestTruncated = true
            requestOverflow = true
            if requestGapAt == nil { requestGapAt = requestBody.count }
            return
        }
        requestBody += bytes
    }
    var requestOverflow = false

    /// Request body bytes capture left out (a write cut at `max_capture_bytes`).
    func requestBodyGap(_ n: Int) {
        guard isAI else { return }
        requestTruncated = true
        if requestGapAt == nil { requestGapAt = requestBody.count }
    }

    /// Response body bytes capture left out: a streamed answer's event in progress is ended
    /// there (its data, cut, does not parse and is passed over); a whole body is then partial.
    func responseBodyGap(_ n: Int) {
        guard isAI else { return }
        responseGap = true
        if sse != nil && !encoded { sse!.feed([10, 10]) { _, _ in } }
        if ndjson != nil && !encoded { ndjson!.append(10) }
    }
    var responseGap = false

    static func decodedBody(_ body: [UInt8], head: HTTPHead?) -> [UInt8] {
        guard let enc = head?.header("content-encoding"), !enc.isEmpty else { return body }
        return BodyCodecs.decode(body, contentEncoding: enc) ?? body
    }

    func requestCompleted(ts: Timestamp, truncated: Bool) -> [OISPEvent] {
        requestEnd = ts
        guard let match, let head = requestHead else { return [] }
        requestTruncated = requestTruncated || truncated
        // a body with a gap is read as it came: a content-encoded one then does not parse
        let body = requestGapAt == nil ? AIExchange.decodedBody(requestBody, head: head) : requestBody
        var json = requestGapAt == nil ? try? JSONParser.parse(body) : nil
        // a body capture cut (a prompt over `max_capture_bytes` in one write): what its start
        // and its end hold whole — the first messages, the members after them — is read
        var cut = false
        let gapAt = min(body.count, requestGapAt ?? body.count)
        if json == nil, requestTruncated, let v = JSONCut.whole(prefix: body[..<gapAt], suffix: body[gapAt...]) {
            json = v
            cut = true
        }
        let r = AIRequestReader.read(family: match.family, path: head.path, body: json)
        var d = JSONObject()
        d["request_id"] = .string(requestID)
        var provider = JSONObject()
        provider["name"] = .string(match.provider)
        let host = head.authority ?? "unknown"
        provider["endpoint"] = .string((plain ? "http://" : "https://") + host + head.path.withoutQuery)
        provider.set("region", match.region.map(JSONValue.string))
        d["provider"] = .object(provider)
        if let model = r.model ?? match.pathModel { d["model"] = ["id": .string(model)] }
        d["auth"] = .object(AuthInfo.read(head, hash: decoder.keyedHash, memo: auth))
        d["request_type"] = .string(match.family.requestType)
        // a cut body may have lost its "stream" member: not known, then, rather than false
        if !cut || r.streaming || json?["stream"] != nil { d["streaming"] = .bool(r.streaming) }
        if !match.family.isEmbedding {
            d["messages"] = .array(r.messages)
            d["messages_count"] = .int(Int64(r.messages.count))
            d["has_system_prompt"] = .bool(r.messages.contains { $0["role"]?.stringValue == "system" })
            if !r.tools.isEmpty { d["tools"] = .array(r.tools); d["tools_count"] = .int(Int64(r.tools.count)) }
            d.set("tool_choice", r.toolChoice.map(JSONValue.string))
            if !r.parameters.isEmpty { d["parameters"] = .object(r.parameters) }
            if !r.conversation.isEmpty { d["conversation"] = .object(r.conversation) }
            var chars = r.messages.reduce(0) { $0 + Int($1["content_length"]?.intValue ?? 0) }
            // a cut body's messages are mostly left out: its whole length is the better measure
            if cut, let n = head.header("content-length").flatMap(HTTP1Parser.contentLength) { chars = max(chars, n) }
            d["estimated_tokens"] = .int(Int64((chars + 3) / 4))
        } else if let n = r.inputCount {
            d["input_count"] = .int(Int64(n))
        }
        if json == nil && !body.isEmpty { d["body_parse_error"] = true }
        if cut { d["body_cut"] = true }
        var e = decoder.makeEvent("ai.request", ts: requestStart ?? ts, connection: connection, write: true, plain: plain,
                                  complete: !requestTruncated && json != nil, data: d)
        e.traceContext = traceContext
        requestEvent = (e.eventID, d["model"]?["id"], d["input_count"])
        if let early = responseEndedEarly {
            responseEndedEarly = nil
            return [e] + responseCompleted(ts: max(early.ts, ts), truncated: early.truncated)
        }
        return [e]
    }

    func responseHeadReceived(_ head: HTTPHead, ts: Timestamp) {
        responseHead = head
        encodedMemo = nil
        responseStart = ts
        guard isAI else { return }
        if head.contentType.utf8Contains("text/event-stream") { sse = SSEParser() }
        else if head.contentType.utf8Contains("ndjson") || (match?.family == .ollamaChat || match?.family == .ollamaGenerate) { ndjson = [] }
    }

    /// Whether the response body is content-encoded (gzip, …): read once per response head, not
    /// per chunk.
    var encoded: Bool {
        if let e = encodedMemo { return e }
        let e = !(responseHead?.header("content-encoding") ?? "identity").lowercased().utf8Contains("identity")
        if responseHead != nil { encodedMemo = e }
        return e
    }
    private var encodedMemo: Bool?

    func responseBodyReceived(_ bytes: [UInt8], ts: Timestamp) -> [OISPEvent] {
        guard isAI else { return [] }
        if sse != nil && !encoded {
            var out: [OISPEvent] = []
            sse!.feed(bytes) { e, d in out.take(streamed(d, event: e, ts: ts)) }
            return out
        }
        if ndjson != nil && !encoded {
            ndjson! += bytes
            var out: [OISPEvent] = []
            let used = streamedLines(ndjson!, all: false, ts: ts, into: &out)
            if used > 0 { ndjson!.removeFirst(used) }
            if ndjson!.count > decoder.options.maxBodyBytes { ndjson = []; bodyOverflow = true }
            return out
        }
        if responseBody.count + bytes.count > decoder.options.maxBodyBytes { bodyOverflow = true; return [] }
        responseBody += bytes
        return []
    }

    /// Each whole NDJSON line of `buf` (with `all`, a last one without its newline too) through
    /// `streamed`, where it lies; returns how many bytes were taken.
    private func streamedLines(_ buf: [UInt8], all: Bool, ts: Timestamp, into out: inout [OISPEvent]) -> Int {
        buf.withUnsafeBufferPointer { u in
            var start = 0
            for i in 0..<u.count where u[i] == 10 {
                out.take(streamed(UnsafeBufferPointer(rebasing: u[start..<i]), event: nil, ts: ts))
                start = i + 1
            }
            if all && start < u.count {
                out.take(streamed(UnsafeBufferPointer(rebasing: u[start...]), event: nil, ts: ts))
                start = u.count
            }
            return start
        }
    }

    /// Members of an OpenAI chunk that nothing reads, left unbuilt: the chunk's object type,
    /// its creation time, the backend's fingerprint and tier, the padding of `obfuscation`
    /// (every chunk, when on) and log probabilities (large, when asked for). Never `id`:
    /// a tool call's id is one.
    static let unreadChunkMembers = JSONParser.KeySet(["object", "created", "system_fingerprint", "service_tier", "obfuscation", "logprobs"])

    /// One streamed event (SSE data or NDJSON line) → accumulator (+ a streaming chunk event),
    /// from its bytes as they lie: trimmed and parsed as bytes, no string made per chunk.
    func streamed(_ u: UnsafeBufferPointer<UInt8>, event: String?, ts: Timestamp) -> [OISPEvent] {
        guard acc != nil else { return [] }
        var s = 0, end = u.count
        while s < end, u[s] == 32 || u[s] == 9 { s += 1 }
        while end > s, u[end - 1] == 32 || u[end - 1] == 9 { end -= 1 }
        let t = UnsafeBufferPointer(rebasing: u[s..<end])
        guard !t.isEmpty, !(t.count == 6 && t.elementsEqual("[DONE]".utf8)) else { return [] }
        let parsed: JSONValue?
        switch family {
        case .openaiChat?, .openaiCompletion?: parsed = try? JSONParser.parse(buffer: t, skipping: AIExchange.unreadChunkMembers)
        default: parsed = try? JSONParser.parse(buffer: t)
        }
        guard let v = parsed else { return [] }
        let delta = acc!.consumeStream(v, event: event)
        if delta.content != nil || !delta.toolCalls.isEmpty, firstTokenAt == nil { firstTokenAt = ts }
        guard !delta.isEmpty, delta.content != nil || !delta.toolCalls.isEmpty || delta.finishReason != nil else { return [] }
        // counted whether or not chunk events are written: ai.response carries the count
        let index = chunkIndex
        chunkIndex += 1
        guard decoder.options.streamingChunks else { return [] }
        var d = JSONObject()
        d["request_id"] = .string(requestID)
        d["chunk_index"] = .int(index)
        var dd = JSONObject()
        dd.set("content", delta.content.map(JSONValue.string))
        dd.set("role", delta.role.map(JSONValue.string))
        if !delta.toolCalls.isEmpty { dd["tool_calls"] = .array(delta.toolCalls) }
        d["delta"] = .object(dd)
        d.set("finish_reason", delta.finishReason.map(JSONValue.string))
        var e = decoder.makeEvent("ai.streaming_chunk", ts: ts, connection: connection, write: false, plain: plain, complete: true, data: d)
        if let r = requestEvent { e.relatedEvents = [.init(eventID: r.eventID, relationship: "parent")] }
        e.traceContext = traceContext
        return [e]
    }

    /// The answer was reported (an exchange cut afterwards adds nothing).
    var responseDone = false

    func responseCompleted(ts: Timestamp, truncated: Bool) -> [OISPEvent] {
        guard isAI, acc != nil, let match, !responseDone else { return [] }
        if requestEnd == nil { responseEndedEarly = (ts, truncated); return [] }
        responseDone = true
        var out: [OISPEvent] = []
        if sse != nil {
            if encoded { out.take(SSEParserFeedAll(AIExchange.decodedBody(responseBody, head: responseHead), ts: ts)) }
            sse!.finish { e, d in out.take(streamed(d, event: e, ts: ts)) }
        } else if ndjson != nil {
            if encoded { ndjson = AIExchange.decodedBody(responseBody, head: responseHead) }
            _ = streamedLines(ndjson!, all: true, ts: ts, into: &out)
        } else {
            let body = AIExchange.decodedBody(responseBody, head: responseHead)
            if let v = try? JSONParser.parse(body) { acc!.consumeBody(v) }
            else if let s = String(validating: body, as: UTF8.self), s.utf8Contains("data:") {
                var p = SSEParser()
                p.feed(body) { e, d in out.take(streamed(d, event: e, ts: ts)) }
                p.finish { e, d in out.take(streamed(d, event: e, ts: ts)) }
            }
        }
        let status = responseHead?.status ?? 0
        let a = acc!
        let latency = requestEnd.map { max(0, (ts.nanoseconds - $0.nanoseconds) / 1_000_000) }
        var d = JSONObject()
        d["request_id"] = .string(requestID)
        let providerID = a.providerRequestID ?? responseHead?.header("x-request-id") ?? responseHead?.header("request-id")
            ?? responseHead?.header("x-amzn-requestid")
        d.set("provider_request_id", providerID.map(JSONValue.string))
        d["provider"] = ["name": .string(match.provider)]
        let model = a.model ?? requestEvent?.model?.stringValue ?? match.pathModel
        if match.family.isEmbedding {
            var e = JSONObject()
            e["request_id"] = .string(requestID)
            e["provider"] = ["name": .string(match.provider)]
            if let model { e["model"] = ["id": .string(model)] }
            e.set("input_count", requestEvent?.inputCount ?? nil)
            e.set("total_tokens", a.embeddingTokens.map(JSONValue.int))
            e.set("dimensions", a.embeddingDimensions.map { .int(Int64($0)) })
            e.set("latency_ms", latency.map(JSONValue.int))
            e["status_code"] = .int(Int64(status))
            e["success"] = .bool((200..<300).contains(status))
            var ev = decoder.makeEvent("ai.embedding", ts: ts, connection: connection, write: false, plain: plain, complete: !truncated, data: e)
            if let r = requestEvent { ev.relatedEvents = [.init(eventID: r.eventID, relationship: "caused_by")] }
            ev.traceContext = traceContext
            return out + [ev]
        }
        if let model { d["model"] = ["id": .string(model)] }
        // no head: the answer's start was left out by capture (its status is not known)
        if responseHead != nil {
            d["status_code"] = .int(Int64(status))
            d["success"] = .bool((200..<300).contains(status) && a.error == nil)
        }
        if let err = a.error { d["error"] = .object(err) }
        else if responseHead != nil && !(200..<300).contains(status) {
            d["error"] = ["type": "http_error", "message": .string(String(decoding: responseBody.prefix(512), as: UTF8.self)), "code": .int(Int64(status))]
        }
        for (k, v) in a.responseFields() { d[k] = v }
        if responseHead != nil && !(200..<300).contains(status) { d["finish_reason"] = "error" }
        d.set("latency_ms", latency.map(JSONValue.int))
        if let ft = firstTokenAt, let re = requestEnd, sse != nil || ndjson != nil {
            d["time_to_first_token_ms"] = .int(max(0, (ft.nanoseconds - re.nanoseconds) / 1_000_000))
        }
        // a streamed answer is one event: its content assembled above, and how many chunks made it
        if sse != nil || ndjson != nil { d["chunk_count"] = .int(chunkIndex) }
        var resp = decoder.makeEvent("ai.response", ts: ts, connection: connection, write: false, plain: plain,
                                     complete: !truncated && !bodyOverflow && !responseGap && responseHead != nil, data: d)
        if let r = requestEvent { resp.relatedEvents = [.init(eventID: r.eventID, relationship: "caused_by")] }
        resp.traceContext = traceContext
        out.append(resp)
        for t in a.toolCalls {
            var td = JSONObject()
            td.set("call_id", t.id.map(JSONValue.string))
            td["tool"] = ["name": .string(t.name), "tool_type": "function"]
            td["arguments"] = .string(t.arguments)
            td["arguments_hash"] = .string(decoder.keyedHash.hash(t.arguments))
            td["triggered_by"] = .string(resp.eventID)
            td["request_id"] = .string(requestID)
            var te = decoder.makeEvent("agent.tool_call", ts: ts, connection: connection, write: false, plain: plain, complete: true, data: td)
            te.relatedEvents = [.init(eventID: resp.eventID, relationship: "caused_by")]
            te.traceContext = traceContext
            out.append(te)
        }
        return out
    }

    private func SSEParserFeedAll(_ body: [UInt8], ts: Timestamp) -> [OISPEvent] {
        var out: [OISPEvent] = []
        sse!.feed(body) { e, d in out.take(streamed(d, event: e, ts: ts)) }
        return out
    }
}

/// The `ai.request.auth` block: type, key prefix and keyed hash — never the key.
enum AuthInfo {
    static let knownPrefixes = ["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-ant-admin01-", "sk-ant-api03-", "sk-ant-", "sk-or-v1-",
                                "sk-", "gsk_", "xai-", "pplx-", "hf_", "r8_", "fw_", "AIza", "ya29.", "AKIA", "ASIA", "eyJ"]

    static func prefix(_ key: String) -> String {
        for p in knownPrefixes where key.hasPrefix(p) { return p }
        return String(key.prefix(min(4, max(0, key.count / 4))))
    }

    static func read(_ head: HTTPHead, hash: KeyedHash, memo: AuthMemo) -> JSONObject {
        var key: String?
        var type = "api_key"
        if let a = head.header("authorization") {
            let parts = a.split(separator: " ", maxSplits: 1)
            let scheme = parts.first?.lowercased() ?? ""
            if scheme == "bearer", parts.count == 2 {
                key = String(parts[1])
                if key!.hasPrefix("ya29.") || key!.hasPrefix("eyJ") { type = "o_auth" }
            } else if scheme == "aws4-hmac-sha256", let r = a.range(of: "Credential=") {
                key = String(a[r.upperBound...].prefix { $0 != "/" })
                type = "service_account"
            } else if scheme == "basic" {
                key = parts.count == 2 ? String(parts[1]) : nil
            } else {
                key = a
            }
        } else if let k = head.header("x-api-key") ?? head.header("api-key") ?? head.header("x-goog-api-key") {
            key = k
        } else if let q = head.path.split(separator: "?", maxSplits: 1).dropFirst().first {
            for kv in q.split(separator: "&") where kv.hasPrefix("key=") { key = String(kv.dropFirst(4)) }
        }
        var o = JSONObject()
        guard let key, !key.isEmpty else { o["type"] = "none"; return o }
        o["type"] = .string(type)
        o["key_prefix"] = .string(prefix(key))
        if memo.key != key { memo.key = key; memo.hash = hash.hash(key) }
        o["key_hash"] = .string(memo.hash)
        return o
    }
}

/// A connection's last credential and its keyed hash: the requests of a keep-alive connection
/// carry the same key, hashed once (the HMAC was a few percent of a short call).
final class AuthMemo {
    var key = ""
    var hash = ""
}
