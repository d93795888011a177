import Foundation
import Logging
import OISPConfig
import OISPDecode
import OISPEvent
import OISPGenAI
import OISPRedact
import Prometheus
import XCTest

/// Cost per call: decoded calls of three providers priced from the built-in table (LiteLLM's
/// list) and checked against amounts computed by hand from the table's prices; a model missing
/// from the table is counted and named once in the log, never priced; `[cost] prices_file`
/// overrides and adds, and a bad one is refused with file, line and key.
final class CostTests: XCTestCase {
    /// Decodes one request/response pair the way capture delivers it (whole writes, then reads).
    static func decode(_ request: [UInt8], _ response: [UInt8], pid: Int64 = 4242) -> [OISPEvent] {
        let decoder = AIDecoder { pid in
            (OISPEvent.Host(hostname: "node-1"), OISPEvent.Process(pid: pid, name: "python3"), OISPEvent.Source(captureMethod: "ebpf_uprobe"))
        }
        let conn = PlaintextChunk.ConnectionID(pid: pid, handle: 0xabc)
        var t: Int64 = 1_700_000_000_000_000_000
        var out = decoder.feed(PlaintextChunk(connection: conn, isWrite: true, bytes: request, ts: Timestamp(nanoseconds: t), remotePort: 443))
        for piece in stride(from: 0, to: response.count, by: 64).map({ Array(response[$0..<min(response.count, $0 + 64)]) }) {
            t += 7_000_000
            out += decoder.feed(PlaintextChunk(connection: conn, isWrite: false, bytes: piece, ts: Timestamp(nanoseconds: t), remotePort: 443))
        }
        return out
    }

    // Realistic calls (bytes as the SDKs send and the APIs answer).

    static let openAIStreamed: (request: [UInt8], response: [UInt8]) = (
        DecoderTests.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-proj-COSTTEST0000000000000000\nContent-Type: application/json\n",
                          #"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Summarise the attached report"}]}"#),
        DecoderTests.chunked("HTTP/1.1 200 OK\nContent-Type: text/event-stream; charset=utf-8\n", DecoderTests.sse([
            #"{"id":"chatcmpl-C1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-C1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"The report says"},"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-C1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":" revenue grew."},"finish_reason":"stop"}]}"#,
            #"{"id":"chatcmpl-C1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
            "[DONE]"])))

