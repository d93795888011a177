import Foundation
import OISPEvent
import XCTest

/// The OTLP exporter plugin against a recording receiver built on the official OTLP definitions
/// (opentelemetry-proto + grpcio), directly and through rotel, a real OpenTelemetry collector.
final class OTLPExporterTests: XCTestCase {
    var dir: URL!
    var receiver: Process?
    var rotel: Process?
    var grpcPort = 0, httpPort = 0
    var out: URL { dir.appendingPathComponent("received.jsonl") }

    static var python: String { TestSupport.packageRoot.appendingPathComponent(".build/venv/bin/python").path }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            XCTFail("test peers missing: run `make test-peers` (creates .build/venv)")
            throw XCTSkip("no venv")
        }
        dir = try TestSupport.tempDir("otlp")
    }

    override func tearDown() {
        receiver?.terminate(); rotel?.terminate()
        receiver?.waitUntilExit(); rotel?.waitUntilExit()
        try? FileManager.default.removeItem(at: dir)
    }

    func startReceiver(failFirst: Int = 0, grpcPort fixed: Int? = nil, throttle: Int = 0, rejectLogs: Int = 0, tls: [String] = []) throws {
        let ports = dir.appendingPathComponent("ports")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        var args = [TestSupport.fixtures.appendingPathComponent("otlp_receiver.py").path, out.path, ports.path]
        if failFirst > 0 { args += ["--fail-first", "\(failFirst)"] }
        if let fixed { args += ["--grpc-port", "\(fixed)"] }
        if throttle > 0 { args += ["--throttle", "\(throttle)"] }
        if rejectLogs > 0 { args += ["--reject-logs", "\(rejectLogs)"] }
        if !tls.isEmpty { args += ["--tls"] + tls }
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        try p.run()
        receiver = p
        for _ in 0..<200 {
            if let s = try? String(contentsOf: ports, encoding: .utf8) {
                let parts = s.split(separator: " ").compactMap { Int($0) }
                grpcPort = parts[0]; httpPort = parts[1]; return
            }
            usleep(50_000)
        }
        XCTFail("receiver did not start")
    }


    /// rotel receiving OTLP gRPC + HTTP and forwarding over OTLP/gRPC to the recording receiver.
    func startRotel() throws -> (Int, Int) {
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
        rotel = p
        // wait until it listens
        for _ in 0..<100 {
            let r = try TestSupport.run("/usr/bin/env", ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1',\(g)),1)"])
            if r.status == 0 { return (g, h) }
            usleep(100_000)
        }
        XCTFail("rotel did not start")
        return (g, h)
    }

    func fixtures(_ n: Int = 6) throws -> (URL, [OISPEvent]) {
        let f = dir.appendingPathComponent("fixtures.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "--count", "\(n)", "--output", f.path]).status, 0)
        return (f, TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)) })
    }

    func replay(_ input: URL, endpoint: String, proto: String, extra: String = "") throws -> TestSupport.Result {
        let cfg = dir.appendingPathComponent("otlp.toml")
        try TestSupport.write("""
        [sensor]
        name = "k8s-${NODE_NAME}"

        [export.otlp]
        enabled = true
        endpoint = "\(endpoint)"
        protocol = "\(proto)"
        headers = {
          "x-node-name" = "${NODE_NAME}",
          "x-cluster" = "production"
        }
        \(extra)
        """, to: cfg)
        return try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path], env: ["NODE_NAME": "worker-3"])
    }

    func received(wait spans: Int = 1) -> [JSONValue] {
        let deadline = Date().addingTimeInterval(10)
        var all: [JSONValue] = []
        while Date() < deadline {
            all = TestSupport.lines(out).compactMap { try? JSONParser.parse($0) }
            if self.spans(all).count >= spans { break }
            usleep(100_000)
        }
        return all
    }

    func spans(_ reqs: [JSONValue]) -> [JSONValue] {
        reqs.filter { $0["signal"]?.stringValue == "traces" }.flatMap { r in
            (r["request"]?["resource_spans"]?.arrayValue ?? []).flatMap { rs in
                (rs["scope_spans"]?.arrayValue ?? []).flatMap { $0["spans"]?.arrayValue ?? [] }
            }
        }
    }

    func attr(_ span: JSONValue, _ key: String) -> JSONValue? {
        guard let a = span["attributes"]?.arrayValue?.first(where: { $0["key"]?.stringValue == key }) else { return nil }
        let v = a["value"]
        return v?["string_value"] ?? v?["int_value"] ?? v?["double_value"] ?? v?["bool_value"] ?? v?["array_value"]
    }

    func checkAISpans(_ got: [JSONValue], _ events: [OISPEvent], file: StaticString = #filePath, line: UInt = #line) {
        let calls = events.filter { $0.eventType == "ai.response" }
        let ai = spans(got).filter { attr($0, "gen_ai.operation.name") != nil && $0["kind"]?.stringValue == "SPAN_KIND_CLIENT" }
        XCTAssertEqual(ai.count, calls.count, "one span per AI call", file: file, line: line)
        for resp in calls {
            let rid = resp.data["request_id"]!.stringValue!
            guard let s = ai.first(where: { attr($0, "oisp.request_id")?.stringValue == rid }) else { XCTFail("no span for \(rid)", file: file, line: line); continue }
            let req = events.first { $0.eventType == "ai.request" && $0.data["request_id"]?.stringValue == rid }!
            XCTAssertEqual(attr(s, "gen_ai.operation.name")?.stringValue, "chat", file: file, line: line)
            XCTAssertEqual(attr(s, "gen_ai.provider.name")?.stringValue, req.data["provider"]?["name"]?.stringValue, file: file, line: line)
            XCTAssertEqual(attr(s, "gen_ai.request.model")?.stringValue, req.data["model"]?["id"]?.stringValue, file: file, line: line)
            XCTAssertEqual(attr(s, "gen_ai.response.model")?.stringValue, resp.data["model"]?["id"]?.stringValue, file: file, line: line)
            XCTAssertEqual(attr(s, "gen_ai.usage.input_tokens")?.stringValue, String(resp.data["usage"]!["prompt_tokens"]!.intValue!), file: file, line: line)
            XCTAssertEqual(attr(s, "gen_ai.usage.output_tokens")?.stringValue, String(resp.data["usage"]!["completion_tokens"]!.intValue!), file: file, line: line)
            XCTAssertEqual(attr(s, "gen_ai.response.finish_reasons")?["values"]?.arrayValue?.first?["string_value"]?.stringValue, "stop", file: file, line: line)
            XCTAssertNotNil(attr(s, "server.address"), file: file, line: line)
            XCTAssertEqual(attr(s, "process.pid")?.stringValue, String(req.process!.pid), file: file, line: line)
            XCTAssertEqual(attr(s, "process.executable.name")?.stringValue, req.process?.name, file: file, line: line)
            XCTAssertEqual(s["name"]?.stringValue, "chat \(req.data["model"]!["id"]!.stringValue!)", file: file, line: line)
            // the span runs from the request to the response
            let start = UInt64(s["start_time_unix_nano"]!.stringValue!)!, end = UInt64(s["end_time_unix_nano"]!.stringValue!)!
            XCTAssertEqual(Int64(start) / 1000, req.ts.nanoseconds / 1000, file: file, line: line)
            XCTAssertEqual(Int64(end) / 1000, resp.ts.nanoseconds / 1000, file: file, line: line)
        }
        let resource = got.first { $0["signal"]?.stringValue == "traces" }?["request"]?["resource_spans"]?.arrayValue?.first?["resource"]?["attributes"]?.arrayValue ?? []
        let keys = resource.compactMap { $0["key"]?.stringValue }
        XCTAssertTrue(keys.contains("service.name") && keys.contains("host.name") && keys.contains("k8s.node.name"), "\(keys)", file: file, line: line)
    }

    func testGRPCDirectCarriesHeadersAndGenAISpans() throws {
        try startReceiver()
        let (input, events) = try fixtures()
        let r = try replay(input, endpoint: "http://127.0.0.1:\(grpcPort)", proto: "grpc")
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = received()
        XCTAssertEqual(got.first?["transport"]?.stringValue, "grpc")
        XCTAssertEqual(got.first?["metadata"]?["x-node-name"]?.stringValue, "worker-3", "headers from the multi-line inline table, ${NODE_NAME} expanded")
        XCTAssertEqual(got.first?["metadata"]?["x-cluster"]?.stringValue, "production")
        checkAISpans(got, events)
    }

    func testEmptyHeaderIsSentAndALineBreakIsRefused() throws {
        try startReceiver()
        let (input, events) = try fixtures()
        let cfg = dir.appendingPathComponent("otlp-h.toml")
        for proto in ["grpc", "http/protobuf"] {
            try? FileManager.default.removeItem(at: out)
            try TestSupport.write("""
            [sensor]
            name = "k8s-${NODE_NAME}"
            [export.otlp]
            enabled = true
            endpoint = "http://127.0.0.1:\(proto == "grpc" ? grpcPort : httpPort)"
            protocol = "\(proto)"
            headers = { "x-tenant" = "${TENANT:-}", "X-Team" = "ai platform" }
            """, to: cfg)
            let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path], env: ["NODE_NAME": "worker-3"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let got = received()
            XCTAssertEqual(got.first?["metadata"]?["x-tenant"]?.stringValue, "", "\(proto): a header whose value is empty is still sent")
            XCTAssertEqual(got.first?["metadata"]?["x-team"]?.stringValue, "ai platform", "\(proto): a mixed-case name arrives (lower-cased on HTTP/2, as gRPC requires)")
            checkAISpans(got, events)
        }
        try TestSupport.write("""
        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:\(httpPort)"
        headers = { "x-tenant" = "${TENANT}" }
        """, to: cfg)
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path], env: ["TENANT": "a\r\nx-injected: 1"])
        XCTAssertTrue(r.stderr.contains("key 'headers.x-tenant'") && r.stderr.contains("line break"), r.stderr)
    }

    /// `endpoint = "host:port"` as the Collector's OTLP exporter takes it: TLS unless insecure.
    func testHostPortEndpointAsTheCollectorTakesIt() throws {
        try startReceiver()
        let (input, events) = try fixtures()
        let r = try replay(input, endpoint: "127.0.0.1:\(grpcPort)", proto: "grpc", extra: "tls = { insecure = true }")
        XCTAssertEqual(r.status, 0, r.stderr)
        checkAISpans(received(), events)
        let cfg = dir.appendingPathComponent("otlp-bad.toml")
        try TestSupport.write("[export.otlp]\nenabled = true\nendpoint = \"ftp://127.0.0.1:\(grpcPort)\"\n", to: cfg)
        let bad = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path])
        XCTAssertTrue(bad.stderr.contains("key 'endpoint'"), bad.stderr)
    }

    /// The GenAI conventions' conversation id always, and — only with `capture_content = true` —
    /// the call's messages as `gen_ai.system_instructions` / `gen_ai.input.messages` /
    /// `gen_ai.output.messages`, taken from the redacted events (an email in the prompt arrives
    /// redacted).
    func testConversationIDAndOptInContent() throws {
        try startReceiver()
        let (_, demo) = try fixtures(2)
        var events = demo
        let rid = try XCTUnwrap(events.first { $0.eventType == "ai.request" }?.data["request_id"]?.stringValue)
        for i in events.indices where events[i].data["request_id"]?.stringValue == rid {
            if events[i].eventType == "ai.request" {
                events[i].data["conversation"] = ["id": "conv_6789abc"]
                events[i].data["messages"] = [["role": "system", "content": "Answer briefly."],
                                              ["role": "user", "content": "Mail the summary to ops@example.com please"]]
            } else if events[i].eventType == "ai.response" {
                events[i].data["choices"] = [["index": 0, "message": ["role": "assistant", "content": "Sent."], "finish_reason": "stop"]]
            }
        }
        let input = dir.appendingPathComponent("content.jsonl")
        try TestSupport.write(events.map { $0.jsonString() }.joined(separator: "\n") + "\n", to: input)
        func span(_ extra: String) throws -> JSONValue {
            try? FileManager.default.removeItem(at: out)
            let r = try replay(input, endpoint: "http://127.0.0.1:\(httpPort)", proto: "http/protobuf", extra: extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap(spans(received()).first { attr($0, "oisp.request_id")?.stringValue == rid })
        }
        let plain = try span("")
        XCTAssertEqual(attr(plain, "gen_ai.conversation.id")?.stringValue, "conv_6789abc")
        for k in ["gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"] {
            XCTAssertNil(attr(plain, k), "\(k) is opt-in")
        }
        func at(_ v: JSONValue?, _ k: Int) -> JSONValue? { v?.arrayValue.flatMap { k < $0.count ? $0[k] : nil } }
        let s = try span("capture_content = true")
        let input_ = try JSONParser.parse(try XCTUnwrap(attr(s, "gen_ai.input.messages")?.stringValue))
        XCTAssertEqual(input_.arrayValue?.count, 1)
        XCTAssertEqual(at(input_, 0)?["role"]?.stringValue, "user")
        XCTAssertEqual(at(at(input_, 0)?["parts"], 0)?["type"]?.stringValue, "text")
        let prompt = try XCTUnwrap(at(at(input_, 0)?["parts"], 0)?["content"]?.stringValue)
        XCTAssertTrue(prompt.hasPrefix("Mail the summary to ") && !prompt.contains("ops@example.com"), "redacted before export: \(prompt)")
        let sys = try JSONParser.parse(try XCTUnwrap(attr(s, "gen_ai.system_instructions")?.stringValue))
        XCTAssertEqual(at(sys, 0)?["content"]?.stringValue, "Answer briefly.")
        let output = try JSONParser.parse(try XCTUnwrap(attr(s, "gen_ai.output.messages")?.stringValue))
        XCTAssertEqual(at(output, 0)?["role"]?.stringValue, "assistant")
        XCTAssertEqual(at(at(output, 0)?["parts"], 0)?["content"]?.stringValue, "Sent.")
        XCTAssertEqual(at(output, 0)?["finish_reason"]?.stringValue, "stop")
        // each part's text is bounded (a collector refuses an oversized request for good)
        let cut = try span("capture_content = true\ncapture_content_max_bytes = 16")
        let short = try JSONParser.parse(try XCTUnwrap(attr(cut, "gen_ai.input.messages")?.stringValue))
        XCTAssertEqual(at(at(short, 0)?["parts"], 0)?["content"]?.stringValue, "Mail the summ…")
    }

    func testHTTPProtobufDirect() throws {
        try startReceiver()
        let (input, events) = try fixtures()
        let r = try replay(input, endpoint: "http://127.0.0.1:\(httpPort)", proto: "http/protobuf")
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = received()
        XCTAssertEqual(got.first?["transport"]?.stringValue, "http")
        XCTAssertEqual(got.first?["metadata"]?["x-node-name"]?.stringValue, "worker-3")
        XCTAssertEqual(got.first?["metadata"]?["content-type"]?.stringValue, "application/x-protobuf")
        XCTAssertEqual(got.first?["metadata"]?["content-encoding"]?.stringValue, "gzip", "compression = gzip is the default")
        checkAISpans(got, events)
        // compression = "none": the same spans, sent as they are
        try FileManager.default.removeItem(at: out)
        XCTAssertEqual(try replay(input, endpoint: "http://127.0.0.1:\(httpPort)", proto: "http/protobuf", extra: "compression = \"none\"").status, 0)
        let plain = received()
        XCTAssertNil(plain.first?["metadata"]?["content-encoding"])
        checkAISpans(plain, events)
    }

    func testThroughRotelCollectorOverGRPCAndHTTP() throws {
        try startReceiver()
        let (g, h) = try startRotel()
        let (input, events) = try fixtures()
        XCTAssertEqual(try replay(input, endpoint: "http://127.0.0.1:\(g)", proto: "grpc").status, 0)
        let n = events.filter { $0.eventType == "ai.response" }.count
        var got = received(wait: n)
        checkAISpans(got, events)
        try FileManager.default.removeItem(at: out)
        XCTAssertEqual(try replay(input, endpoint: "http://127.0.0.1:\(h)", proto: "http/protobuf").status, 0)
        got = received(wait: n)
        checkAISpans(got, events)
    }

    /// A receiver's partial_success for logs (one record per event) reaches the host's counts:
    /// the refused records are dropped as rejected, not counted as exported, and not resent.
    func testLogsPartialSuccessIsCountedAsRejected() throws {
        try startReceiver(rejectLogs: 2)
        let (input, events) = try fixtures(2)
        for (endpoint, proto) in [("http://127.0.0.1:\(grpcPort)", "grpc"), ("http://127.0.0.1:\(httpPort)", "http/protobuf"),
                                  ("http://127.0.0.1:\(httpPort)", "http/json")] {
            let r = try replay(input, endpoint: endpoint, proto: proto, extra: "signals = [\"logs\"]\nbatch_size = 1000")
            XCTAssertEqual(r.status, 75, "\(proto): events were lost, and the exit status says so: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("2 log records rejected: log record too large for the index"), r.stderr)
            XCTAssertTrue(r.stderr.contains("dropped_rejected=2"), r.stderr)
            XCTAssertTrue(r.stderr.contains("exported=\(events.count - 2)"), r.stderr)
            XCTAssertFalse(r.stderr.contains("will retry"), "partial success is not retried: \(r.stderr)")
        }
    }

    func testLogsSignalOneRecordPerEvent() throws {
        try startReceiver()
        let (input, events) = try fixtures(2)
        let r = try replay(input, endpoint: "http://127.0.0.1:\(httpPort)", proto: "http/json", extra: "signals = [\"logs\"]")
        XCTAssertEqual(r.status, 0, r.stderr)
        usleep(300_000)
        let logs = TestSupport.lines(out).compactMap { try? JSONParser.parse($0) }.filter { $0["signal"]?.stringValue == "logs" }
        let records = logs.flatMap { ($0["request"]?["resource_logs"]?.arrayValue ?? []).flatMap { ($0["scope_logs"]?.arrayValue ?? []).flatMap { $0["log_records"]?.arrayValue ?? [] } } }
        XCTAssertEqual(records.count, events.count)
        let bodies = records.compactMap { $0["body"]?["string_value"]?.stringValue }.map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        XCTAssertEqual(Set(bodies), Set(events.map(\.eventID)), "body = the event JSON")
        XCTAssertTrue(records.contains { $0["trace_id"] != nil }, "AI events carry their trace id")
    }

    func testRetryableFailuresThenSuccessAndSplitBatches() throws {
        try startReceiver(failFirst: 2)
        let (input, events) = try fixtures(4)
        // batch_size 3: requests and their responses land in different batches
        let r = try replay(input, endpoint: "http://127.0.0.1:\(grpcPort)", proto: "grpc",
                           extra: "batch_size = 3\nretry_on_failure = { initial_interval_ms = 50, max_interval_ms = 200 }")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("will retry"), r.stderr)
        checkAISpans(received(wait: 4), events)
    }

    /// The server's own wait wins over the host's backoff: gRPC's RetryInfo (the OTLP spec's
    /// throttling) and HTTP's Retry-After given as an HTTP-date.
    func testServerThrottleIsHonouredOverBothTransports() throws {
        try startReceiver(failFirst: 1, throttle: 3)
        let (input, events) = try fixtures(2)
        let backoff = "retry_on_failure = { initial_interval_ms = 20, max_interval_ms = 50 }"
        let started = Date()
        var r = try replay(input, endpoint: "http://127.0.0.1:\(grpcPort)", proto: "grpc", extra: backoff)
        XCTAssertEqual(r.status, 0, r.stderr)
        // the worker logs the wait it chose: RetryInfo's 3 s, not the 20 ms backoff
        XCTAssertTrue(r.stderr.contains("retry_in_ms=3000"), r.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 2.9)
        checkAISpans(received(wait: 2), events)

        receiver?.terminate(); receiver?.waitUntilExit()
        for f in [out, dir.appendingPathComponent("ports")] { try? FileManager.default.removeItem(at: f) }
        try startReceiver(failFirst: 1, throttle: 3)
        r = try replay(input, endpoint: "http://127.0.0.1:\(httpPort)", proto: "http/protobuf", extra: backoff)
        XCTAssertEqual(r.status, 0, r.stderr)
        // an HTTP-date has whole seconds: the wait is what is left of 3 s, at least 1 s
        let waits = r.stderr.components(separatedBy: "retry_in_ms=").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        XCTAssertEqual(waits.count, 1, r.stderr)
        XCTAssertTrue(waits.allSatisfy { $0 >= 1000 && $0 <= 3100 }, "\(waits)")
        checkAISpans(received(wait: 2), events)
    }

    func testConcurrentExportsKeepOneSpanPerCall() throws {
        // tiny batches, many in flight: requests and responses sit in batches exported at the
        // same time, yet each call must still pair into exactly one span (no error span left
        // behind for a request whose response went first)
        try startReceiver()
        let (input, events) = try fixtures(40)
        let r = try replay(input, endpoint: "http://127.0.0.1:\(grpcPort)", proto: "grpc", extra: "batch_size = 2\nmax_in_flight = 8")
        XCTAssertEqual(r.status, 0, r.stderr)
        let calls = events.filter { $0.eventType == "ai.response" }.count
        XCTAssertGreaterThan(calls, 20)
        checkAISpans(received(wait: calls), events)
        XCTAssertFalse(spans(received()).contains { attr($0, "error.type")?.stringValue == "no_response" }, "no request left unpaired")
    }

    func testCollectorDownAtStartThenUpDeliversEveryCallOnce() throws {
        let (input, events) = try fixtures(12)
        let port = try TestSupport.freePort()
        let cfg = dir.appendingPathComponent("down.toml")
        try TestSupport.write("""
        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:\(port)"
        batch_size = 4
        timeout_ms = 1000
        retry_on_failure = { initial_interval_ms = 200, max_interval_ms = 1000, max_elapsed_ms = 120000 }
        """, to: cfg)
        let err = dir.appendingPathComponent("replay.err")
        let p = try TestSupport.startSensor(["replay", "--input", input.path, "-c", cfg.path, "--shutdown-timeout", "60"],
                                            stderrFile: err, env: ["NODE_NAME": "worker-3"])
        sleep(10)
        XCTAssertTrue(p.isRunning, "the sensor stays up while the collector is down")
        try startReceiver(grpcPort: port)
        p.waitUntilExit()
        let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("will retry"), "retries were logged")
        let calls = events.filter { $0.eventType == "ai.response" }.count
        let got = received(wait: calls)
        checkAISpans(got, events)
        let ids = spans(got).compactMap { attr($0, "oisp.request_id")?.stringValue }
        XCTAssertEqual(ids.count, Set(ids).count, "each call once: retries resend a batch's spans, never build them twice")
    }

    func testUnansweredRequestBecomesErrorSpan() throws {
        try startReceiver()
        let (_, events) = try fixtures(1)
        let lone = dir.appendingPathComponent("lone.jsonl")
        try TestSupport.write(events.filter { $0.eventType == "ai.request" }.map { $0.jsonString() }.joined(separator: "\n") + "\n", to: lone)
        XCTAssertEqual(try replay(lone, endpoint: "http://127.0.0.1:\(grpcPort)", proto: "grpc").status, 0)
        let s = spans(received()).first { attr($0, "gen_ai.operation.name") != nil }
        XCTAssertEqual(s?["status"]?["code"]?.stringValue, "STATUS_CODE_ERROR")
        XCTAssertEqual(attr(s ?? .null, "error.type")?.stringValue, "no_response")
    }

    /// The pairing clock: a request whose response never comes becomes an error span once
    /// `pair_timeout_ms` has passed, while the sensor runs and no further event arrives to carry
    /// it out (a quiet node), not only at shutdown. `service_name` names the resource.
    func testUnansweredRequestIsReportedOnTimeWithoutFurtherTraffic() throws {
        try startReceiver()
        let (_, events) = try fixtures(1)
        let request = try XCTUnwrap(events.first { $0.eventType == "ai.request" })
        let cfg = dir.appendingPathComponent("clock.toml")
        try TestSupport.write("""
        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:\(grpcPort)"
        pair_timeout_ms = 300
        service_name = "oisp-node-agent"
        flush_interval_ms = 100
        """, to: cfg)
        let stdin = Pipe()
        let p = try TestSupport.startSensor(["replay", "--input", "-", "-c", cfg.path], stderrFile: dir.appendingPathComponent("err"), stdin: stdin)
        stdin.fileHandleForWriting.write(Data((request.jsonString() + "\n").utf8))
        // stdin stays open: the sensor is running and nothing else comes
        let got = received()
        XCTAssertTrue(p.isRunning, "the span came while the sensor runs")
        let s = spans(got).first { attr($0, "gen_ai.operation.name") != nil }
        XCTAssertEqual(s?["status"]?["code"]?.stringValue, "STATUS_CODE_ERROR", "\(got)")
        XCTAssertEqual(attr(s ?? .null, "error.type")?.stringValue, "no_response")
        XCTAssertEqual(attr(s ?? .null, "oisp.request_id")?.stringValue, request.data["request_id"]?.stringValue)
        let resource = got.first?["request"]?["resource_spans"]?.arrayValue?.first?["resource"]?["attributes"]?.arrayValue ?? []
        XCTAssertEqual(resource.first { $0["key"]?.stringValue == "service.name" }?["value"]?["string_value"]?.stringValue, "oisp-node-agent")
        try stdin.fileHandleForWriting.close()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(spans(received()).count, 1, "reported once, not again at shutdown")
    }

    /// A collector behind a private CA that wants client certificates (mutual TLS): the
    /// receiver's certificate is verified against `ca_file`, ours comes from `cert_file` and
    /// `key_file` — over gRPC and over HTTP, in this config's spelling and in the Collector's
    /// `tls` block. Without the client certificate, or without the CA, nothing is sent and the
    /// events are counted as lost, with the TLS failure named.
    func testMutualTLSWithAPrivateCA() throws {
        func ssl(_ args: [String]) throws {
            let r = try TestSupport.run("/usr/bin/env", ["openssl"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
        try ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2",
                 "-subj", "/CN=oisp test CA"])
        for (name, ext) in [("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"), ("client", "extendedKeyUsage=clientAuth")] {
            try TestSupport.write(ext + "\n", to: dir.appendingPathComponent("\(name).ext"))
            try ssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name)"])
            try ssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                     "-out", path("\(name).pem"), "-days", "2", "-extfile", path("\(name).ext")])
        }
        try startReceiver(tls: [path("server.pem"), path("server.key"), path("ca.pem")])
        let (input, events) = try fixtures()
        let n = events.filter { $0.eventType == "ai.response" }.count
        let mtls = "ca_file = \"\(path("ca.pem"))\"\ncert_file = \"\(path("client.pem"))\"\nkey_file = \"\(path("client.key"))\""
        var r = try replay(input, endpoint: "https://127.0.0.1:\(grpcPort)", proto: "grpc", extra: mtls)
        XCTAssertEqual(r.status, 0, r.stderr)
        var got = received(wait: n)
        XCTAssertEqual(got.first?["transport"]?.stringValue, "grpc")
        checkAISpans(got, events)
        try FileManager.default.removeItem(at: out)
        let collectorStyle = "tls = { ca_file = \"\(path("ca.pem"))\", cert_file = \"\(path("client.pem"))\", key_file = \"\(path("client.key"))\" }"
        r = try replay(input, endpoint: "https://127.0.0.1:\(httpPort)", proto: "http/protobuf", extra: collectorStyle)
        XCTAssertEqual(r.status, 0, r.stderr)
        got = received(wait: n)
        XCTAssertEqual(got.first?["transport"]?.stringValue, "http")
        checkAISpans(got, events)
        try FileManager.default.removeItem(at: out)
        let giveUp = "timeout_ms = 2000\nretry_on_failure = { initial_interval_ms = 50, max_elapsed_ms = 500 }"
        for (endpoint, proto) in [("https://127.0.0.1:\(grpcPort)", "grpc"), ("https://127.0.0.1:\(httpPort)", "http/protobuf")] {
            // no client certificate: the receiver refuses the handshake
            r = try replay(input, endpoint: endpoint, proto: proto, extra: "ca_file = \"\(path("ca.pem"))\"\n" + giveUp)
            XCTAssertEqual(r.status, 75, "\(proto) without a client certificate: \(r.stderr)")
            // no CA: the receiver's certificate is not trusted (verification is on by default)
            r = try replay(input, endpoint: endpoint, proto: proto,
                           extra: "cert_file = \"\(path("client.pem"))\"\nkey_file = \"\(path("client.key"))\"\n" + giveUp)
            XCTAssertEqual(r.status, 75, "\(proto) without the CA: \(r.stderr)")
            XCTAssertTrue(r.stderr.lowercased().contains("certificate"), "the TLS failure is named: \(r.stderr)")
        }
        XCTAssertTrue(TestSupport.lines(out).isEmpty, "nothing arrived without mutual TLS")
    }

    /// The cross-check: the recording receiver takes what the official Python SDK's OTLP
    /// exporters send (opentelemetry-exporter-otlp, gRPC and HTTP/protobuf) and records it in the
    /// form it records ours — every attribute type, the span kind, the times, the resource — so
    /// what the other tests read is what the protocol carries, and our spans match the SDK's form.
    func testReceiverTakesTheOfficialPythonExporterAndOursMatchItsForm() throws {
        try startReceiver()
        let peer = try TestSupport.run(Self.python, ["-c", """
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPC
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTP
        for name, exp in (("grpc", GRPC(endpoint="127.0.0.1:\(grpcPort)", insecure=True)),
                          ("http", HTTP(endpoint="http://127.0.0.1:\(httpPort)/v1/traces"))):
            tp = TracerProvider(resource=Resource.create({"service.name": "python-" + name, "host.name": "worker-3"}))
            tp.add_span_processor(SimpleSpanProcessor(exp))
            with tp.get_tracer("peer").start_as_current_span("chat gpt-4o", kind=trace.SpanKind.CLIENT) as s:
                s.set_attribute("gen_ai.operation.name", "chat")
                s.set_attribute("gen_ai.usage.input_tokens", 120)
                s.set_attribute("gen_ai.request.temperature", 0.5)
                s.set_attribute("gen_ai.request.stream", True)
                s.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            tp.shutdown()
        """])
        XCTAssertEqual(peer.status, 0, peer.stderr)
        let theirs = received(wait: 2)
        XCTAssertEqual(Set(theirs.compactMap { $0["transport"]?.stringValue }), ["grpc", "http"])
        let ts = spans(theirs)
        XCTAssertEqual(ts.count, 2, "one span over each transport")
        for s in ts {
            XCTAssertEqual(s["name"]?.stringValue, "chat gpt-4o")
            XCTAssertEqual(s["kind"]?.stringValue, "SPAN_KIND_CLIENT")
            XCTAssertEqual(s["trace_id"]?.stringValue?.count, 24, "16 bytes, base64 in the receiver's record")
            XCTAssertEqual(attr(s, "gen_ai.usage.input_tokens")?.stringValue, "120", "an int64 attribute")
            XCTAssertEqual(attr(s, "gen_ai.request.temperature")?.doubleValue, 0.5)
            XCTAssertEqual(attr(s, "gen_ai.request.stream")?.boolValue, true)
            XCTAssertEqual(attr(s, "gen_ai.response.finish_reasons")?["values"]?.arrayValue?.first?["string_value"]?.stringValue, "stop")
            XCTAssertNotNil(s["start_time_unix_nano"]?.stringValue.flatMap { UInt64($0) })
        }
        // ours, to the same receiver: the attributes both send are encoded the same way
        try FileManager.default.removeItem(at: out)
        let (input, events) = try fixtures()
        XCTAssertEqual(try replay(input, endpoint: "http://127.0.0.1:\(grpcPort)", proto: "grpc").status, 0)
        let ours = spans(received(wait: events.filter { $0.eventType == "ai.response" }.count))
            .filter { $0["kind"]?.stringValue == "SPAN_KIND_CLIENT" }
        XCTAssertFalse(ours.isEmpty)
        func form(_ s: JSONValue, _ key: String) -> [String] {
            let v = s["attributes"]?.arrayValue?.first { $0["key"]?.stringValue == key }?["value"]?.objectValue
            return (v.map { Array($0.keys) } ?? []).sorted()
        }
        for key in ["gen_ai.operation.name", "gen_ai.usage.input_tokens", "gen_ai.response.finish_reasons"] {
            XCTAssertEqual(form(ours[0], key), form(ts[0], key), key)
            XCTAssertFalse(form(ours[0], key).isEmpty, key)
        }
        XCTAssertEqual(ours[0]["trace_id"]?.stringValue?.count, 24)
        XCTAssertEqual(ours[0]["span_id"]?.stringValue?.count, ts[0]["span_id"]?.stringValue?.count)
    }

    func testUnreachableCollectorIsRetriedNotCrashing() throws {
        let (input, _) = try fixtures(1)
        let port = try TestSupport.freePort()
        let r = try replay(input, endpoint: "http://127.0.0.1:\(port)", proto: "grpc",
                           extra: "timeout_ms = 500\nretry_on_failure = { initial_interval_ms = 50, max_elapsed_ms = 1000 }")
        XCTAssertEqual(r.status, 75, "lost events are reported by the exit code")
        XCTAssertTrue(r.stderr.contains("retries exhausted"), r.stderr)
    }
}
