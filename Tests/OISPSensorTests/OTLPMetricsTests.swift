import Foundation
import OISPEvent
import XCTest

/// The OTLP exporter's metrics signal (`signals = ["traces", "metrics"]`): the decoded calls of
/// GenAIMetricsTests replayed to rotel (a real OpenTelemetry collector) over gRPC, which forwards
/// them to a receiver built on the official OTLP definitions (MetricsService), and straight to
/// the receiver over HTTP/protobuf; the conventions' names, units, buckets, attributes and the
/// values computed by hand arrive.
final class OTLPMetricsTests: XCTestCase {
    var dir: URL!
    var procs: [Process] = []
    var grpcPort = 0, httpPort = 0
    var out: URL { dir.appendingPathComponent("received.jsonl") }
    static var python: String { TestSupport.packageRoot.appendingPathComponent(".build/venv/bin/python").path }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            XCTFail("test peers missing: run `make test-peers` (creates .build/venv)")
            throw XCTSkip("no venv")
        }
        dir = try TestSupport.tempDir("otlpm")
    }

    override func tearDown() {
        for p in procs where p.isRunning { p.terminate(); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    func startReceiver() throws {
        let ports = dir.appendingPathComponent("ports")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = [TestSupport.fixtures.appendingPathComponent("otlp_metrics_receiver.py").path, out.path, ports.path]
        p.standardError = FileHandle.nullDevice
        try p.run()
        procs.append(p)
        for _ in 0..<200 {
            if let s = try? String(contentsOf: ports, encoding: .utf8) {
                let parts = s.split(separator: " ").compactMap { Int($0) }
                grpcPort = parts[0]; httpPort = parts[1]; return
            }
            usleep(50_000)
        }
        XCTFail("receiver did not start")
    }

    func startRotel() throws -> Int {
        let g = try TestSupport.freePort(), h = try TestSupport.freePort()
        let agent = TestSupport.packageRoot.appendingPathComponent(".build/venv/lib/python3.11/site-packages/rotel/rotel-agent").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: agent)
        p.arguments = ["start", "--otlp-grpc-endpoint", "127.0.0.1:\(g)", "--otlp-http-endpoint", "127.0.0.1:\(h)", "--exporter", "otlp",
                       "--otlp-exporter-endpoint", "http://127.0.0.1:\(grpcPort)", "--otlp-exporter-protocol", "grpc",
                       "--pid-file", dir.appendingPathComponent("rotel.pid").path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        procs.append(p)
        for _ in 0..<100 {
            let r = try TestSupport.run("/usr/bin/env", ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1',\(g)),1)"])
            if r.status == 0 { return g }
            usleep(100_000)
        }
        XCTFail("rotel did not start")
        return g
    }

    func replay(_ input: URL, endpoint: String, proto: String, signals: String) throws -> TestSupport.Result {
        let cfg = dir.appendingPathComponent("otlp-\(proto.replacingOccurrences(of: "/", with: "-")).toml")
        try TestSupport.write("""
        [export.otlp]
        enabled = true
        endpoint = "\(endpoint)"
        protocol = "\(proto)"
        signals = \(signals)
        metrics_interval_ms = 0
        """, to: cfg)
        return try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path])
    }

    /// A data point as received, with its metric and resource.
    struct Point {
        var metric: String, unit: String, kind: String, temporality: String
        var resource: [String: String], attrs: [String: String]
        var point: JSONValue
        var time: UInt64
    }

    static func strings(_ a: JSONValue?) -> [String: String] {
        var o: [String: String] = [:]
        for kv in a?.arrayValue ?? [] {
            guard let k = kv["key"]?.stringValue, let v = kv["value"] else { continue }
            o[k] = v["string_value"]?.stringValue ?? v["int_value"]?.stringValue ?? v["int_value"]?.intValue.map { String($0) }
                ?? v["double_value"]?.doubleValue.map { String($0) } ?? v["bool_value"]?.boolValue.map { String($0) } ?? "?"
        }
        return o
    }

    /// The latest value of every series (cumulative: the last one sent holds the total).
    func latest(_ transport: String) -> [Point] {
        var byKey: [String: Point] = [:]
        for line in TestSupport.lines(out) {
            guard let r = try? JSONParser.parse(line), r["transport"]?.stringValue == transport, r["signal"]?.stringValue == "metrics" else { continue }
            for rm in r["request"]?["resource_metrics"]?.arrayValue ?? [] {
                let res = Self.strings(rm["resource"]?["attributes"])
                for sm in rm["scope_metrics"]?.arrayValue ?? [] {
                    for m in sm["metrics"]?.arrayValue ?? [] {
                        let kind = m["histogram"] != nil ? "histogram" : "sum"
                        let body = m[kind]
                        for dp in body?["data_points"]?.arrayValue ?? [] {
                            let p = Point(metric: m["name"]?.stringValue ?? "", unit: m["unit"]?.stringValue ?? "", kind: kind,
                                          temporality: body?["aggregation_temporality"]?.stringValue ?? "",
                                          resource: res, attrs: Self.strings(dp["attributes"]), point: dp,
                                          time: UInt64(dp["time_unix_nano"]?.stringValue ?? "") ?? 0)
                            let key = "\(p.metric)|\(res.sorted { $0.key < $1.key })|\(p.attrs.sorted { $0.key < $1.key })"
                            if (byKey[key]?.time ?? 0) <= p.time { byKey[key] = p }
                        }
                    }
                }
            }
        }
        return Array(byKey.values)
    }

    func points(_ all: [Point], _ metric: String, _ attrs: [String: String]) -> [Point] {
        all.filter { p in p.metric == metric && attrs.allSatisfy { k, v in p.attrs[k] == v } }
    }
    func count(_ p: [Point]) -> Int { p.reduce(0) { $0 + Int($1.point["count"]?.stringValue ?? "0")! } }
    func sum(_ p: [Point]) -> Double { p.reduce(0) { $0 + ($1.point["sum"]?.doubleValue ?? $1.point["as_double"]?.doubleValue ?? 0) } }

    func waitFor(_ transport: String, calls: Int) -> [Point] {
        let deadline = Date().addingTimeInterval(20)
        var all: [Point] = []
        while Date() < deadline {
            all = latest(transport)
            if count(points(all, "gen_ai.client.operation.duration", [:])) >= calls { break }
            usleep(100_000)
        }
        return all
    }

    func check(_ all: [Point], _ via: String) {
        print("\(via): \(all.count) series: " + Set(all.map(\.metric)).sorted().joined(separator: ", "))
        let tokens = points(all, "gen_ai.client.token.usage", [:])
        XCTAssertFalse(tokens.isEmpty, via)
        for p in tokens {
            XCTAssertEqual(p.unit, "{token}"); XCTAssertEqual(p.kind, "histogram")
            XCTAssertEqual(p.temporality, "AGGREGATION_TEMPORALITY_CUMULATIVE")
            XCTAssertEqual(p.point["explicit_bounds"]?.arrayValue?.compactMap(\.doubleValue), (0..<14).map { pow(4, Double($0)) })
        }
        let openai = ["gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
                      "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "server.address": "api.openai.com", "server.port": "443"]
        func tok(_ a: [String: String], _ t: String) -> Double { sum(points(all, "gen_ai.client.token.usage", a.merging(["gen_ai.token.type": t]) { $1 })) }
        XCTAssertEqual(tok(openai, "input"), 1200, via); XCTAssertEqual(tok(openai, "output"), 300, via); XCTAssertEqual(tok(openai, "cache_read"), 1024, via)
        let o = points(all, "gen_ai.client.token.usage", openai.merging(["gen_ai.token.type": "input"]) { $1 }).first
        XCTAssertEqual(o?.resource["k8s.namespace.name"], "shop", "the pod is the resource")
        XCTAssertEqual(o?.resource["k8s.deployment.name"], "checkout")
        XCTAssertEqual(o?.point["bucket_counts"]?.arrayValue?.compactMap { $0.stringValue.flatMap { Int($0) } }.firstIndex(of: 1), 6, "1200 in (1024, 4096]")
        XCTAssertEqual(tok(["gen_ai.provider.name": "anthropic"], "input"), 2120, via)
        XCTAssertEqual(tok(["gen_ai.provider.name": "anthropic"], "cache_read"), 2000, via)
        XCTAssertEqual(tok(["gen_ai.provider.name": "gcp.gemini"], "output"), 500, via)
        XCTAssertEqual(tok(["gen_ai.provider.name": "gcp.gemini"], "reasoning"), 300, via)
        let dur = points(all, "gen_ai.client.operation.duration", [:])
        XCTAssertEqual(count(dur), 5, via)
        XCTAssertTrue(dur.allSatisfy { $0.unit == "s" && $0.point["explicit_bounds"]?.arrayValue?.last?.doubleValue == 81.92 })
        XCTAssertEqual(count(points(all, "gen_ai.client.operation.duration", ["error.type": "requests", "gen_ai.request.model": "gpt-4o"])), 1, via)
        XCTAssertEqual(count(points(all, "gen_ai.client.operation.time_to_first_chunk", ["gen_ai.provider.name": "openai"])), 1, via)
        let cost = points(all, "oisp.genai.cost", [:])
        XCTAssertTrue(cost.allSatisfy { $0.kind == "sum" && $0.temporality == "AGGREGATION_TEMPORALITY_CUMULATIVE" })
        XCTAssertEqual(sum(points(all, "oisp.genai.cost", ["gen_ai.response.model": "gpt-4o-mini-2024-07-18", "oisp.cost.currency": "USD"])), 0.0002832, accuracy: 1e-12)
        XCTAssertEqual(sum(cost), 0.0002832 + 0.00156 + 0.001442, accuracy: 1e-12, via)
    }

    func testMetricsSignalThroughRotelAndOverHTTP() throws {
        try startReceiver()
        let input = dir.appendingPathComponent("calls.jsonl")
        try TestSupport.write(GenAIMetricsTests.events().map { $0.jsonString() }.joined(separator: "\n") + "\n", to: input)
        // through rotel, over gRPC
        let g = try startRotel()
        let r = try replay(input, endpoint: "http://127.0.0.1:\(g)", proto: "grpc", signals: #"["traces", "metrics"]"#)
        XCTAssertEqual(r.status, 0, r.stderr)
        check(waitFor("grpc", calls: 5), "rotel (gRPC)")
        // the spans of the same calls carry their cost (gen_ai.usage.cost.*, proposed for the conventions)
        var spans: [JSONValue] = []
        let deadline = Date().addingTimeInterval(10)
        repeat {
            spans = TestSupport.lines(out).compactMap { try? JSONParser.parse($0) }.filter { $0["signal"]?.stringValue == "traces" }
                .flatMap { ($0["request"]?["resource_spans"]?.arrayValue ?? []).flatMap { ($0["scope_spans"]?.arrayValue ?? []).flatMap { $0["spans"]?.arrayValue ?? [] } } }
            if spans.count >= 5 { break }
            usleep(100_000)
        } while Date() < deadline
        func span(_ model: String) -> [String: String] { spans.map { Self.strings($0["attributes"]) }.first { $0["gen_ai.response.model"] == model } ?? [:] }
        let o = span("gpt-4o-mini-2024-07-18")
        print("openai span cost attributes:", o.filter { $0.key.contains("cost") || $0.key.contains("cache") || $0.key.contains("reasoning") })
        XCTAssertEqual(o["gen_ai.usage.cost.amount"].flatMap(Double.init) ?? 0, 0.0002832, accuracy: 1e-12)
        XCTAssertEqual(o["gen_ai.usage.cost.currency"], "USD")
        XCTAssertEqual(o["gen_ai.usage.cost.source"], "litellm 1.110.2")
        XCTAssertEqual(o["gen_ai.usage.cache_read.input_tokens"], "1024")
        XCTAssertEqual(span("claude-sonnet-4-5-20250929")["gen_ai.usage.cost.amount"].flatMap(Double.init) ?? 0, 0.00156, accuracy: 1e-12)
        XCTAssertEqual(span("gpt-9-turbo-preview")["oisp.cost.unpriced_reason"], "unknown_model")
        // straight to the receiver, over HTTP/protobuf, metrics only
        let h = try replay(input, endpoint: "http://127.0.0.1:\(httpPort)", proto: "http/protobuf", signals: #"["metrics"]"#)
        XCTAssertEqual(h.status, 0, h.stderr)
        check(waitFor("http", calls: 5), "direct (HTTP/protobuf)")
    }
}
