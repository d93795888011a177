import Foundation
import OISPEvent
import OISPExporterKit
import XCTest

/// The Fluent Bit-style outputs (HTTP, Elasticsearch, Loki) against their peers: nginx as an
/// HTTPS ingest endpoint (real product), osmem-server (OpenSearch API, real protocol server),
/// and a Loki push-API receiver (protocol stand-in validating what Loki validates).
final class FluentOutputsTests: XCTestCase {
    var dir: URL!
    var procs: [Process] = []
    static var venv: URL { TestSupport.packageRoot.appendingPathComponent(".build/venv") }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.venv.appendingPathComponent("bin/python").path) else {
            XCTFail("test peers missing: run `make test-peers`"); throw XCTSkip("no venv")
        }
        dir = try TestSupport.tempDir("fluent")
    }

    override func tearDown() {
        for p in procs where p.isRunning { p.terminate(); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    @discardableResult
    func start(_ exe: String, _ args: [String], portFile: URL? = nil) throws -> (Process, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        procs.append(p)
        guard let portFile else { return (p, "") }
        for _ in 0..<200 {
            if let s = try? String(contentsOf: portFile, encoding: .utf8), !s.isEmpty { return (p, s.trimmingCharacters(in: .whitespacesAndNewlines)) }
            usleep(50_000)
        }
        throw NSError(domain: "peer", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(exe) did not start"])
    }

    func fixtures(_ n: Int = 4) throws -> (URL, [OISPEvent]) {
        let f = dir.appendingPathComponent("fixtures.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "--count", "\(n)", "--output", f.path]).status, 0)
        return (f, TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)) })
    }

    func replay(_ input: URL, _ toml: String, env: [String: String] = [:]) throws -> TestSupport.Result {
        let cfg = dir.appendingPathComponent("c-\(UUID().uuidString.prefix(6)).toml")
        try TestSupport.write(toml, to: cfg)
        return try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path], env: env)
    }


    // MARK: HTTP via nginx

    func startNginx(port: Int, maxBody: String = "64m") throws -> URL {
        let d = dir.path
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        if !FileManager.default.fileExists(atPath: cert) {
            let g = try TestSupport.run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                                         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            XCTAssertEqual(g.status, 0, g.stderr)
        }
        let inner = try TestSupport.freePort()
        let conf = """
        daemon off; master_process off; worker_processes 1; pid \(d)/nginx.pid; error_log \(d)/nginx.err;
        events {}
        http {
          client_body_temp_path \(d); proxy_temp_path \(d); fastcgi_temp_path \(d); uwsgi_temp_path \(d); scgi_temp_path \(d);
          client_body_buffer_size 16m; client_max_body_size \(maxBody);
          log_format ingest escape=json '{"status":"$status","uri":"$request_uri","method":"$request_method","authorization":"$http_authorization","content_type":"$content_type","encoding":"$http_content_encoding","body":"$request_body"}';
          server {
            listen 127.0.0.1:\(port) ssl;
            ssl_certificate \(cert); ssl_certificate_key \(key);
            location / { access_log \(d)/ingest.log ingest; proxy_pass http://127.0.0.1:\(inner)/ok; }
          }
          server { listen 127.0.0.1:\(inner); access_log off; location /ok { return 200 'ok'; } }
        }
        """
        let cf = dir.appendingPathComponent("nginx.conf")
        try TestSupport.write(conf, to: cf)
        try start("/usr/sbin/nginx", ["-c", cf.path, "-p", d])
        usleep(400_000)
        return dir.appendingPathComponent("ingest.log")
    }

    /// The HTTP output to the nginx started by `startNginx`, over TLS with its certificate.
    func httpTarget(port: Int, uri: String) -> String {
        """
        [export.http]
        enabled = true
        host = "127.0.0.1"
        port = \(port)
        uri = "\(uri)"
        tls = true
        ca_file = "\(dir.appendingPathComponent("cert.pem").path)"
        """
    }

    func httpConfig(port: Int) -> String {
        httpTarget(port: port, uri: "/v1/logs") + """

        format = "json"
        header = { Authorization = "Bearer ${LOG_TOKEN}" }
        json_date_key = "date"
        json_date_format = "iso8601"
        retry_on_failure = { initial_interval_ms = 200, max_interval_ms = 1000 }
        """
    }

    func ingested(_ log: URL) -> [JSONValue] { TestSupport.lines(log).compactMap { try? JSONParser.parse($0) } }

    func testHTTPOutputLandsEveryEventWithTLSAndBearer() throws {
        let port = try TestSupport.freePort()
        let log = try startNginx(port: port)
        let (input, events) = try fixtures()
        let r = try replay(input, httpConfig(port: port), env: ["LOG_TOKEN": "tok-123"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let reqs = ingested(log)
        XCTAssertFalse(reqs.isEmpty)
        var ids: [String] = []
        for q in reqs {
            XCTAssertEqual(q["uri"], "/v1/logs")
            XCTAssertEqual(q["method"], "POST")
            XCTAssertEqual(q["authorization"], "Bearer tok-123")
            XCTAssertEqual(q["content_type"], "application/json")
            let arr = try XCTUnwrap(try JSONParser.parse(q["body"]!.stringValue!).arrayValue, "format json = one array per batch")
            for e in arr {
                XCTAssertNotNil(e["date"]?.stringValue, "json_date_key added")
                var o = e.objectValue!
                o["date"] = nil
                ids.append(try OISPEvent(json: o).eventID)
            }
        }
        XCTAssertEqual(ids, events.map(\.eventID), "every event, once, in order")
        // a header value from ${ENV} may not smuggle in another header
        let bad = try replay(input, httpConfig(port: port), env: ["LOG_TOKEN": "tok\r\nX-Injected: 1"])
        XCTAssertTrue(bad.stderr.contains("key 'header.Authorization'") && bad.stderr.contains("line break"), bad.stderr)
        XCTAssertEqual(ingested(log).count, reqs.count, "nothing was sent with the bad header")
    }

    func testHTTPPeerDownThenUpLosesNothing() throws {
        let port = try TestSupport.freePort()
        let (input, events) = try fixtures(2)
        let cfgText = httpConfig(port: port)
        // nginx needs the certificate before the sensor starts, but must not listen yet
        _ = try TestSupport.run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.appendingPathComponent("key.pem").path,
                                                 "-out", dir.appendingPathComponent("cert.pem").path, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        let cfg = dir.appendingPathComponent("down.toml")
        try TestSupport.write(cfgText, to: cfg)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        p.arguments = ["replay", "--input", input.path, "-c", cfg.path]
        p.environment = ["LOG_TOKEN": "t"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        sleep(3)
        XCTAssertTrue(p.isRunning, "still retrying while the peer is down")
        let log = try startNginx(port: port)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let ids = try ingested(log).flatMap { try JSONParser.parse($0["body"]!.stringValue!).arrayValue! }.map { e -> String in
            var o = e.objectValue!; o["date"] = nil; return try OISPEvent(json: o).eventID
        }
        XCTAssertEqual(ids, events.map(\.eventID))
    }

    /// nginx's body limit (413): the batch is sent again in halves, and only the records too
    /// large on their own are refused (named, counted as rejected); every other event lands once.
    func testBodyLimitCostsOnlyTheOversizedRecords() throws {
        let port = try TestSupport.freePort()
        let log = try startNginx(port: port, maxBody: "16k")
        let (input, events) = try fixtures(3)
        let big = [7, 20]
        try TestSupport.addDataMember(input, at: big, TestSupport.blobMember(bytes: 24_000))
        let r = try replay(input, httpConfig(port: port).replacingOccurrences(of: "format = \"json\"", with: "format = \"json_lines\"") + "\nbatch_size = 512", env: ["LOG_TOKEN": "t"])
        XCTAssertEqual(r.status, 75, "events were lost, and the exit status says so: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("HTTP 413") && r.stderr.contains(events[big[0]].eventID), r.stderr)
        XCTAssertTrue(r.stderr.contains("dropped_rejected=2"), r.stderr)
        let reqs = ingested(log)
        XCTAssertTrue(reqs.contains { $0["status"] == "413" }, "the limit was hit")
        var ids: [String] = []
        for q in reqs where q["status"] == "200" {
            for l in q["body"]!.stringValue!.split(separator: "\n") {
                var o = try JSONParser.parse(String(l)).objectValue!
                o["date"] = nil
                ids.append(try OISPEvent(json: o).eventID)
            }
        }
        let expected = events.enumerated().filter { !big.contains($0.offset) }.map(\.element.eventID)
        XCTAssertEqual(ids, expected, "every other event, once, in order")
    }

    /// Fluent Bit's `format json_stream` (records back to back), `compress gzip` and basic auth
    /// (`http_user`/`http_passwd`, the password from ${ENV}): nginx logs the raw gzip body, which
    /// is decompressed and read back as a stream of JSON values, every event once, in order.
    func testJSONStreamGzipAndBasicAuth() throws {
        let port = try TestSupport.freePort()
        let log = try startNginx(port: port)
        let (input, events) = try fixtures(5)
        let r = try replay(input, httpTarget(port: port, uri: "/ingest") + """

        format = "json_stream"
        compress = "gzip"
        json_date_key = "false"
        http_user = "oisp"
        http_passwd = "${HTTP_PASS}"
        """, env: ["HTTP_PASS": "pa55-w0rd"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("pa55-w0rd"), "the password never reaches the log")
        let decoded = try TestSupport.run(TestSupport.packageRoot.appendingPathComponent(".build/venv/bin/python").path, ["-c", """
        import gzip, json, sys
        out = []
        for raw in open(sys.argv[1], encoding="latin-1"):
            req = json.loads(raw)  # nginx escape=json: control bytes as \\u00XX, the rest raw
            body = gzip.decompress(req["body"].encode("latin-1")).decode()
            dec, i = json.JSONDecoder(), 0
            while i < len(body):
                v, i = dec.raw_decode(body, i)
                out.append(v["event_id"])
            out.append({"auth": req["authorization"], "encoding": req["encoding"], "type": req["content_type"]})
        print(json.dumps(out))
        """, log.path])
        XCTAssertEqual(decoded.status, 0, decoded.stderr)
        let items = try XCTUnwrap(try JSONParser.parse(decoded.stdout).arrayValue)
        XCTAssertEqual(items.compactMap(\.stringValue), events.map(\.eventID), "every event once, in order, from back-to-back JSON")
        let requests = items.compactMap(\.objectValue)
        XCTAssertFalse(requests.isEmpty)
        for q in requests {
            XCTAssertEqual(q["auth"]?.stringValue, "Basic " + Data("oisp:pa55-w0rd".utf8).base64EncodedString())
            XCTAssertEqual(q["encoding"]?.stringValue, "gzip")
            XCTAssertEqual(q["type"]?.stringValue, "application/x-ndjson")
        }
    }

    /// Counters a plugin reports through the host API reach /metrics as the header promises:
    /// `oisp_plugin_<name>_total{exporter="<instance>"}` (the HTTP output counts what it delivered).
    func testPluginCountersReachMetrics() throws {
        let port = try TestSupport.freePort(), mport = try TestSupport.freePort()
        _ = try startNginx(port: port)
        let cfg = dir.appendingPathComponent("m.toml")
        try TestSupport.write(httpConfig(port: port) + "\nbatch_size = 5\nflush_interval_ms = 50\n", to: cfg)
        let p = try TestSupport.startSensor(["demo", "-n", "400", "--interval-ms", "20", "-c", cfg.path, "--metrics-addr", "127.0.0.1:\(mport)"],
                                            stderrFile: dir.appendingPathComponent("err"), env: ["LOG_TOKEN": "t"])
        defer { if p.isRunning { p.interrupt(); p.waitUntilExit() } }
        var value = 0.0, scrape = ""
        for _ in 0..<100 where value == 0 {
            usleep(100_000)
            scrape = (try? TestSupport.run("/usr/bin/env", ["curl", "-s", "http://127.0.0.1:\(mport)/metrics"]).stdout) ?? ""
            let line = scrape.split(separator: "\n").first { $0.hasPrefix("oisp_plugin_http_events_total{exporter=\"http\"}") }
            value = line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        XCTAssertGreaterThan(value, 0, "oisp_plugin_http_events_total in:\n\(scrape.prefix(3000))")
        XCTAssertTrue(scrape.contains("# TYPE oisp_plugin_http_events_total counter"), scrape)
        let exported = scrape.split(separator: "\n").first { $0.hasPrefix("oisp_exporter_events_exported_total{exporter=\"http\"}") }
        XCTAssertNotNil(exported, "the host's own count is there beside it")
    }

    /// Fluent Bit's `json_date_key` in every `json_date_format`, byte for byte against each event's
    /// own `ts`: seconds with six decimals (rounded), whole seconds, milliseconds, ISO 8601 and
    /// java.sql.Timestamp text (microseconds, truncated).
    func testDateKeyFollowsEveryDateFormat() throws {
        let port = try TestSupport.freePort()
        let log = try startNginx(port: port)
        let (input, events) = try fixtures(6)
        func iso(_ e: OISPEvent, _ sep: String, _ zone: String) -> String {
            let t = e.ts.rfc3339 // YYYY-MM-DDTHH:MM:SS[.fraction]Z
            var frac = t.contains(".") ? String(t.split(separator: ".")[1].dropLast()) : ""
            frac = String((frac + "000000000").prefix(6))
            return "\"" + t.prefix(10) + sep + t.dropFirst(11).prefix(8) + "." + frac + zone + "\""
        }
        let expected: [(String, (OISPEvent) -> String)] = [
            ("double", { e in let us = (e.ts.nanoseconds + 500) / 1000; return "\(us / 1_000_000)." + String(String(us % 1_000_000 + 1_000_000).dropFirst()) }),
            ("epoch", { "\($0.ts.nanoseconds / 1_000_000_000)" }),
            ("epoch_ms", { "\($0.ts.nanoseconds / 1_000_000)" }),
            ("iso8601", { iso($0, "T", "Z") }),
            ("java_sql_timestamp", { iso($0, " ", "") }),
        ]
        var seen = 0
        for (format, value) in expected {
            let toml = httpConfig(port: port).replacingOccurrences(of: "json_date_format = \"iso8601\"", with: "json_date_format = \"\(format)\"")
                .replacingOccurrences(of: "format = \"json\"", with: "format = \"json_lines\"")
                .replacingOccurrences(of: "json_date_key = \"date\"", with: "json_date_key = \"@timestamp\"")
            XCTAssertEqual(try replay(input, toml, env: ["LOG_TOKEN": "t"]).status, 0)
            let reqs = ingested(log)
            let lines = reqs[seen...].flatMap { $0["body"]!.stringValue!.split(separator: "\n").map(String.init) }
            seen = reqs.count
            XCTAssertEqual(lines.count, events.count, format)
            for (line, e) in zip(lines, events) {
                let head = "{\"@timestamp\":" + value(e) + ","
                XCTAssertTrue(line.hasPrefix(head), "\(format): \(line.prefix(60)) should start \(head)")
                var o = try XCTUnwrap(JSONParser.parse(line).objectValue)
                o["@timestamp"] = nil
                XCTAssertEqual(try OISPEvent(json: o).eventID, e.eventID)
            }
        }
    }

    /// Retry-After as every HTTP output reads it (RFC 9110 §10.2.3): seconds, or an HTTP-date in
    /// each of the three forms a recipient must accept, counted from now.
    func testRetryAfterTakesSecondsAndAllThreeDateForms() {
        let now = Date(timeIntervalSince1970: 784_111_777) // Sun, 06 Nov 1994 08:49:37 GMT
        XCTAssertEqual(parseRetryAfter("120", now: now), 120_000)
        XCTAssertEqual(parseRetryAfter(" 0 ", now: now), 0)
        XCTAssertEqual(parseRetryAfter("Sun, 06 Nov 1994 08:49:40 GMT", now: now), 3000)   // IMF-fixdate
        XCTAssertEqual(parseRetryAfter("Sunday, 06-Nov-94 08:50:37 GMT", now: now), 60_000) // RFC 850
        XCTAssertEqual(parseRetryAfter("Sun Nov  6 08:49:47 1994", now: now), 10_000)       // asctime
        XCTAssertEqual(parseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now: now), 0, "a date in the past: retry now")
        for junk in ["", "soon", "-5", "1.5", "Sun, 06 Nov 1994 08:49:40 PST"] {
            XCTAssertNil(parseRetryAfter(junk, now: now), junk)
        }
    }

    // MARK: Elasticsearch via osmem-server

    func startOsmem() throws -> Int {
        let port = try TestSupport.freePort()
        try start(Self.venv.appendingPathComponent("lib/python3.11/site-packages/osmem_server/bin/osmem-server").path,
                  ["-addr", "127.0.0.1:\(port)", "-no-stdin-watch"])
        for _ in 0..<100 {
            if (try? TestSupport.run("/usr/bin/env", ["curl", "-sf", "http://127.0.0.1:\(port)/"]))?.status == 0 { break }
            usleep(100_000)
        }
        return port
    }

    func esConfig(_ port: Int, _ extra: String = "") -> String {
        """
        [export.elasticsearch]
        enabled = true
        host = "127.0.0.1"
        port = \(port)
        index = "oisp-events"
        \(extra)
        """
    }

    func esCount(_ port: Int, _ index: String) throws -> Int {
        let r = try TestSupport.run("/usr/bin/env", ["curl", "-s", "http://127.0.0.1:\(port)/\(index)/_count"])
        return Int(try JSONParser.parse(r.stdout)["count"]?.intValue ?? -1)
    }

    func testElasticsearchLogstashFormatIndexesEveryEvent() throws {
        let port = try startOsmem()
        let (input, events) = try fixtures()
        let r = try replay(input, esConfig(port, "logstash_format = \"On\"\nlogstash_prefix = \"oisp\""))
        XCTAssertEqual(r.status, 0, r.stderr)
        let day = events.first!.ts.rfc3339.prefix(10).replacingOccurrences(of: "-", with: ".")
        XCTAssertEqual(try esCount(port, "oisp-\(day)"), events.count)
        let s = try TestSupport.run("/usr/bin/env", ["curl", "-s", "http://127.0.0.1:\(port)/oisp-\(day)/_search?size=1000"])
        let hits = try JSONParser.parse(s.stdout)["hits"]?["hits"]?.arrayValue ?? []
        XCTAssertEqual(Set(hits.compactMap { $0["_id"]?.stringValue }), Set(events.map(\.eventID)), "_id = event_id")
        XCTAssertEqual(hits.count, events.count)
        for h in hits {
            let e = try XCTUnwrap(events.first { $0.eventID == h["_id"]?.stringValue })
            // the time key first, ISO 8601 with microseconds (truncated), then the event itself
            let t = e.ts.rfc3339
            let frac = t.contains(".") ? String(t.split(separator: ".")[1].dropLast()) : ""
            XCTAssertEqual(h["_source"]?["@timestamp"]?.stringValue, t.prefix(19) + "." + (frac + "000000").prefix(6) + "Z")
            XCTAssertEqual(h["_source"]?["event_id"]?.stringValue, e.eventID)
            XCTAssertEqual(h["_source"]?["event_type"]?.stringValue, e.eventType)
        }
    }

    func testElasticsearchRetriesOnlyTheFailedItem() throws {
        let upstream = try startOsmem()
        let (input, events) = try fixtures(2)
        let failID = events[3].eventID
        let log = dir.appendingPathComponent("bulk.log"), pf = dir.appendingPathComponent("esport")
        let (_, port) = try start(Self.venv.appendingPathComponent("bin/python").path,
                                  [TestSupport.fixtures.appendingPathComponent("es_proxy.py").path, "\(upstream)", log.path, pf.path, failID], portFile: pf)
        let r = try replay(input, esConfig(Int(port)!, "batch_size = 1000\nretry_on_failure = { initial_interval_ms = 100 }"))
        XCTAssertEqual(r.status, 0, r.stderr)
        let calls = TestSupport.lines(log).map { try! JSONParser.parse($0).arrayValue!.map { $0.stringValue! } }
        XCTAssertEqual(calls.count, 2)
        XCTAssertEqual(calls.first?.count, events.count)
        XCTAssertEqual(calls.last, [failID], "only the failed item is sent again")
        XCTAssertEqual(try esCount(upstream, "oisp-events"), events.count)
    }

    /// A document the index mapping refuses (400 mapper_parsing_exception) is dropped on its own
    /// and counted as rejected; every other document of the bulk is indexed, once.
    func testElasticsearchMappingRefusalCostsOnlyThatDocument() throws {
        let port = try startOsmem()
        let (input, events) = try fixtures(3)
        // the first event makes data.shape an object; a later one sends it as a string
        try TestSupport.addDataMember(input, at: [0], "\"shape\":{\"sides\":4}")
        try TestSupport.addDataMember(input, at: [5], "\"shape\":\"square\"")
        let r = try replay(input, esConfig(port))
        XCTAssertEqual(r.status, 75, "an event was lost, and the exit status says so: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("mapper_parsing_exception") && r.stderr.contains(events[5].eventID), r.stderr)
        XCTAssertTrue(r.stderr.contains("dropped_rejected=1"), r.stderr)
        XCTAssertTrue(r.stderr.contains("exported=\(events.count - 1)"), r.stderr)
        XCTAssertEqual(try esCount(port, "oisp-events"), events.count - 1)
    }

    // MARK: Loki

    func startLoki(extra: [String] = []) throws -> (Int, URL) {
        let out = dir.appendingPathComponent("loki.jsonl"), pf = dir.appendingPathComponent("lokiport")
        let (_, port) = try start(Self.venv.appendingPathComponent("bin/python").path,
                                  [TestSupport.fixtures.appendingPathComponent("loki_receiver.py").path, out.path, pf.path] + extra, portFile: pf)
        return (Int(port)!, out)
    }

    func testLokiLabelsAndOrderedStreams() throws {
        let (port, out) = try startLoki(extra: ["--rate-limit-first", "1"])
        let (input, events) = try fixtures()
        let r = try replay(input, """
        [export.loki]
        enabled = true
        host = "127.0.0.1"
        port = \(port)
        labels = "job=oisp-sensor, cluster=production, event_type, $process['name']"
        tenant_id = "team-a"
        retry_on_failure = { initial_interval_ms = 100 }
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("will retry"), "429 is retried")
        let got = TestSupport.lines(out).compactMap { try? JSONParser.parse($0) }
        XCTAssertEqual(got.count, events.count)
        XCTAssertEqual(Set(got.compactMap { try? OISPEvent(jsonBytes: Array($0["line"]!.stringValue!.utf8)).eventID }), Set(events.map(\.eventID)))
        for g in got {
            let e = try OISPEvent(jsonBytes: Array(g["line"]!.stringValue!.utf8))
            XCTAssertEqual(g["labels"]?["job"], "oisp-sensor")
            XCTAssertEqual(g["labels"]?["cluster"], "production")
            XCTAssertEqual(g["labels"]?["event_type"]?.stringValue, e.eventType)
            XCTAssertEqual(g["labels"]?["name"]?.stringValue, e.process?.name)
            XCTAssertEqual(g["ts"]?.stringValue, String(e.ts.nanoseconds), "nanosecond string timestamps")
            XCTAssertEqual(g["tenant"], "team-a")
        }
    }

    /// Labels from the pod an event came from: `$k8s['namespace']` reaches `ext["oisp.k8s"]`;
    /// events from outside pods have no such label (and a stream of their own).
    func testLokiLabelsFromThePodsMetadata() throws {
        let (port, out) = try startLoki()
        let (input, events) = try fixtures()
        var ls = TestSupport.lines(input)
        for k in [0, 1] {
            ls[k] = ls[k].replacingOccurrences(of: "\"data\":{", with: #""ext":{"oisp.k8s":{"namespace":"ml","pod_name":"chat-0","workload_name":"chat"}},"data":{"#)
        }
        try TestSupport.write(ls.joined(separator: "\n") + "\n", to: input)
        let r = try replay(input, """
        [export.loki]
        enabled = true
        host = "127.0.0.1"
        port = \(port)
        labels = "job=oisp-sensor, namespace=$k8s['namespace'], $ext['oisp.k8s']['workload_name']"
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = TestSupport.lines(out).compactMap { try? JSONParser.parse($0) }
        XCTAssertEqual(got.count, events.count)
        for g in got {
            let e = try OISPEvent(jsonBytes: Array(g["line"]!.stringValue!.utf8))
            let inPod = e.eventID == events[0].eventID || e.eventID == events[1].eventID
            XCTAssertEqual(g["labels"]?["namespace"]?.stringValue, inPod ? "ml" : nil, "\(g)")
            XCTAssertEqual(g["labels"]?["workload_name"]?.stringValue, inPod ? "chat" : nil, "\(g)")
        }
    }

    /// `line_format = "key_value"`: each line is the event's top-level keys sorted, `key=value`
    /// (strings bare, the rest as JSON with sorted keys, so equal events give equal lines).
    func testLokiKeyValueLines() throws {
        let (port, out) = try startLoki()
        let (input, events) = try fixtures()
        let r = try replay(input, """
        [export.loki]
        enabled = true
        host = "127.0.0.1"
        port = \(port)
        labels = "job=oisp-sensor, event_type"
        line_format = "key_value"
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = TestSupport.lines(out).compactMap { try? JSONParser.parse($0) }
        XCTAssertEqual(got.count, events.count)
        for e in events {
            let line = "event_id=\(e.eventID)"
            guard let g = got.first(where: { $0["line"]?.stringValue?.contains(line) == true }) else { XCTFail("no line for \(e.eventID)"); continue }
            let text = g["line"]!.stringValue!
            let keys = text.split(separator: " ").compactMap { $0.split(separator: "=", maxSplits: 1).first.map(String.init) }
                .filter { ["actor", "data", "event_id", "event_type", "host", "oisp_version", "process", "ts"].contains($0) }
            XCTAssertEqual(keys, keys.sorted(), "keys sorted: \(text.prefix(80))")
            XCTAssertTrue(text.contains("actor={\"uid\":1000,\"user\":\"demo\"}"), "nested JSON with sorted keys: \(text.prefix(80))")
            XCTAssertTrue(text.contains(" event_type=\(e.eventType) "), text)
            XCTAssertTrue(text.contains(" oisp_version=0.1"), text)
            XCTAssertFalse(text.hasPrefix("{"), "not the JSON line")
            XCTAssertEqual(g["labels"]?["event_type"]?.stringValue, e.eventType)
            XCTAssertEqual(g["ts"]?.stringValue, String(e.ts.nanoseconds))
        }
    }

    func testLokiBadLabelIsAConfigError() throws {
        let (port, _) = try startLoki()
        let (input, _) = try fixtures(1)
        let r = try replay(input, "[export.loki]\nenabled = true\nport = \(port)\nlabels = \"9bad=x\"\n")
        XCTAssertTrue(r.stderr.contains("invalid label name '9bad'"), r.stderr)
    }
}
