import Foundation
import Logging
import OISPEvent
import OISPGenAI
import Prometheus
import XCTest

/// The GenAI metrics on /metrics: decoded calls of three providers (plus an unknown model and a
/// rate-limited call) replayed through a running `oisp-sensor replay`, its /metrics scraped and
/// checked with promtool, and the conventions' names, labels and values asserted; the
/// cardinality guard folds models past the cap into `other` and counts them.
final class GenAIMetricsTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try TestSupport.tempDir("genai") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    static let k8s: JSONObject = ["namespace": "shop", "pod_name": "checkout-7d9f-abcde", "pod_uid": "0b1c", "container_name": "app",
                                  "workload_kind": "Deployment", "workload_name": "checkout"]

    /// The calls as capture would write them: decoded events, the OpenAI one attributed to a pod.
    static func events() -> [OISPEvent] {
        var out: [OISPEvent] = []
        var openai = CostTests.decode(CostTests.openAIStreamed.request, CostTests.openAIStreamed.response, pid: 101)
        for i in openai.indices { var x = openai[i].ext ?? JSONObject(); x["oisp.k8s"] = .object(Self.k8s); openai[i].ext = x }
        out += openai
        out += CostTests.decode(CostTests.anthropicCached.request, CostTests.anthropicCached.response, pid: 102)
        out += CostTests.decode(CostTests.gemini.request, CostTests.gemini.response, pid: 103)
        out += CostTests.decode(CostTests.unknownModel("gpt-9-turbo-preview").request, CostTests.unknownModel("gpt-9-turbo-preview").response, pid: 104)
        let limited = (DecoderTests.http("POST /v1/chat/completions HTTP/1.1\nHost: api.openai.com\nAuthorization: Bearer sk-proj-COSTTEST0000000000000000\nContent-Type: application/json\n",
                                         #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#),
                       DecoderTests.http("HTTP/1.1 429 Too Many Requests\nContent-Type: application/json\n",
                                         #"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#))
        out += CostTests.decode(limited.0, limited.1, pid: 105)
        return out
    }

    func get(_ url: String) -> (Int, String) {
        guard let r = try? TestSupport.run("/usr/bin/env", ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", url], timeout: 5) else { return (0, "") }
        var lines = r.stdout.components(separatedBy: "\n")
        let code = Int(lines.removeLast()) ?? 0
        return (code, lines.joined(separator: "\n"))
    }

    /// The value of the one sample whose name is `name` and whose labels include all of `labels`.
    func value(_ text: String, _ name: String, _ labels: [String: String]) -> Double? {
        var found: [Double] = []
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let l = String(line)
            guard let sp = l.lastIndex(of: " "), let v = Double(l[l.index(after: sp)...]) else { continue }
            let inner = l.firstIndex(of: "{").map { String(l[l.index(after: $0)..<(l.lastIndex(of: "}") ?? sp)]) } ?? ""
            var have: [String: String] = [:]
            for kv in inner.components(separatedBy: "\",") where !kv.isEmpty {
                let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { have[parts[0]] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            }
            if labels.allSatisfy({ have[$0.key] == $0.value }) { found.append(v) }
        }
        return found.count == 1 ? found[0] : (found.isEmpty ? nil : found.reduce(0, +))
    }

    func testReplayScrapeHasTheGenAIMetricsAndPassesPromtool() throws {
        let input = dir.appendingPathComponent("calls.jsonl")
        let evs = Self.events()
        try TestSupport.write(evs.map { $0.jsonString() }.joined(separator: "\n") + "\n", to: input)
        let responses = evs.filter { $0.eventType == "ai.response" }.count
        XCTAssertEqual(responses, 5)
        let port = try TestSupport.freePort()
        let err = dir.appendingPathComponent("replay.err")
        let p = try TestSupport.startSensor(["replay", "--input", input.path, "--output", dir.appendingPathComponent("out.jsonl").path,
                                             "--metrics-addr", "127.0.0.1:\(port)"], stderrFile: err,
                                            env: ["OISP_METRICS_LINGER_MS": "20000"])
        // the linger keeps /metrics up after the input ends; the test ends the process once it has scraped
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        // poll until every response is counted
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let (c, t) = get("http://127.0.0.1:\(port)/metrics")
            if c == 200, (value(t, "gen_ai_client_operation_duration_seconds_count", [:]) ?? 0) >= Double(responses) { text = t; break }
            usleep(100_000)
        }
        let genai = text.split(separator: "\n").filter { $0.contains("gen_ai_") || $0.contains("oisp_genai_") }
        print(genai.filter { !$0.contains("_bucket") }.joined(separator: "\n"))
        XCTAssertFalse(text.isEmpty, "no scrape with \(responses) calls: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")

        // promtool accepts the whole scrape
        let f = dir.appendingPathComponent("metrics.txt")
        try TestSupport.write(text, to: f)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") {
            let check = try TestSupport.run("/bin/sh", ["-c", "promtool check metrics < \(f.path)"])
            XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
            print("promtool check metrics: status \(check.status), \(text.split(separator: "\n").count) lines")
        } else {
            print("promtool not installed: skipped `promtool check metrics`")
        }

        // token usage: the conventions' name, attributes and token types; input counts cached, output reasoning
        let openai = ["gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o-mini",
                      "gen_ai_response_model": "gpt-4o-mini-2024-07-18", "server_address": "api.openai.com", "server_port": "443",
                      "k8s_namespace_name": "shop", "k8s_workload_kind": "Deployment", "k8s_workload_name": "checkout",
                      "k8s_pod_name": "checkout-7d9f-abcde"]
        func tokens(_ base: [String: String], _ type: String) -> Double? {
            value(text, "gen_ai_client_token_usage_sum", base.merging(["gen_ai_token_type": type]) { $1 })
        }
        XCTAssertEqual(tokens(openai, "input"), 1200)
        XCTAssertEqual(tokens(openai, "output"), 300)
        XCTAssertEqual(tokens(openai, "cache_read"), 1024)
        XCTAssertEqual(tokens(openai, "reasoning"), 0, "reported as 0: recorded as 0")
        XCTAssertEqual(value(text, "gen_ai_client_token_usage_bucket", openai.merging(["gen_ai_token_type": "input", "le": "1024.0"]) { $1 }), 0)
        XCTAssertEqual(value(text, "gen_ai_client_token_usage_bucket", openai.merging(["gen_ai_token_type": "input", "le": "4096.0"]) { $1 }), 1)
        let anthropic = ["gen_ai_provider_name": "anthropic", "gen_ai_request_model": "claude-sonnet-4-5", "gen_ai_response_model": "claude-sonnet-4-5-20250929",
                         "server_address": "api.anthropic.com"]
        XCTAssertEqual(tokens(anthropic, "input"), 2120, "Anthropic's input_tokens plus cache reads")
        XCTAssertEqual(tokens(anthropic, "cache_read"), 2000)
        XCTAssertEqual(tokens(anthropic, "output"), 40)
        let gemini = ["gen_ai_provider_name": "gcp.gemini", "gen_ai_request_model": "gemini-2.5-flash", "server_address": "generativelanguage.googleapis.com"]
        XCTAssertEqual(tokens(gemini, "input"), 1000)
        XCTAssertEqual(tokens(gemini, "output"), 500, "candidates plus thoughts")
        XCTAssertEqual(tokens(gemini, "reasoning"), 300)
        XCTAssertEqual(tokens(gemini, "cache_read"), 400)

        // duration for every call, error_type on the failed one; time to first chunk for the streamed one only
        XCTAssertEqual(value(text, "gen_ai_client_operation_duration_seconds_count", [:]), 5)
        XCTAssertEqual(value(text, "gen_ai_client_operation_duration_seconds_count", ["error_type": "requests", "gen_ai_request_model": "gpt-4o"]), 1)
        XCTAssertTrue(text.contains("gen_ai_client_operation_duration_seconds_bucket{"), "a histogram")
        XCTAssertTrue(text.contains(#"le="81.92""#), "the conventions' duration buckets")
        XCTAssertEqual(value(text, "gen_ai_client_operation_time_to_first_chunk_seconds_count", [:]), 1)
        XCTAssertEqual(value(text, "gen_ai_client_operation_time_to_first_chunk_seconds_count", ["gen_ai_provider_name": "openai"]), 1)

        // cost by model and workload; the unknown model and the failed call counted, not priced
        let c = try XCTUnwrap(value(text, "oisp_genai_cost_total", ["currency": "USD", "gen_ai_response_model": "gpt-4o-mini-2024-07-18",
                                                                    "k8s_namespace_name": "shop", "k8s_workload_name": "checkout"]))
        XCTAssertEqual(c, 0.0002832, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(value(text, "oisp_genai_cost_total", ["gen_ai_response_model": "claude-sonnet-4-5-20250929"])), 0.00156, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(value(text, "oisp_genai_cost_total", ["gen_ai_provider_name": "gcp.gemini"])), 0.001442, accuracy: 1e-12)
        XCTAssertEqual(value(text, "oisp_genai_unpriced_responses_total", ["reason": "unknown_model", "gen_ai_provider_name": "openai"]), 1)
        XCTAssertEqual(value(text, "oisp_genai_unpriced_responses_total", ["reason": "no_usage"]), 1)
        for h in ["gen_ai_client_token_usage", "gen_ai_client_operation_duration_seconds", "oisp_genai_cost_total"] {
            XCTAssertTrue(text.contains("# HELP \(h) "), "help for \(h)")
        }
        XCTAssertTrue(text.contains("# TYPE gen_ai_client_token_usage histogram"))
        XCTAssertTrue(text.contains("# TYPE oisp_genai_cost_total counter"))
        // every GenAI series the Grafana dashboard's panels query is in this scrape
        let dash = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("deploy/monitoring/grafana-dashboard.json"), encoding: .utf8)
        let used = Set(dash.matches(of: try Regex("(gen_ai|oisp_genai|k8s)_[a-z_]+")).map { String(dash[$0.range]) })
        let series = used.filter { $0.hasPrefix("gen_ai_client_") || $0.hasPrefix("oisp_genai_") }
        XCTAssertGreaterThanOrEqual(series.count, 5, "\(used)")
        for n in series { XCTAssertTrue(text.contains("\n\(n){"), "the dashboard uses \(n), which this scrape lacks") }
        for l in used.subtracting(series) { XCTAssertTrue(text.contains("\(l)=\""), "the dashboard groups by \(l), a label this scrape lacks") }
        var log = ""
        let logDeadline = Date().addingTimeInterval(5)
        repeat { log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""; if log.contains("gpt-9-turbo-preview") { break }; usleep(50_000) } while Date() < logDeadline
        XCTAssertTrue(log.contains("model not in the price table") && log.contains("model=gpt-9-turbo-preview"), log)
    }

    func testCardinalityGuardFoldsModelsAndWorkloadsIntoOther() throws {
        let registry = PrometheusCollectorRegistry()
        let m = GenAIMetrics(registry: registry, maxModels: 2, maxWorkloads: 1)
        for (i, model) in ["m-1", "m-2", "m-3", "m-4", "m-1"].enumerated() {
            var e = OISPEvent(eventType: "ai.response", data: ["provider": ["name": "openai"], "model": ["id": .string(model)], "latency_ms": 100,
                                                              "success": true, "usage": ["prompt_tokens": 10, "completion_tokens": 2]])
            e.ext = ["oisp.k8s": ["namespace": "ns", "workload_kind": "Deployment", "workload_name": .string("w-\(i % 2)"), "pod_name": .string("p-\(i)")]]
            m.recordResponse(e, request: nil, usage: TokenUsage(response: e.data, provider: "openai", model: model), cost: nil)
        }
        let text = registry.emitToString()
        print(text.split(separator: "\n").filter { $0.contains("_count") || $0.contains("overflow") }.joined(separator: "\n"))
        XCTAssertEqual(value(text, "gen_ai_client_operation_duration_seconds_count", ["gen_ai_response_model": "m-1"]), 2)
        XCTAssertEqual(value(text, "gen_ai_client_operation_duration_seconds_count", ["gen_ai_response_model": "m-2"]), 1)
        XCTAssertNil(value(text, "gen_ai_client_operation_duration_seconds_count", ["gen_ai_response_model": "m-3"]), "past the cap")
        XCTAssertEqual(value(text, "gen_ai_client_operation_duration_seconds_count", ["gen_ai_response_model": "other"]), 2)
        XCTAssertEqual(value(text, "gen_ai_client_operation_duration_seconds_count", ["k8s_workload_name": "w-0"]), 3)
        XCTAssertEqual(value(text, "gen_ai_client_operation_duration_seconds_count", ["k8s_workload_name": "other"]), 2)
        XCTAssertEqual(value(text, "gen_ai_client_operation_duration_seconds_count", ["k8s_pod_name": "other"]), 4)
        // each folded value counted once per metric series it was asked for
        XCTAssertEqual(value(text, "oisp_genai_label_overflow_total", ["label": "gen_ai_response_model"]), 2, "m-3 and m-4, once per call")
        XCTAssertEqual(value(text, "oisp_genai_label_overflow_total", ["label": "k8s_workload_name"]), 2)
        XCTAssertEqual(value(text, "oisp_genai_label_overflow_total", ["label": "k8s_pod_name"]), 4)
        let series = Set(text.split(separator: "\n").filter { $0.hasPrefix("gen_ai_client_operation_duration_seconds_count") }.map(String.init))
        XCTAssertLessThanOrEqual(series.count, 3 * 2 * 2, "bounded: (2 models + other) x (1 workload + other) x (1 pod + other)")
    }
}
