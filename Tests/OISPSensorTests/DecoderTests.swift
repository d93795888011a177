import Foundation
import OISPCapture
import OISPDecode
import OISPEvent
import XCTest

/// Golden tests: realistic request/response bytes per provider, split at random points with
/// both directions interleaved, decoded into the expected OISP events.
final class DecoderTests: XCTestCase {
    struct Conversation {
        var request: [UInt8]
        var response: [UInt8]
        var remotePort: Int? = 443
    }

    static func http(_ head: String, _ body: String) -> [UInt8] {
        Array((head.replacingOccurrences(of: "\n", with: "\r\n") + "Content-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
    }

    static func chunked(_ head: String, _ pieces: [String]) -> [UInt8] {
        var s = head.replacingOccurrences(of: "\n", with: "\r\n") + "Transfer-Encoding: chunked\r\n\r\n"
        for p in pieces { s += String(p.utf8.count, radix: 16) + "\r\n" + p + "\r\n" }
        return Array((s + "0\r\n\r\n").utf8)
    }

    static func sse(_ events: [String]) -> [String] { events.map { "data: \($0)\n\n" } }

    /// Decodes with random splits, interleaving writes and reads as a real client would
    /// (whole request first, then the response), with a second unrelated connection in between.
    func decode(_ convs: [Conversation], seed: UInt64 = 42, streamingChunks: Bool = true) -> [OISPEvent] {
        var rng = SplitMix(seed: seed)
        var o = AIDecoder.Options()
        o.streamingChunks = streamingChunks
        let decoder = AIDecoder(options: o) { pid in
            (OISPEvent.Host(hostname: "node-1"), OISPEvent.Process(pid: pid, name: "python3"), OISPEvent.Source(captureMethod: "ebpf_uprobe"))
        }
        var out: [OISPEvent] = []
        var t: Int64 = 1_700_000_000_000_000_000
        func pieces(_ b: [UInt8]) -> [[UInt8]] {
            var res: [[UInt8]] = [], i = 0
            while i < b.count { let n = min(b.count - i, 1 + Int(rng.next() % 97)); res.append(Array(b[i..<(i + n)])); i += n }
            return res
        }
        let conn = PlaintextChunk.ConnectionID(pid: 4242, handle: 0xabc)
        let noise = PlaintextChunk.ConnectionID(pid: 4242, handle: 0xdef)
        for c in convs {
            for p in pieces(c.request) {
                t += 1_000_000
                out += decoder.feed(PlaintextChunk(connection: conn, isWrite: true, bytes: p, ts: Timestamp(nanoseconds: t), remotePort: c.remotePort))
                out += decoder.feed(PlaintextChunk(connection: noise, isWrite: true, bytes: Array("GET /x HTTP/1.1\r\n".utf8), ts: Timestamp(nanoseconds: t)))
            }
            for p in pieces(c.response) {
                t += 5_000_000
                out += decoder.feed(PlaintextChunk(connection: conn, isWrite: false, bytes: p, ts: Timestamp(nanoseconds: t), remotePort: c.remotePort))
            }
        }
        XCTAssertEqual(decoder.stats.parseErrors, 0, decoder.lastErrors.joined(separator: "; "))
        return out
    }

    /// A server-side or non-HTTP connection is reported quiet once (capture then stops sending it);
    /// when the same handle later starts a request (a reused SSL* or fd), it decodes as a client.
    func testQuietConnectionsAreReportedAndAReusedHandleDecodesAgain() {
        let decoder = AIDecoder { pid in
            (OISPEvent.Host(hostname: "node-1"), OISPEvent.Process(pid: pid, name: "gateway"), OISPEvent.Source(captureMethod: "ebpf_uprobe"))
        }
        var quiet: [PlaintextChunk.ConnectionID] = []
        decoder.onQuiet = { quiet.append($0) }
        let server = PlaintextChunk.ConnectionID(pid: 7, handle: 0x1000), other = PlaintextChunk.ConnectionID(pid: 7, handle: 0x2000)
        var t: Int64 = 1_700_000_000_000_000_000
        func feed(_ id: PlaintextChunk.ConnectionID, _ write: Bool, _ b: [UInt8]) -> [OISPEvent] {
            t += 1_000_000
            return decoder.feed(PlaintextChunk(connection: id, isWrite: write, bytes: b, ts: Timestamp(nanoseconds: t), remotePort: 443))
        }
        let request = DecoderTests.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-proj-QUIETTEST000000000000000\nContent-Type: application/json\n",
                                        #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#)
        let response = DecoderTests.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
                                         #"{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#)
        // the server side: reads a request first, answers it
        XCTAssertTrue(feed(server, false, request).isEmpty)
        XCTAssertTrue(feed(server, true, response).isEmpty)
        XCTAssertTrue(feed(server, false, request).isEmpty)
        // not HTTP at all (a database over TLS)
        XCTAssertTrue(feed(other, true, Array("\u{0}\u{0}\u{0}\u{8}\u{4}\u{d2}\u{16}\u{2f}".utf8)).isEmpty)
        // a server-first protocol (a banner read before anything is written: SMTP, MySQL)
        let banner = PlaintextChunk.ConnectionID(pid: 7, handle: 0x3000)
        XCTAssertTrue(feed(banner, false, Array("220 mail.example ESMTP ready\r\n".utf8)).isEmpty)
        XCTAssertTrue(feed(banner, true, Array("EHLO me\r\n".utf8)).isEmpty)
        XCTAssertEqual(quiet, [server, other, banner], "each reported once")
        // the server's SSL* is freed and the address reused for a client connection
        var evs = feed(server, true, request)
        evs += feed(server, false, response)
        XCTAssertEqual(evs.map(\.eventType), ["ai.request", "ai.response"])
        XCTAssertEqual(evs.first?.data["model"]?["id"], "gpt-4o")
        XCTAssertEqual(quiet.count, 3)
    }

    /// A call whose request capture cut (one write over `max_capture_bytes`: an agent's long
    /// context) is still reported — the request with what came whole before the cut, the answer in
    /// full — and the connection stays in step: its next call decodes in full. A cut where the
    /// framing cannot be followed (a chunked body) ends that request; the next call still decodes.
    func testACallCutByTheCaptureLimitIsReportedAndTheConnectionStaysInStep() throws {
        let decoder = AIDecoder { pid in
            (OISPEvent.Host(hostname: "node-1"), OISPEvent.Process(pid: pid, name: "agent"), OISPEvent.Source(captureMethod: "ebpf_uprobe"))
        }
        let id = PlaintextChunk.ConnectionID(pid: 9, handle: 0x3000)
        var t: Int64 = 1_700_000_000_000_000_000
        func feed(_ write: Bool, _ b: [UInt8], truncated: Bool = false, missing: Int = 0) -> [OISPEvent] {
            t += 1_000_000
            return decoder.feed(PlaintextChunk(connection: id, isWrite: write, bytes: b, ts: Timestamp(nanoseconds: t), truncated: truncated,
                                               remotePort: 443, missing: missing))
        }
        let context = String(repeating: "the repository's files, one after another. ", count: 2000)
        let big = #"{"messages":[{"role":"system","content":"You are a coding agent."},{"role":"user","content":"see \"this\", then"},{"role":"user","content":"\#(context)"}],"model":"gpt-4o","stream":true}"#
        let small = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"and now?"}]}"#
        func answer(_ model: String) -> [UInt8] {
            DecoderTests.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
                              #"{"id":"chatcmpl-9","model":"\#(model)","choices":[{"index":0,"message":{"role":"assistant","content":"done"},"finish_reason":"stop"}],"usage":{"prompt_tokens":30000,"completion_tokens":1,"total_tokens":30001}}"#)
        }
        let head = "POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-proj-CUTTEST0000000000000000\nContent-Type: application/json\n"
        var checked = 0
        // cut in the first messages or in the long one; with the call's end kept (as capture
        // keeps a quarter of the limit) or not (an unreadable buffer)
        for (limit, keepEnd) in [300, 4096, 65536].flatMap({ l in [(l, false), (l, true)] }) {
            let whole = DecoderTests.http(head, big)
            XCTAssertGreaterThan(whole.count, limit)
            let tail = keepEnd ? limit / 4 : 0, want = limit - tail
            var evs = feed(true, Array(whole[..<want]), truncated: true)
            evs += feed(true, [], truncated: true, missing: whole.count - tail - want)
            if tail > 0 { evs += feed(true, Array(whole[(whole.count - tail)...]), truncated: true) }
            evs += feed(false, answer("gpt-4o-2024-08-06"))
            evs += feed(true, DecoderTests.http(head, small))
            evs += feed(false, answer("gpt-4o-mini"))
            let reqs = only(evs, "ai.request"), resps = only(evs, "ai.response")
            XCTAssertEqual(reqs.count, 2, "limit \(limit): \(evs.map(\.eventType))")
            XCTAssertEqual(resps.count, 2)
            guard reqs.count == 2, resps.count == 2 else { continue }
            XCTAssertEqual(reqs[0].confidence?.completeness, "partial")
            XCTAssertEqual(reqs[0].data["body_cut"], true)
            XCTAssertNil(reqs[0].data["body_parse_error"])
            XCTAssertGreaterThanOrEqual(reqs[0].data["estimated_tokens"]?.intValue ?? 0, Int64(big.utf8.count / 4), "measured by the whole body")
            if keepEnd {
                // the members after the messages, from the call's end
                XCTAssertEqual(reqs[0].data["model"]?["id"], "gpt-4o", "limit \(limit)")
                XCTAssertEqual(reqs[0].data["streaming"], true)
            } else {
                XCTAssertNil(reqs[0].data["model"])
                XCTAssertNil(reqs[0].data["streaming"], "its stream member lay past the cut")
            }
            let msgs = reqs[0].data["messages"]?.arrayValue ?? []
            if want >= 300 { XCTAssertEqual(msgs.first?["content"], "You are a coding agent.", "limit \(limit)") } else { XCTAssertEqual(msgs.first?["role"], "system") }
            if want >= 3000 { XCTAssertEqual(msgs.count, 3); XCTAssertEqual(msgs[1]["content"], #"see "this", then"#) }
            XCTAssertEqual(resps[0].confidence?.completeness, "full")
            XCTAssertEqual(resps[0].data["model"]?["id"], "gpt-4o-2024-08-06")
            XCTAssertEqual(resps[0].data["usage"]?["total_tokens"], 30001)
            XCTAssertEqual(resps[0].data["request_id"], reqs[0].data["request_id"])
            XCTAssertEqual(reqs[1].confidence?.completeness, "full")
            XCTAssertEqual(reqs[1].data["model"]?["id"], "gpt-4o-mini")
            XCTAssertEqual(resps[1].data["request_id"], reqs[1].data["request_id"])
            checked += 1
        }
        XCTAssertEqual(checked, 6)
        // the end alone, read backwards: members whole after the gap, escapes and nesting included
        let members = JSONCut.rootMembers(suffix: Array(#"tent":"x"}],"a":"q\\","b":{"c":[1,{"d":"]\"}"}]},"e":[],"f":null} "#.utf8)[...])
        XCTAssertEqual(members.map(\.0), ["a", "b", "e", "f"])
        XCTAssertEqual(members.first?.1, #"q\"#)
        XCTAssertEqual(members[1].1["c"]?.arrayValue?.last?["d"], #"]"}"#)
        // a chunked request body cut: its chunks cannot be followed across the gap
        let chunkedCall = DecoderTests.chunked(head, [String(big.prefix(3000)), String(big.dropFirst(3000))])
        var evs = feed(true, Array(chunkedCall[..<2000]), truncated: true)
        evs += feed(true, [], truncated: true, missing: chunkedCall.count - 2000)
        evs += feed(false, answer("gpt-4o"))
        evs += feed(true, DecoderTests.http(head, small))
        evs += feed(false, answer("gpt-4o-mini"))
        XCTAssertEqual(only(evs, "ai.request").count, 2, "\(evs.map(\.eventType))")
        XCTAssertEqual(only(evs, "ai.request").first?.data["body_cut"], true)
        XCTAssertEqual(only(evs, "ai.request").last?.data["model"]?["id"], "gpt-4o-mini")
        XCTAssertEqual(only(evs, "ai.response").map { $0.data["usage"]?["total_tokens"]?.intValue }, [30001, 30001])
    }

    /// Capture's records of a cut call become the chunks the decoder skips by: the cut's mark
    /// says how much was left out — to the call's end, or to its end's first record when that
    /// follows (OISP_FLAG_TAIL); an end lost in the ring buffer leaves the rest of the call out.
    func testCapturedCutsBecomeGapsOfTheirSize() {
        let builder = CaptureEventBuilder(hostname: "node-1", sensorName: nil, version: "test")
        func rec(_ off: Int, _ len: Int, total: Int = 1000, tail: Bool = false, ssl: UInt64 = 0x77) -> CaptureRecord {
            var d = CaptureRecord.SSLData(pid: 4242, tid: 4242, uid: 0, tsMono: 1, comm: "agent", ssl: ssl, isWrite: true,
                                          truncated: true, totalLength: total, offset: off, bytes: Array(repeating: 0x61, count: len))
            d.tailFollows = tail
            return .sslData(d)
        }
        func shape(_ recs: [CaptureRecord]) -> [String] {
            builder.process(recs).chunks.map { $0.bytes.isEmpty ? "gap\($0.missing)" : "\($0.bytes.count)" }
        }
        XCTAssertEqual(shape([rec(0, 600), rec(600, 0, tail: true), rec(750, 250)]), ["600", "gap150", "250"])
        XCTAssertEqual(shape([rec(0, 600), rec(600, 0)]), ["600", "gap400"], "no end kept: to the call's end")
        // the end lost: the next record is a new call's
        XCTAssertEqual(shape([rec(0, 600), rec(600, 0, tail: true)]), ["600"])
        XCTAssertEqual(shape([rec(0, 80, total: 80)]), ["gap400", "80"])
        // an unreadable end: its own mark covers the rest
        XCTAssertEqual(shape([rec(0, 600), rec(600, 0, tail: true), rec(750, 0)]), ["600", "gap150", "gap250"])
        // a connection's close forgets a cut waiting for its end
        XCTAssertEqual(shape([rec(0, 600, ssl: 0x88), rec(600, 0, tail: true, ssl: 0x88)]), ["600"])
        var closed = CaptureRecord.SSLData(pid: 4242, tid: 4242, uid: 0, tsMono: 1, comm: "agent", ssl: 0x88, isWrite: true, closed: true, totalLength: 0, bytes: [])
        closed.tailFollows = false
        XCTAssertEqual(builder.process([.sslData(closed)]).chunks.map(\.closed), [true])
        XCTAssertEqual(shape([rec(0, 80, total: 80, ssl: 0x88)]), ["80"])
    }

    func only(_ evs: [OISPEvent], _ type: String) -> [OISPEvent] { evs.filter { $0.eventType == type } }

    // MARK: OpenAI

    let openAIChatRequest = #"{"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What's the weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object"}}}],"tool_choice":"auto","temperature":0.3,"max_tokens":256}"#

    func testOpenAIChatWithToolCall() throws {
        let req = Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-proj-abcdefghijklmnopqrstuvwxyz0123456789\nContent-Type: application/json\nUser-Agent: OpenAI/Python 1.54.0\n", openAIChatRequest)
        let resp = Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\nx-request-id: req_abc123\n",
                             #"{"id":"chatcmpl-AB12","object":"chat.completion","created":1732000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":0}}}"#)
        let evs = decode([Conversation(request: req, response: resp)])
        XCTAssertEqual(evs.map(\.eventType), ["ai.request", "ai.response", "agent.tool_call"])
        let r = evs[0].data
        XCTAssertEqual(r["provider"]?["name"], "openai")
        XCTAssertEqual(r["provider"]?["endpoint"], "https://api.openai.com/v1/chat/completions")
        XCTAssertEqual(r["model"]?["id"], "gpt-4o")
        XCTAssertEqual(r["auth"]?["type"], "api_key")
        XCTAssertEqual(r["auth"]?["key_prefix"], "sk-proj-")
        XCTAssertTrue(r["auth"]?["key_hash"]?.stringValue?.hasPrefix("sha256:") == true)
        XCTAssertFalse(evs[0].jsonString().contains("abcdefghijklmnop"), "never the key")
        XCTAssertEqual(r["request_type"], "chat")
        XCTAssertEqual(r["streaming"], false)
        XCTAssertEqual(r["messages_count"], 2)
        XCTAssertEqual(r["messages"]?.arrayValue?[1]["role"], "user")
        XCTAssertEqual(r["messages"]?.arrayValue?[1]["content"], "What's the weather in Paris?")
        XCTAssertEqual(r["has_system_prompt"], true)
        XCTAssertEqual(r["tools"]?.arrayValue?.first?["name"], "get_weather")
        XCTAssertEqual(r["tools_count"], 1)
        XCTAssertEqual(r["tool_choice"], "auto")
        XCTAssertEqual(r["parameters"]?["temperature"], 0.3)
        XCTAssertEqual(r["parameters"]?["max_tokens"], 256)
        XCTAssertNotNil(r["estimated_tokens"]?.intValue)
        let s = evs[1].data
        XCTAssertEqual(s["request_id"], r["request_id"], "request and response correlated")
        XCTAssertEqual(evs[1].relatedEvents?.first?.eventID, evs[0].eventID)
        XCTAssertEqual(evs[1].traceContext?.traceID, evs[0].traceContext?.traceID)
        XCTAssertEqual(evs[1].traceContext?.traceID.count, 32)
        XCTAssertEqual(s["provider_request_id"], "chatcmpl-AB12")
        XCTAssertEqual(s["model"]?["id"], "gpt-4o-2024-08-06")
        XCTAssertEqual(s["status_code"], 200)
        XCTAssertEqual(s["success"], true)
        XCTAssertEqual(s["finish_reason"], "tool_calls")
        XCTAssertEqual(s["usage"], ["prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99, "cached_tokens": 64, "reasoning_tokens": 0])
        XCTAssertEqual(s["tool_calls"]?.arrayValue?.first?["name"], "get_weather")
        XCTAssertEqual(s["tool_calls"]?.arrayValue?.first?["arguments"], #"{"city":"Paris"}"#)
        XCTAssertEqual(s["tool_calls_count"], 1)
        XCTAssertEqual(s["latency_ms"]?.intValue.map { $0 >= 0 }, true)
        let tc = evs[2].data
        XCTAssertEqual(tc["call_id"], "call_1")
        XCTAssertEqual(tc["tool"]?["name"], "get_weather")
        XCTAssertEqual(tc["triggered_by"]?.stringValue, evs[1].eventID)
    }

    func testOpenAIChatStreamingSSE() throws {
        let req = Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-abc123def456ghi789\nContent-Type: application/json\n",
                            #"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Count to three"}]}"#)
        let resp = Self.chunked("HTTP/1.1 200 OK\nContent-Type: text/event-stream; charset=utf-8\n", Self.sse([
            #"{"id":"chatcmpl-S1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-S1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"One, "},"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-S1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"two, "},"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-S1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"three."},"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-S1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            #"{"id":"chatcmpl-S1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":6,"total_tokens":16}}"#,
            "[DONE]"]))
        let evs = decode([Conversation(request: req, response: resp)])
        XCTAssertEqual(evs.first?.eventType, "ai.request")
        XCTAssertEqual(evs.first?.data["streaming"], true)
        let chunks = only(evs, "ai.streaming_chunk")
        XCTAssertEqual(chunks.map { $0.data["delta"]?["content"]?.stringValue ?? "" }.joined(), "One, two, three.")
        XCTAssertEqual(chunks.map { $0.data["chunk_index"]!.intValue! }, Array(0..<Int64(chunks.count)))
        let resp1 = try XCTUnwrap(only(evs, "ai.response").first)
        XCTAssertEqual(resp1.data["choices"]?.arrayValue?.first?["message"]?["content"], "One, two, three.")
        XCTAssertEqual(resp1.data["finish_reason"], "stop")
        XCTAssertEqual(resp1.data["usage"]?["total_tokens"], 16)
        XCTAssertEqual(resp1.data["provider_request_id"], "chatcmpl-S1")
        XCTAssertNotNil(resp1.data["time_to_first_token_ms"]?.intValue)
        XCTAssertEqual(resp1.data["chunk_count"]?.intValue, Int64(chunks.count))
        // without chunk events (the default): the same answer, one event, the same count
        let one = decode([Conversation(request: req, response: resp)], streamingChunks: false)
        XCTAssertEqual(one.map(\.eventType), ["ai.request", "ai.response"])
        var a = resp1.data, b = try XCTUnwrap(only(one, "ai.response").first).data
        for k in ["request_id", "latency_ms", "time_to_first_token_ms"] { a[k] = nil; b[k] = nil }
        XCTAssertEqual(a, b, "the streamed answer is assembled the same way with chunk events off")
        XCTAssertLessThanOrEqual(resp1.data["time_to_first_token_ms"]!.intValue!, resp1.data["latency_ms"]!.intValue!)
        XCTAssertEqual(evs.last?.eventType, "ai.response")

        let quiet = decode([Conversation(request: req, response: resp)], streamingChunks: false)
        XCTAssertEqual(quiet.map(\.eventType), ["ai.request", "ai.response"], "streaming chunks are configurable")
    }

    /// Chunks as OpenAI sends them today: the members the decoder leaves unbuilt (obfuscation
    /// padding, log probabilities, fingerprint, tier) change nothing in the answer, and a
    /// streamed tool call keeps its id and arguments.
    func testOpenAIChunksWithUnreadMembersAndAStreamedToolCall() throws {
        let req = Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-abc123def456ghi789\nContent-Type: application/json\n",
                            #"{"model":"gpt-4o","stream":true,"logprobs":true,"messages":[{"role":"user","content":"Weather?"}]}"#)
        let lp = #""logprobs":{"content":[{"token":"x","logprob":-0.1,"bytes":[120],"top_logprobs":[]}],"refusal":null}"#
        let head = #""id":"chatcmpl-T1","object":"chat.completion.chunk","created":1732000000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_abc","#
        let resp = Self.chunked("HTTP/1.1 200 OK\nContent-Type: text/event-stream\n", Self.sse([
            "{" + head + #""choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check. "},"#  + lp + #","finish_reason":null}],"obfuscation":"q8Zr"}"#,
            "{" + head + #""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_W1","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"obfuscation":"aa"}"#,
            "{" + head + #""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"obfuscation":"b"}"#,
            "{" + head + #""choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"obfuscation":"Xy1"}"#,
            "{" + head + #""choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21},"obfuscation":"z"}"#,
            "[DONE]"]))
        let evs = decode([Conversation(request: req, response: resp)], streamingChunks: false)
        let r = try XCTUnwrap(only(evs, "ai.response").first).data
        let m = try XCTUnwrap(r["choices"]?.arrayValue?.first?["message"])
        XCTAssertEqual(m["content"], "Let me check. ")
        let t = try XCTUnwrap(r["tool_calls"]?.arrayValue?.first)
        XCTAssertEqual(t["id"], "call_W1")
        XCTAssertEqual(t["name"], "get_weather")
        XCTAssertEqual(t["arguments"], #"{"city":"Paris"}"#)
        XCTAssertEqual(r["provider_request_id"], "chatcmpl-T1")
        XCTAssertEqual(r["model"]?["id"], "gpt-4o-2024-08-06")
        XCTAssertEqual(r["finish_reason"], "tool_calls")
        XCTAssertEqual(r["usage"]?["total_tokens"], 21)
        XCTAssertEqual(r["chunk_count"]?.intValue, 4) // the usage-only chunk adds nothing to the answer
        XCTAssertEqual(only(evs, "agent.tool_call").first?.data["call_id"], "call_W1")
    }

    /// Requests on one keep-alive connection: each key's hash is its own (the connection
    /// remembers the last key's hash; a new key is hashed anew).
    func testKeyHashesOfRequestsOnOneConnection() throws {
        let keys = ["sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA", "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA", "sk-proj-BBBBBBBBBBBBBBBBBBBBBBBB",
                    "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA", "sk-ant-api03-CCCCCCCCCCCCCCCCCCCC"]
        let convs = keys.map { k in
            Conversation(request: Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer \(k)\nContent-Type: application/json\n",
                                            #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#),
                         response: Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
                                             #"{"id":"c","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"yo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#))
        }
        let reqs = only(decode(convs), "ai.request")
        XCTAssertEqual(reqs.count, keys.count)
        for (k, e) in zip(keys, reqs) {
            XCTAssertEqual(e.data["auth"]?["key_hash"]?.stringValue, Hashing.keyed(k, key: []), k)
            XCTAssertEqual(e.data["auth"]?["key_prefix"]?.stringValue, k.hasPrefix("sk-ant-api03-") ? "sk-ant-api03-" : "sk-proj-")
        }
    }

    func testOpenAIEmbeddings() {
        let req = Self.http("POST /v1/embeddings HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-proj-xyzxyzxyzxyzxyzxyz\nContent-Type: application/json\n",
                            #"{"model":"text-embedding-3-small","input":["first doc","second doc"]}"#)
        let resp = Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
                             #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2,0.3,0.4]},{"object":"embedding","index":1,"embedding":[0.5,0.6,0.7,0.8]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":6,"total_tokens":6}}"#)
        let evs = decode([Conversation(request: req, response: resp)])
        XCTAssertEqual(evs.map(\.eventType), ["ai.request", "ai.embedding"])
        XCTAssertEqual(evs[0].data["request_type"], "embedding")
        let e = evs[1].data
        XCTAssertEqual(e["provider"]?["name"], "openai")
        XCTAssertEqual(e["model"]?["id"], "text-embedding-3-small")
        XCTAssertEqual(e["input_count"], 2)
        XCTAssertEqual(e["total_tokens"], 6)
        XCTAssertEqual(e["dimensions"], 4)
        XCTAssertNotNil(e["latency_ms"])
    }

    /// The conversation a call belongs to, where the API names it: the Responses API's
    /// `conversation` (a string or `{id}`) and `previous_response_id`.
    func testConversationOfTheResponsesAPI() {
        let resp = Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
                             #"{"id":"resp_2","object":"response","model":"gpt-4o","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok"}]}],"usage":{"input_tokens":5,"output_tokens":1,"total_tokens":6}}"#)
        for (body, id, prev) in [(#"{"model":"gpt-4o","input":"hi","conversation":"conv_abc123"}"#, "conv_abc123", nil as String?),
                                 (#"{"model":"gpt-4o","input":"hi","conversation":{"id":"conv_obj9"},"previous_response_id":"resp_1"}"#, "conv_obj9", "resp_1"),
                                 (#"{"model":"gpt-4o","input":"hi"}"#, nil, nil)] {
            let req = Self.http("POST /v1/responses HTTP/1.1\nHost: api.openai.com\nContent-Type: application/json\n", body)
            let evs = decode([Conversation(request: req, response: resp)])
            XCTAssertEqual(evs.first?.eventType, "ai.request")
            XCTAssertEqual(evs.first?.data["conversation"]?["id"]?.stringValue, id, body)
            XCTAssertEqual(evs.first?.data["conversation"]?["previous_response_id"]?.stringValue, prev, body)
        }
    }

    // MARK: Anthropic

    func testAnthropicMessages() {
        let req = Self.http("POST /v1/messages HTTP/1.1\nHost: api.anthropic.com\nx-api-key: sk-ant-api03-AAAABBBBCCCCDDDDEEEE\nanthropic-version: 2023-06-01\nContent-Type: application/json\n",
                            #"{"model":"claude-sonnet-4-5","max_tokens":1024,"system":"You are a code reviewer.","messages":[{"role":"user","content":[{"type":"text","text":"Review: exec(input)"}]}],"tools":[{"name":"run_linter","description":"Lint code","input_schema":{"type":"object"}}]}"#)
        let resp = Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\nrequest-id: req_011CTest\n",
                             #"{"id":"msg_01XYZ","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"This is command injection."},{"type":"tool_use","id":"toolu_01","name":"run_linter","input":{"path":"a.py"}}],"stop_reason":"tool_use","usage":{"input_tokens":120,"output_tokens":40,"cache_read_input_tokens":100}}"#)
        let evs = decode([Conversation(request: req, response: resp)])
        XCTAssertEqual(evs.map(\.eventType), ["ai.request", "ai.response", "agent.tool_call"])
        let r = evs[0].data
        XCTAssertEqual(r["provider"]?["name"], "anthropic")
        XCTAssertEqual(r["auth"]?["key_prefix"], "sk-ant-api03-")
        XCTAssertEqual(r["messages"]?.arrayValue?.map { $0["role"]!.stringValue! }, ["system", "user"])
        XCTAssertEqual(r["messages"]?.arrayValue?.last?["content"], "Review: exec(input)")
        XCTAssertEqual(r["parameters"]?["max_tokens"], 1024)
        XCTAssertEqual(r["tools"]?.arrayValue?.first?["name"], "run_linter")
        let s = evs[1].data
        XCTAssertEqual(s["provider_request_id"], "msg_01XYZ")
        XCTAssertEqual(s["choices"]?.arrayValue?.first?["message"]?["content"], "This is command injection.")
        XCTAssertEqual(s["finish_reason"], "tool_calls")
        XCTAssertEqual(s["usage"], ["prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160, "cached_tokens": 100])
        XCTAssertEqual(s["tool_calls"]?.arrayValue?.first?["arguments"], #"{"path":"a.py"}"#)
    }

    func testAnthropicStreaming() {
        let req = Self.http("POST /v1/messages HTTP/1.1\nHost: api.anthropic.com\nx-api-key: sk-ant-api03-ZZZZYYYYXXXX\nContent-Type: application/json\n",
                            #"{"model":"claude-haiku-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#)
        let events = [
            ("message_start", #"{"type":"message_start","message":{"id":"msg_S1","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"stop_reason":null,"usage":{"input_tokens":9,"output_tokens":1}}}"#),
            ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("ping", #"{"type":"ping"}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there!"}}"#),
            ("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}"#),
            ("message_stop", #"{"type":"message_stop"}"#)]
        let resp = Self.chunked("HTTP/1.1 200 OK\nContent-Type: text/event-stream\n", events.map { "event: \($0.0)\ndata: \($0.1)\n\n" })
        let evs = decode([Conversation(request: req, response: resp)])
        let s = only(evs, "ai.response").first!.data
        XCTAssertEqual(s["choices"]?.arrayValue?.first?["message"]?["content"], "Hello there!")
        XCTAssertEqual(s["finish_reason"], "stop")
        XCTAssertEqual(s["usage"]?["prompt_tokens"], 9)
        XCTAssertEqual(s["usage"]?["completion_tokens"], 5)
        XCTAssertEqual(s["model"]?["id"], "claude-haiku-4-5-20251001")
        XCTAssertEqual(only(evs, "ai.streaming_chunk").compactMap { $0.data["delta"]?["content"]?.stringValue }, ["Hello", " there!"])
    }

    // MARK: Gemini, Ollama, Bedrock

    func testGeminiGenerateContent() {
        let req = Self.http("POST /v1beta/models/gemini-2.0-flash:generateContent HTTP/1.1\nHost: generativelanguage.googleapis.com\nx-goog-api-key: AIzaSyA1234567890abcdefghijklmnopqrstu\nContent-Type: application/json\n",
                            #"{"systemInstruction":{"parts":[{"text":"Answer in French."}]},"contents":[{"role":"user","parts":[{"text":"Good morning"}]}],"generationConfig":{"temperature":0.5,"maxOutputTokens":100}}"#)
        let resp = Self.http("HTTP/1.1 200 OK\nContent-Type: application/json; charset=UTF-8\n",
                             #"{"candidates":[{"content":{"parts":[{"text":"Bonjour"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2,"totalTokenCount":10},"modelVersion":"gemini-2.0-flash","responseId":"resp-g1"}"#)
        let evs = decode([Conversation(request: req, response: resp)])
        XCTAssertEqual(evs.map(\.eventType), ["ai.request", "ai.response"])
        XCTAssertEqual(evs[0].data["provider"]?["name"], "google")
        XCTAssertEqual(evs[0].data["model"]?["id"], "gemini-2.0-flash")
        XCTAssertEqual(evs[0].data["auth"]?["key_prefix"], "AIza")
        XCTAssertEqual(evs[0].data["messages"]?.arrayValue?.map { $0["role"]!.stringValue! }, ["system", "user"])
        XCTAssertEqual(evs[0].data["parameters"]?["max_tokens"], 100)
        XCTAssertEqual(evs[1].data["choices"]?.arrayValue?.first?["message"]?["content"], "Bonjour")
        XCTAssertEqual(evs[1].data["finish_reason"], "stop")
        XCTAssertEqual(evs[1].data["usage"]?["total_tokens"], 10)
    }

    func testOllamaChatStreamingNDJSON() {
        let req = Self.http("POST /api/chat HTTP/1.1\nHost: localhost:11434\nContent-Type: application/json\n",
                            #"{"model":"llama3.1:8b","messages":[{"role":"user","content":"Classify: invoice wrong"}],"options":{"temperature":0}}"#)
        let lines = [#"{"model":"llama3.1:8b","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"bill"},"done":false}"#,
                     #"{"model":"llama3.1:8b","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"ing"},"done":false}"#,
                     #"{"model":"llama3.1:8b","created_at":"2025-01-01T00:00:01Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"prompt_eval_count":26,"eval_count":3}"#]
        let resp = Self.chunked("HTTP/1.1 200 OK\nContent-Type: application/x-ndjson\n", lines.map { $0 + "\n" })
        let evs = decode([Conversation(request: req, response: resp, remotePort: 11434)])
        XCTAssertEqual(evs.first?.data["provider"]?["name"], "ollama")
        XCTAssertEqual(evs.first?.data["auth"]?["type"], "none")
        XCTAssertEqual(evs.first?.data["streaming"], true)
        let s = only(evs, "ai.response").first!.data
        XCTAssertEqual(s["choices"]?.arrayValue?.first?["message"]?["content"], "billing")
        XCTAssertEqual(s["usage"], ["prompt_tokens": 26, "completion_tokens": 3, "total_tokens": 29])
        XCTAssertEqual(s["finish_reason"], "stop")
    }

    /// Ollama's own API names Ollama wherever it is served from this machine, a private address
    /// or a host named for it (a port guess does not rename it); the same paths on a public web
    /// server are not taken for AI calls.
    func testOllamaNativeAPIOnOtherPortsAndHosts() {
        func provider(_ host: String, _ path: String = "/api/chat", port: Int?) -> JSONValue? {
            let req = Self.http("POST \(path) HTTP/1.1\nHost: \(host)\nContent-Type: application/json\n",
                                #"{"model":"llama3.2","messages":[{"role":"user","content":"hi"}],"stream":false}"#)
            let resp = Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
                                 #"{"model":"llama3.2","message":{"role":"assistant","content":"yo"},"done":true,"prompt_eval_count":5,"eval_count":1}"#)
            let evs = decode([Conversation(request: req, response: resp, remotePort: port)])
            return evs.first { $0.eventType == "ai.request" }?.data["provider"]?["name"]
        }
        XCTAssertEqual(provider("127.0.0.1:8000", port: 8000), "ollama", "port 8000 guesses vLLM, but /api/chat is Ollama's")
        XCTAssertEqual(provider("127.0.0.1:8000", "/v1/chat/completions", port: 8000), "vllm")
        XCTAssertEqual(provider("127.0.0.1:8081", port: 8081), "ollama")
        XCTAssertEqual(provider("localhost:9000", "/api/generate", port: 9000), "ollama")
        XCTAssertEqual(provider("10.1.2.3:80", port: 80), "ollama")
        XCTAssertEqual(provider("[fd00::5]:8081", port: 8081), "ollama")
        XCTAssertEqual(provider("ollama.ai.svc.cluster.local", port: 80), "ollama")
        XCTAssertNil(provider("chat.example.com", port: 443))
        XCTAssertNil(provider("8.8.8.8:80", port: 80))
    }

    /// A client that sends `Expect: 100-continue` (curl and libcurl-based SDKs with large
    /// bodies) gets `100 Continue` first: the call's answer is the final response after it.
    func testInterimResponsesAreNotTheAnswer() {
        let req = Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-proj-ContinueKey1234567890abcd\nExpect: 100-continue\nContent-Type: application/json\n",
                            #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a long prompt"}]}"#)
        let final = Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
                              #"{"id":"chatcmpl-c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"done"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#)
        for interim in ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"] {
            let evs = decode([Conversation(request: req, response: Array(interim.utf8) + final),
                              Conversation(request: req, response: final)])
            XCTAssertEqual(evs.filter { $0.eventType.hasPrefix("ai.") }.map(\.eventType), ["ai.request", "ai.response", "ai.request", "ai.response"], interim)
            for r in only(evs, "ai.response") {
                XCTAssertEqual(r.data["status_code"], 200)
                XCTAssertEqual(r.data["choices"]?.arrayValue?.first?["message"]?["content"], "done")
                XCTAssertEqual(r.data["usage"]?["total_tokens"], 10)
            }
        }
    }

    func testBedrockConverse() {
        let req = Self.http("POST /model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse HTTP/1.1\nHost: bedrock-runtime.us-east-1.amazonaws.com\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc\nContent-Type: application/json\n",
                            #"{"messages":[{"role":"user","content":[{"text":"Summarise the doc"}]}],"system":[{"text":"Be short"}],"inferenceConfig":{"maxTokens":200,"temperature":0.1}}"#)
        let resp = Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\nx-amzn-RequestId: 5e1d-bedrock\n",
                             #"{"output":{"message":{"role":"assistant","content":[{"text":"It is short."}]}},"stopReason":"end_turn","usage":{"inputTokens":15,"outputTokens":4,"totalTokens":19},"metrics":{"latencyMs":300}}"#)
        let evs = decode([Conversation(request: req, response: resp)])
        XCTAssertEqual(evs.map(\.eventType), ["ai.request", "ai.response"])
        XCTAssertEqual(evs[0].data["provider"]?["name"], "aws_bedrock")
        XCTAssertEqual(evs[0].data["provider"]?["region"], "us-east-1")
        XCTAssertEqual(evs[0].data["model"]?["id"], "anthropic.claude-3-5-sonnet-20240620-v1:0")
        XCTAssertEqual(evs[0].data["auth"]?["key_prefix"], "AKIA")
        XCTAssertFalse(evs[0].jsonString().contains("IOSFODNN7"))
        XCTAssertEqual(evs[1].data["choices"]?.arrayValue?.first?["message"]?["content"], "It is short.")
        XCTAssertEqual(evs[1].data["provider_request_id"], "5e1d-bedrock")
        XCTAssertEqual(evs[1].data["usage"]?["total_tokens"], 19)
        XCTAssertEqual(evs[1].data["finish_reason"], "stop")
    }

    // MARK: transport details

    func testGzipAndKeepAliveThreeRequests() {
        let body = #"{"id":"chatcmpl-G","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"gzipped answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#
        let gz = BodyCodecs.gzip(Array(body.utf8))
        var resp = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: \(gz.count)\r\n\r\n".utf8)
        resp += gz
        var convs: [Conversation] = []
        for i in 0..<3 {
            convs.append(Conversation(request: Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-k\nAccept-Encoding: gzip\n",
                                                         #"{"model":"gpt-4o","messages":[{"role":"user","content":"q\#(i)"}]}"#), response: resp))
        }
        let evs = decode(convs)
        let reqs = only(evs, "ai.request"), resps = only(evs, "ai.response")
        XCTAssertEqual(reqs.count, 3)
        XCTAssertEqual(resps.count, 3)
        for (q, a) in zip(reqs, resps) {
            XCTAssertEqual(q.data["request_id"], a.data["request_id"])
            XCTAssertEqual(a.data["choices"]?.arrayValue?.first?["message"]?["content"], "gzipped answer")
        }
        XCTAssertEqual(reqs.map { $0.data["messages"]!.arrayValue![0]["content"]!.stringValue! }, ["q0", "q1", "q2"])
    }

    /// Bodies compressed by the real `brotli` and `zstd` tools (what a CDN in front of an AI API
    /// sends Chromium/Electron and Bun, which accept br and zstd), plain and streamed, and two
    /// encodings applied in turn; a body that does not decode is kept as it came, never a crash.
    func testBrotliAndZstdBodies() throws {
        func tool(_ exe: String, _ args: [String], _ input: [UInt8]) throws -> [UInt8] {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-codec-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let inp = dir.appendingPathComponent("in").path, out = dir.appendingPathComponent("out").path
            try Data(input).write(to: URL(fileURLWithPath: inp))
            let r = try TestSupport.run(exe, args + ["-o", out, inp])
            XCTAssertEqual(r.status, 0, "\(exe): \(r.stderr)")
            return Array(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        for exe in ["/usr/bin/brotli", "/usr/bin/zstd"] where !FileManager.default.isExecutableFile(atPath: exe) {
            return XCTFail("\(exe) missing: `make deps` installs brotli and zstd")
        }
        let body = Array(#"{"id":"chatcmpl-B","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"compressed answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#.utf8)
        let sse = Array((["{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"stream\"}}]}",
                          "{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ed\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}",
                          "[DONE]"].map { "data: \($0)\n\n" }.joined()).utf8)
        let br = try tool("/usr/bin/brotli", ["-f"], body), zs = try tool("/usr/bin/zstd", ["-q", "-f"], body)
        let brThenGzip = BodyCodecs.gzip(br)
        let zsSSE = try tool("/usr/bin/zstd", ["-q", "-f"], sse)
        XCTAssertEqual(try BodyCodecs.brotli(br), body)
        XCTAssertEqual(try BodyCodecs.zstd(zs), body)
        XCTAssertThrowsError(try BodyCodecs.brotli(Array(br.dropLast(3))))
        XCTAssertThrowsError(try BodyCodecs.zstd(Array(zs.dropLast(3))))
        let cases: [(String, [UInt8], String, String)] = [("br", br, "application/json", "compressed answer"),
                                                          ("zstd", zs, "application/json", "compressed answer"),
                                                          ("br, gzip", brThenGzip, "application/json", "compressed answer"),
                                                          ("zstd", zsSSE, "text/event-stream", "streamed")]
        for (enc, data, type, content) in cases {
            let resp = Array("HTTP/1.1 200 OK\r\nContent-Type: \(type)\r\nContent-Encoding: \(enc)\r\nContent-Length: \(data.count)\r\n\r\n".utf8) + data
            let req = Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-k\nAccept-Encoding: gzip, deflate, br, zstd\n",
                                #"{"model":"gpt-4o","stream":\#(type == "text/event-stream"),"messages":[{"role":"user","content":"q"}]}"#)
            let a = try XCTUnwrap(only(decode([Conversation(request: req, response: resp)]), "ai.response").first, enc)
            XCTAssertEqual(a.data["choices"]?.arrayValue?.first?["message"]?["content"], .string(content), enc)
            XCTAssertEqual(a.data["usage"]?["total_tokens"], 5, enc)
        }
        // bytes that are not what their encoding says: kept as they came, the call still reported
        let bad = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: br\r\nContent-Length: 5\r\n\r\nxxxxx".utf8)
        let evs = decode([Conversation(request: Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\n", #"{"model":"gpt-4o","messages":[]}"#), response: bad)])
        XCTAssertEqual(only(evs, "ai.response").count, 1)
    }

    func testResponseBeforeRequestBodyIsStillPaired() {
        let decoder = AIDecoder { _ in (nil, OISPEvent.Process(pid: 1), OISPEvent.Source()) }
        let id = PlaintextChunk.ConnectionID(pid: 1, handle: 9)
        let body = #"{"model":"gpt-4o","messages":[{"role":"user","content":"early"}]}"#
        var evs = decoder.feed(PlaintextChunk(connection: id, isWrite: true, bytes: Array("POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: \(body.utf8.count)\r\n\r\n".utf8), ts: .now()))
        evs += decoder.feed(PlaintextChunk(connection: id, isWrite: false, bytes: Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\n", #"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#), ts: .now()))
        XCTAssertTrue(evs.isEmpty)
        evs += decoder.feed(PlaintextChunk(connection: id, isWrite: true, bytes: Array(body.utf8), ts: .now()))
        XCTAssertEqual(evs.map(\.eventType), ["ai.request", "ai.response"])
        XCTAssertEqual(evs.last?.data["choices"]?.arrayValue?.first?["message"]?["content"], "ok")
        // the next exchange on the connection pairs normally
        evs = decoder.feed(PlaintextChunk(connection: id, isWrite: true, bytes: Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\n", body), ts: .now()))
        evs += decoder.feed(PlaintextChunk(connection: id, isWrite: false, bytes: Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\n", #"{"id":"y","choices":[{"index":0,"message":{"role":"assistant","content":"second"},"finish_reason":"stop"}]}"#), ts: .now()))
        XCTAssertEqual(evs.last?.data["choices"]?.arrayValue?.first?["message"]?["content"], "second")
    }

    func testNonAITrafficProducesNothingAndErrorsReset() {
        let decoder = AIDecoder { _ in (nil, OISPEvent.Process(pid: 1), OISPEvent.Source()) }
        let id = PlaintextChunk.ConnectionID(pid: 1, handle: 1)
        var evs = decoder.feed(PlaintextChunk(connection: id, isWrite: true, bytes: Array("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8), ts: .now()))
        evs += decoder.feed(PlaintextChunk(connection: id, isWrite: false, bytes: Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".utf8), ts: .now()))
        XCTAssertTrue(evs.isEmpty)
        // A malformed chunked body resets the connection and is counted.
        let bad = PlaintextChunk.ConnectionID(pid: 1, handle: 2)
        _ = decoder.feed(PlaintextChunk(connection: bad, isWrite: true, bytes: Array("POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nTransfer-Encoding: chunked\r\n\r\nZZZZ\r\n".utf8), ts: .now()))
        XCTAssertEqual(decoder.stats.parseErrors, 1)
        // An HTTP/2 frame with an absurd length.
        let h2 = PlaintextChunk.ConnectionID(pid: 1, handle: 3)
        var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        bytes += [0xff, 0xff, 0xff, 0x00, 0x00, 0, 0, 0, 1]
        _ = decoder.feed(PlaintextChunk(connection: h2, isWrite: true, bytes: bytes, ts: .now()))
        XCTAssertEqual(decoder.stats.parseErrors, 2)
        XCTAssertEqual(decoder.openConnections, 1, "bad connections are dropped, good ones kept")
    }

    /// HTTP/2 calls cut before they end: the user's "stop generating" (the client resets the
    /// stream mid-answer), a client that gives up its body once the answer came (RST_STREAM
    /// CANCEL before its DATA), and a process gone mid-answer. Each is still reported: the
    /// request and what came of the answer, marked partial. HPACK here is static-table and
    /// literal fields only (RFC 7541 §6.1, §6.2.2), no Huffman.
    func testHTTP2CallsCutShortAreStillReported() throws {
        func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ p: [UInt8]) -> [UInt8] {
            [UInt8(p.count >> 16), UInt8(p.count >> 8 & 0xff), UInt8(p.count & 0xff), type, flags,
             UInt8(stream >> 24), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + p
        }
        func literal(_ name: String, _ value: String) -> [UInt8] { [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8) }
        func indexedName(_ i: UInt8, _ value: String) -> [UInt8] { [i] + [UInt8(value.utf8.count)] + Array(value.utf8) }
        // :method POST, :scheme https, :path, :authority, content-type
        let reqHeaders = [0x83, 0x87] + indexedName(0x04, "/v1/chat/completions") + indexedName(0x01, "api.openai.com")
            + literal("content-type", "application/json") + literal("authorization", "Bearer sk-proj-H2CUTKEY000000000000000")
        let body = Array(#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"count"}]}"#.utf8)
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(4, 0, 0, [])
        func sse(_ texts: [String]) -> [UInt8] {
            Array(texts.map { #"data: {"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"\#($0)"}}]}"# + "\n\n" }.joined().utf8)
        }
        var checked = 0
        for scenario in ["stop-generating", "cancelled-body", "process-gone"] {
            let decoder = AIDecoder { pid in (nil, OISPEvent.Process(pid: pid, name: "client"), OISPEvent.Source()) }
            let id = PlaintextChunk.ConnectionID(pid: 7, handle: 1)
            var t: Int64 = 1_700_000_000_000_000_000
            var out: [OISPEvent] = []
            func send(_ write: Bool, _ b: [UInt8]) { t += 1_000_000; out += decoder.feed(PlaintextChunk(connection: id, isWrite: write, bytes: b, ts: Timestamp(nanoseconds: t), remotePort: 443)) }
            send(true, preface)
            send(false, frame(4, 0, 0, []))
            let respHeaders = [0x88] + literal("content-type", scenario == "cancelled-body" ? "application/json" : "text/event-stream")
            switch scenario {
            case "stop-generating":
                send(true, frame(1, 0x4, 1, reqHeaders) + frame(0, 0x1, 1, body))
                send(false, frame(1, 0x4, 1, respHeaders))
                send(false, frame(0, 0, 1, sse(["Hel", "lo, "])))
                send(true, frame(3, 0, 1, [0, 0, 0, 8])) // RST_STREAM CANCEL
            case "cancelled-body":
                send(true, frame(1, 0x4, 1, reqHeaders)) // no END_STREAM: the body was to follow
                let answer = #"{"id":"c2","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello, whole."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#
                send(false, frame(1, 0x4, 1, respHeaders) + frame(0, 0x1, 1, Array(answer.utf8)))
                send(true, frame(3, 0, 1, [0, 0, 0, 8]))
            default:
                send(true, frame(1, 0x4, 1, reqHeaders) + frame(0, 0x1, 1, body))
                send(false, frame(1, 0x4, 1, respHeaders))
                send(false, frame(0, 0, 1, sse(["Hel", "lo, "])))
                out += decoder.processExited(pid: 7, ts: Timestamp(nanoseconds: t + 1_000_000))
            }
            let reqs = out.filter { $0.eventType == "ai.request" }, resps = out.filter { $0.eventType == "ai.response" }
            XCTAssertEqual(reqs.count, 1, "\(scenario): \(out.map(\.eventType))")
            XCTAssertEqual(resps.count, 1, "\(scenario): \(out.map(\.eventType))")
            guard let q = reqs.first, let a = resps.first else { continue }
            XCTAssertEqual(q.data["request_id"], a.data["request_id"], scenario)
            XCTAssertEqual(q.data["auth"]?["key_prefix"], "sk-proj-", scenario)
            let content = a.data["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
            if scenario == "cancelled-body" {
                XCTAssertEqual(q.confidence?.completeness, "partial", "the body never came")
                XCTAssertEqual(content, "Hello, whole.")
                XCTAssertEqual(a.data["usage"]?["total_tokens"], 8)
            } else {
                XCTAssertEqual(q.data["messages"]?.arrayValue?.first?["content"], "count", scenario)
                XCTAssertEqual(content, "Hello, ", "\(scenario): the answer so far")
                XCTAssertEqual(a.confidence?.completeness, "partial", scenario)
            }
            checked += 1
        }
        XCTAssertEqual(checked, 3)
    }

    /// An HTTP/2 write cut by capture (an h2 client writing a long body in one call): the frames
    /// and header compression cannot be followed across the gap, so the stream's request is
    /// reported with what came (partial, its first messages), not dropped with the connection,
    /// and the connection goes quiet.
    func testAnHTTP2WriteCutByCaptureReportsItsRequest() throws {
        func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ p: [UInt8]) -> [UInt8] {
            [UInt8(p.count >> 16), UInt8(p.count >> 8 & 0xff), UInt8(p.count & 0xff), type, flags,
             UInt8(stream >> 24), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + p
        }
        func indexedName(_ i: UInt8, _ value: String) -> [UInt8] { [i] + [UInt8(value.utf8.count)] + Array(value.utf8) }
        let reqHeaders = [0x83, 0x87] + indexedName(0x04, "/v1/chat/completions") + indexedName(0x01, "api.openai.com")
        let body = Array(#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"\#(String(repeating: "context ", count: 4000))"}],"model":"gpt-4o"}"#.utf8)
        let decoder = AIDecoder { pid in (nil, OISPEvent.Process(pid: pid, name: "client"), OISPEvent.Source()) }
        var quiet: [PlaintextChunk.ConnectionID] = []
        decoder.onQuiet = { quiet.append($0) }
        let id = PlaintextChunk.ConnectionID(pid: 7, handle: 2)
        var t: Int64 = 1_700_000_000_000_000_000
        var out: [OISPEvent] = []
        func send(_ write: Bool, _ b: [UInt8], missing: Int = 0) {
            t += 1_000_000
            out += decoder.feed(PlaintextChunk(connection: id, isWrite: write, bytes: b, ts: Timestamp(nanoseconds: t), truncated: missing > 0, remotePort: 443, missing: missing))
        }
        send(true, Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(4, 0, 0, []))
        send(false, frame(4, 0, 0, []))
        // DATA frames of at most 16 KiB (SETTINGS_MAX_FRAME_SIZE's default), the call cut inside the second
        var write = frame(1, 0x4, 1, reqHeaders)
        for at in stride(from: 0, to: body.count, by: 16384) {
            write += frame(0, at + 16384 >= body.count ? 0x1 : 0, 1, Array(body[at..<min(body.count, at + 16384)]))
        }
        send(true, Array(write.prefix(20000)))
        send(true, [], missing: write.count - 20000)
        XCTAssertEqual(quiet, [id])
        let reqs = out.filter { $0.eventType == "ai.request" }
        XCTAssertEqual(reqs.count, 1, "\(out.map(\.eventType))")
        XCTAssertEqual(reqs.first?.confidence?.completeness, "partial")
        XCTAssertEqual(reqs.first?.data["messages"]?.arrayValue?.first?["content"], "Be brief.")
        XCTAssertEqual(reqs.first?.data["body_cut"], true)
        // the rest of the cut call, then another connection's preface on the handle: afresh
        send(true, Array(write.suffix(1000)))
        XCTAssertEqual(out.filter { $0.eventType == "ai.request" }.count, 1)
    }

    /// An HTTP/1.1 answer the client stopped reading and never closed (its process lives on): the
    /// idle sweep reports it as it stood, partial, instead of forgetting it.
    func testAnAnswerLeftOpenIsReportedByTheIdleSweep() throws {
        var o = AIDecoder.Options()
        o.idleTimeoutNs = 1_000_000_000
        let decoder = AIDecoder(options: o) { pid in (nil, OISPEvent.Process(pid: pid, name: "client"), OISPEvent.Source()) }
        let id = PlaintextChunk.ConnectionID(pid: 9, handle: 2)
        let t: Int64 = 1_700_000_000_000_000_000
        var out = decoder.feed(PlaintextChunk(connection: id, isWrite: true, bytes: Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nContent-Type: application/json\n",
                                                                                               #"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"go"}]}"#),
                                             ts: Timestamp(nanoseconds: t), remotePort: 443))
        var head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        for p in Self.sse([#"{"id":"c","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Par"}}]}"#,
                           #"{"id":"c","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"tial"}}]}"#]) {
            head += String(p.utf8.count, radix: 16) + "\r\n" + p + "\r\n"
        }
        out += decoder.feed(PlaintextChunk(connection: id, isWrite: false, bytes: Array(head.utf8), ts: Timestamp(nanoseconds: t + 1_000_000), remotePort: 443))
        XCTAssertEqual(out.map(\.eventType), ["ai.request"], "the answer is still open")
        XCTAssertTrue(decoder.sweep(now: Timestamp(nanoseconds: t + 500_000_000)).isEmpty, "not idle long enough")
        let swept = decoder.sweep(now: Timestamp(nanoseconds: t + 5_000_000_000))
        let a = try XCTUnwrap(swept.first { $0.eventType == "ai.response" }, "\(swept.map(\.eventType))")
        XCTAssertEqual(a.data["choices"]?.arrayValue?.first?["message"]?["content"], "Partial")
        XCTAssertEqual(a.confidence?.completeness, "partial")
        XCTAssertEqual(decoder.openConnections, 0)
    }

    /// A handle reused at once by a new connection whose predecessor's end capture did not see
    /// (rustls, static BoringSSL: no close probe; malloc hands the freed address to the next
    /// connection): a new request while the last answer is still coming in is a new connection.
    /// The old call is reported partial as it stood, and the new answer goes with the new request
    /// (it used to be queued behind the old one, as if pipelined, and paired with the old request).
    func testAHandleReusedMidAnswerStartsANewConnection() throws {
        let decoder = AIDecoder { pid in (nil, OISPEvent.Process(pid: pid, name: "client"), OISPEvent.Source()) }
        let id = PlaintextChunk.ConnectionID(pid: 9, handle: 3)
        let t: Int64 = 1_700_000_000_000_000_000
        func request(_ model: String, stream: Bool) -> [UInt8] {
            Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nContent-Type: application/json\n",
                      #"{"model":"\#(model)","stream":\#(stream),"messages":[{"role":"user","content":"go"}]}"#)
        }
        var out = decoder.feed(PlaintextChunk(connection: id, isWrite: true, bytes: request("gpt-4o", stream: true), ts: Timestamp(nanoseconds: t), remotePort: 443))
        var head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        for p in Self.sse([#"{"id":"c","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Cut"}}]}"#]) {
            head += String(p.utf8.count, radix: 16) + "\r\n" + p + "\r\n"
        }
        out += decoder.feed(PlaintextChunk(connection: id, isWrite: false, bytes: Array(head.utf8), ts: Timestamp(nanoseconds: t + 1_000), remotePort: 443))
        out += decoder.feed(PlaintextChunk(connection: id, isWrite: true, bytes: request("gpt-4o-mini", stream: false), ts: Timestamp(nanoseconds: t + 2_000), remotePort: 443))
        out += decoder.feed(PlaintextChunk(connection: id, isWrite: false, bytes: Self.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
            #"{"id":"d","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Whole"}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#),
                                             ts: Timestamp(nanoseconds: t + 3_000), remotePort: 443))
        let reqs = out.filter { $0.eventType == "ai.request" }, resps = out.filter { $0.eventType == "ai.response" }
        XCTAssertEqual(reqs.count, 2, "\(out.map(\.eventType))")
        XCTAssertEqual(resps.count, 2, "\(out.map(\.eventType))")
        var checked = 0
        for r in resps {
            let q = try XCTUnwrap(reqs.first { $0.data["request_id"] == r.data["request_id"] })
            let model = q.data["model"]?["id"]?.stringValue
            let text = r.data["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
            XCTAssertEqual(text, model == "gpt-4o" ? "Cut" : "Whole", "an answer paired with the other request")
            XCTAssertEqual(r.confidence?.completeness, model == "gpt-4o" ? "partial" : "full")
            checked += 1
        }
        XCTAssertEqual(checked, 2)
    }

    /// Property test: ≥100k random and mutated inputs never crash and never grow state unboundedly.
    func testFuzzRandomAndMutatedInputs() {
        var rng = SplitMix(seed: 7)
        let seeds: [[UInt8]] = [
            Self.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\n", openAIChatRequest),
            Self.chunked("HTTP/1.1 200 OK\nContent-Type: text/event-stream\n", Self.sse([#"{"choices":[{"delta":{"content":"x"}}]}"#, "[DONE]"])),
            Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 16, 0, 0, 0, 5, 1, 4, 0, 0, 0, 1, 0x82, 0x84, 0x87, 0x41, 0x8a],
        ]
        let decoder = AIDecoder { _ in (nil, nil, OISPEvent.Source()) }
        var total = 0
        for i in 0..<100_000 {
            var input: [UInt8]
            if i % 2 == 0 {
                input = seeds[Int(rng.next() % UInt64(seeds.count))]
                for _ in 0..<(1 + Int(rng.next() % 8)) where !input.isEmpty {
                    let p = Int(rng.next() % UInt64(input.count))
                    switch rng.next() % 3 {
                    case 0: input[p] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: input.remove(at: p)
                    default: input.insert(UInt8(truncatingIfNeeded: rng.next()), at: p)
                    }
                }
                input = Array(input.prefix(Int(rng.next() % UInt64(input.count + 1))))
            } else {
                input = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            let id = PlaintextChunk.ConnectionID(pid: Int64(i % 50), handle: rng.next() % 4)
            total += decoder.feed(PlaintextChunk(connection: id, isWrite: rng.next() % 3 != 0, bytes: input, ts: .now())).count
        }
        XCTAssertLessThanOrEqual(decoder.openConnections, 200, "state is bounded by live connections")
        print("fuzz: 100000 inputs, \(decoder.stats.parseErrors) resets, \(total) events")
    }
}

/// Deterministic PRNG for reproducible splits.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