    static let anthropicCached: (request: [UInt8], response: [UInt8]) = (
        DecoderTests.http("POST /v1/messages HTTP/1.1\nHost: api.anthropic.com\nx-api-key: sk-ant-api03-COSTTEST00000000\nanthropic-version: 2023-06-01\nContent-Type: application/json\n",
                          #"{"model":"claude-sonnet-4-5","max_tokens":1024,"system":[{"type":"text","text":"You review code.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Review a.py"}]}"#),
        DecoderTests.http("HTTP/1.1 200 OK\nContent-Type: application/json\nrequest-id: req_011CCost\n",
                          #"{"id":"msg_01COST","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Looks fine."}],"stop_reason":"end_turn","usage":{"input_tokens":120,"output_tokens":40,"cache_read_input_tokens":2000}}"#))

    static let gemini: (request: [UInt8], response: [UInt8]) = (
        DecoderTests.http("POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\nHost: generativelanguage.googleapis.com\nx-goog-api-key: AIzaSyCOSTTEST000000000000000000000000\nContent-Type: application/json\n",
                          #"{"contents":[{"role":"user","parts":[{"text":"Plan a three-day trip"}]}]}"#),
        DecoderTests.http("HTTP/1.1 200 OK\nContent-Type: application/json; charset=UTF-8\n",
                          #"{"candidates":[{"content":{"parts":[{"text":"Day 1: ..."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":200,"totalTokenCount":1500,"cachedContentTokenCount":400,"thoughtsTokenCount":300},"modelVersion":"gemini-2.5-flash","responseId":"resp-cost"}"#))

    static func unknownModel(_ model: String) -> (request: [UInt8], response: [UInt8]) {
        (DecoderTests.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-proj-COSTTEST0000000000000000\nContent-Type: application/json\n",
                           #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#),
         DecoderTests.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
                           #"{"id":"chatcmpl-U","model":"\#(model)","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#))
    }

    /// Log lines, for "named once in the log".
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func add(_ s: String) { lock.withLock { lines.append(s) } }
    }
    struct CollectingHandler: LogHandler {
        let sink: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey k: String) -> Logger.Metadata.Value? { get { metadata[k] } set { metadata[k] = newValue } }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            let md = (metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.add("\(level) \(message) \(md)")
        }
    }

    func stage(overrides: [PriceEntry] = [], registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), lines: Lines = Lines()) -> GenAIStage {
        GenAIStage(prices: PriceTable(overrides: overrides), metrics: GenAIMetrics(registry: registry),
                   logger: Logger(label: "test") { _ in CollectingHandler(sink: lines) })
    }

    /// Runs the decoded events through the stage and returns the ai.response.
    func priced(_ call: (request: [UInt8], response: [UInt8]), _ s: GenAIStage) throws -> OISPEvent {
        var out: [OISPEvent] = []
        for var e in CostTests.decode(call.request, call.response) {
            XCTAssertTrue(s.process(&e))
            out.append(e)
        }
        return try XCTUnwrap(out.first { $0.eventType == "ai.response" }, "\(out.map(\.eventType))")
    }

    func cost(_ e: OISPEvent) throws -> JSONObject { try XCTUnwrap(e.ext?[GenAIStage.extKey]?.objectValue, "no ext[oisp.cost] in \(e.jsonString())") }

    func assertMoney(_ v: JSONValue?, _ want: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let got = v?.doubleValue else { return XCTFail("\(what): no amount", file: file, line: line) }
        XCTAssertEqual(got, want, accuracy: 1e-12, "\(what)", file: file, line: line)
    }

    func testBuiltinTableNamesItsSourceAndHoldsTheListedPrices() {
        let t = PriceTable()
        print("price table: \(t.count) models, source \(t.builtinSource), date \(t.builtinDate)")
        XCTAssertEqual(t.builtinSource, "litellm 1.110.2")
        XCTAssertGreaterThan(t.count, 500)
        // the research note's figures for LiteLLM's list ($/1M)
        let mini = t.lookup(provider: "openai", model: "gpt-4o-mini-2024-07-18")
        XCTAssertEqual(mini?.input, 0.15); XCTAssertEqual(mini?.output, 0.6); XCTAssertEqual(mini?.cacheRead, 0.075)
        let flash = t.lookup(provider: "google", model: "gemini-2.5-flash")
        XCTAssertEqual(flash?.input, 0.3); XCTAssertEqual(flash?.output, 2.5); XCTAssertEqual(flash?.cacheRead, 0.03); XCTAssertEqual(flash?.reasoning, 2.5)
        XCTAssertEqual(t.lookup(provider: "google", model: "models/gemini-2.5-flash")?.model, "gemini-2.5-flash", "Gemini's resource name")
        XCTAssertNil(t.lookup(provider: "openai", model: "gemini-2.5-flash"), "a model is priced at its own provider only")
        XCTAssertNil(t.lookup(provider: "openai", model: "gpt-4o-mini-2099-01-01"), "no guessing from a similar name")
        XCTAssertEqual(t.lookup(provider: "google", model: "gemini-2.5-pro")?.tiers.first?.above, 200_000)
    }

    func testOpenAIStreamedCallWithUsage() throws {
        let e = try priced(CostTests.openAIStreamed, stage())
        let c = try cost(e)
        print("openai streamed:", JSONValue.object(c).jsonString())
        XCTAssertEqual(c["status"], "priced")
        XCTAssertEqual(c["currency"], "USD")
        XCTAssertEqual(c["price"]?["model"], "gpt-4o-mini-2024-07-18")
        XCTAssertEqual(c["price"]?["source"], "litellm 1.110.2")
        XCTAssertNotNil(c["price"]?["date"]?.stringValue)
        // by hand, $/1M: uncached 1200-1024 = 176 × 0.15 + cached 1024 × 0.075; output 300 × 0.60
        let input = (176 * 0.15 + 1024 * 0.075) / 1e6, output = 300 * 0.60 / 1e6
        assertMoney(c["input_amount"], input, "input")
        assertMoney(c["output_amount"], output, "output")
        assertMoney(c["amount"], input + output, "total")
        XCTAssertEqual(c["tokens"], ["input": 176, "cache_read": 1024, "output": 300, "reasoning": 0])
        // the spec's own fields
        assertMoney(e.data["usage"]?["total_cost_usd"], 0.0002832, "usage.total_cost_usd")
        assertMoney(e.data["usage"]?["input_cost_usd"], 0.0001032, "usage.input_cost_usd")
        assertMoney(e.data["usage"]?["output_cost_usd"], 0.00018, "usage.output_cost_usd")
    }

    func testAnthropicCallWithCacheTokens() throws {
        let e = try priced(CostTests.anthropicCached, stage())
        let c = try cost(e)
        print("anthropic cached:", JSONValue.object(c).jsonString())
        XCTAssertEqual(c["price"]?["model"], "claude-sonnet-4-5-20250929")
        // Anthropic's input_tokens leave out cache reads: 120 × 3.00 + 2000 × 0.30; 40 × 15.00
        let input = (120 * 3.0 + 2000 * 0.30) / 1e6, output = 40 * 15.0 / 1e6
        assertMoney(c["input_amount"], input, "input")
        assertMoney(c["output_amount"], output, "output")
        assertMoney(c["amount"], 0.00156, "total")
        XCTAssertEqual(c["tokens"], ["input": 120, "cache_read": 2000, "output": 40])
        // cache writes, when the usage carries them, at the cache-write price (3.75)
        let u = try XCTUnwrap(TokenUsage(response: ["usage": ["prompt_tokens": 120, "completion_tokens": 40, "cached_tokens": 2000, "cache_creation_tokens": 500]],
                                         provider: "anthropic", model: "claude-sonnet-4-5-20250929"))
        XCTAssertEqual(u.input, 2620)
        let p = CallCost.compute(u, entry: try XCTUnwrap(PriceTable().lookup(provider: "anthropic", model: "claude-sonnet-4-5-20250929")))
        XCTAssertEqual(p.input, (120 * 3.0 + 2000 * 0.30 + 500 * 3.75) / 1e6, accuracy: 1e-12)
        // end to end: the decoder reads Anthropic's cache_creation_input_tokens into the usage
        let written = (CostTests.anthropicCached.request, DecoderTests.http("HTTP/1.1 200 OK\nContent-Type: application/json\n",
            #"{"id":"msg_01COSTW","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Cached now."}],"stop_reason":"end_turn","usage":{"input_tokens":120,"output_tokens":40,"cache_read_input_tokens":2000,"cache_creation_input_tokens":500}}"#))
        let w = try priced(written, stage())
        XCTAssertEqual(w.data["usage"]?["cache_creation_tokens"], 500)
        let cw = try cost(w)
        assertMoney(cw["amount"], 0.00156 + 500 * 3.75 / 1e6, "total with a cache write")
        XCTAssertEqual(cw["tokens"]?["cache_write"], 500)
    }

    func testGeminiCallWithCachedAndThinkingTokens() throws {
        let e = try priced(CostTests.gemini, stage())
        let c = try cost(e)
        print("gemini:", JSONValue.object(c).jsonString())
        XCTAssertEqual(c["price"]?["provider"], "google")
        XCTAssertEqual(c["price"]?["model"], "gemini-2.5-flash")
        // promptTokenCount includes the 400 cached; candidatesTokenCount leaves out the 300 thoughts
        let input = (600 * 0.30 + 400 * 0.03) / 1e6, output = (200 * 2.50 + 300 * 2.50) / 1e6
        assertMoney(c["input_amount"], input, "input")
        assertMoney(c["output_amount"], output, "output")
        assertMoney(c["amount"], 0.001442, "total")
        XCTAssertEqual(c["tokens"], ["input": 600, "cache_read": 400, "output": 200, "reasoning": 300])
    }

    func testUnknownModelIsCountedAndNamedOnceNeverPriced() throws {
        let registry = PrometheusCollectorRegistry()
        let lines = Lines()
        let s = stage(registry: registry, lines: lines)
        for _ in 0..<3 {
            let e = try priced(CostTests.unknownModel("gpt-9-turbo-preview"), s)
            let c = try cost(e)
            XCTAssertEqual(c, ["status": "unpriced", "reason": "unknown_model", "provider": "openai", "model": "gpt-9-turbo-preview",
                               "tokens": ["input": 10, "output": 5]])
            XCTAssertNil(e.data["usage"]?["total_cost_usd"], "never a guessed price")
        }
        _ = try priced(CostTests.unknownModel("gpt-9-mini"), s)
        XCTAssertEqual(s.stats.unpriced["unknown_model"], 4)
        XCTAssertEqual(s.stats.priced, 0)
        let named = lines.lines.filter { $0.contains("not in the price table") }
        print(named.joined(separator: "\n"))
        XCTAssertEqual(named.count, 2, "each unknown model once: \(named)")
        XCTAssertTrue(named[0].contains("model=gpt-9-turbo-preview") && named[0].contains("provider=openai"), named[0])
        let text = registry.emitToString()
        XCTAssertTrue(text.contains(#"oisp_genai_unpriced_responses_total{gen_ai_provider_name="openai",reason="unknown_model"} 4"#), text)
        XCTAssertFalse(text.contains("oisp_genai_cost_total{currency=\"USD\",gen_ai"), "nothing priced, no cost series with a model")
        XCTAssertTrue(text.contains("oisp_genai_cost_total{currency=\"USD\"} 0"), "the baseline")
    }

    func testResponseWithoutUsageSaysWhy() throws {
        let req = DecoderTests.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nContent-Type: application/json\n", #"{"model":"gpt-4o","messages":[]}"#)
        let resp = DecoderTests.http("HTTP/1.1 429 Too Many Requests\nContent-Type: application/json\n",
                                     #"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#)
        let c = try cost(try priced((req, resp), stage()))
        XCTAssertEqual(c["status"], "unpriced")
        XCTAssertEqual(c["reason"], "no_usage")
    }

    func testPricesFileOverridesAndAdds() throws {
        let text = """
        # negotiated prices
        currency = "EUR"
        date = "2026-11-01"

        [openai."gpt-4o-mini-2024-07-18"]
        input = 0.10
        output = 0.40
        cached_input = 0.05

        [openai.gateway-llama]
        input = 0.02
        output = 0.02
        currency = "USD"
        """
        let entries = try PricesFile.parse(text, file: "prices.toml")
        XCTAssertEqual(entries.count, 2)
        let s = stage(overrides: entries)
        let e = try priced(CostTests.openAIStreamed, s)
        let c = try cost(e)
        print("override:", JSONValue.object(c).jsonString())
        XCTAssertEqual(c["currency"], "EUR")
        XCTAssertEqual(c["price"]?["source"], "prices.toml:5")
        XCTAssertEqual(c["price"]?["date"], "2026-11-01")
        assertMoney(c["amount"], (176 * 0.10 + 1024 * 0.05 + 300 * 0.40) / 1e6, "EUR total")
        XCTAssertNil(e.data["usage"]?["total_cost_usd"], "not USD: only ext carries it")
        let added = try cost(try priced(CostTests.unknownModel("gateway-llama"), s))
        XCTAssertEqual(added["status"], "priced")
        assertMoney(added["amount"], (10 * 0.02 + 5 * 0.02) / 1e6, "added model")
    }

    func testBadPricesFileNamesFileLineAndKey() throws {
        func error(_ text: String) -> String {
            do { _ = try PricesFile.parse(text, file: "prices.toml"); return "no error" } catch { return "\(error)" }
        }
        let cases: [(String, String)] = [
            ("[openai.\"gpt-4o\"]\ninput = 2.5\nouput = 10\n", "prices.toml:3: key 'openai.gpt-4o.ouput': unknown key; expected one of"),
            ("[openai.\"gpt-4.1\"]\ninput = \"cheap\"\noutput = 8\n", "prices.toml:2: key 'openai.\"gpt-4.1\".input': expected a price per 1M tokens (a number >= 0), got string \"cheap\""),
            ("[anthropic.claude-x]\ninput = 3\n", "prices.toml:1: key 'anthropic.claude-x': missing key 'output'"),
            ("[openai.gpt-4o]\ninput = -1\noutput = 1\n", "prices.toml:2: key 'openai.gpt-4o.input': expected a price per 1M tokens (a number >= 0), got integer -1"),
            ("currency = \"dollars\"\n", "prices.toml:1: key 'currency': expected a three-letter ISO 4217 currency code"),
            ("[openai.gpt-4o]\ninput = 1\noutput = 1\ndate = \"01/11/2026\"\n", "prices.toml:4: key 'openai.gpt-4o.date': expected a date \"YYYY-MM-DD\""),
            ("[openai]\ngpt-4o = 3\n", "prices.toml:2: key 'openai.gpt-4o': expected a table of prices"),
            ("[openai.gpt-4o\ninput = 1\n", "prices.toml:1"),
        ]
        for (text, want) in cases {
            let got = error(text)
            print(got)
            XCTAssertTrue(got.hasPrefix(want), "got: \(got)\nwant prefix: \(want)")
        }
        // through config.toml: the config is refused with the prices file's own position
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oisp-cost-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let prices = dir.appendingPathComponent("prices.toml").path
        try "[openai.gpt-4o]\ninput = 2.5\noutput = \"ten\"\n".write(toFile: prices, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SensorConfig.parse("[cost]\nprices_file = \"\(prices)\"\n", file: "config.toml")) { e in
            XCTAssertEqual("\(e)", "\(prices):3: key 'openai.gpt-4o.output': expected a price per 1M tokens (a number >= 0), got string \"ten\"")
        }
        XCTAssertThrowsError(try SensorConfig.parse("[cost]\nprices_file = \"\(dir.path)/none.toml\"\n", file: "config.toml")) { e in
            XCTAssertEqual("\(e)", "\(dir.path)/none.toml: prices file does not exist")
        }
        try "[openai.gpt-4o]\ninput = 2\noutput = 8\n".write(toFile: prices, atomically: true, encoding: .utf8)
        let c = try SensorConfig.parse("[cost]\nprices_file = \"\(prices)\"\n", file: "config.toml")
        XCTAssertEqual(c.cost.prices.map(\.model), ["gpt-4o"])
        XCTAssertEqual(c.cost.prices.first?.source, "\(prices):1")
    }

    /// The cost survives redaction (it runs before it) and is in the exported JSON.
    func testCostSurvivesRedaction() throws {
        var e = try priced(CostTests.anthropicCached, stage())
        var rc = SensorConfig.Redaction()
        rc.hashSalt = "cost-test-salt" // no key file
        let r = try Redactor(config: rc)
        _ = r.redact(&e)
        let back = try OISPEvent(jsonBytes: Array(e.jsonString().utf8))
        assertMoney(back.ext?[GenAIStage.extKey]?["amount"], 0.00156, "after redaction and a JSON round trip")
    }
}
