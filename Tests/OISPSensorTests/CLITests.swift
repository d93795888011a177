import Foundation
import OISPEvent
import XCTest

final class CLITests: XCTestCase {
    func testDemoProducesValidJSONLThatReplays() throws {
        let dir = try TestSupport.tempDir("demo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("f.jsonl")
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "--output", f.path, "--count", "8"], env: ["NODE_NAME": "node-a"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = TestSupport.lines(f)
        XCTAssertGreaterThan(lines.count, 40)
        let events = try lines.map { try OISPEvent(jsonBytes: Array($0.utf8)) }
        for (line, e) in zip(lines, events) {
            XCTAssertEqual(e.jsonString(), line, "round-trips byte for byte through the event model")
            XCTAssertTrue(ULID.isValid(e.eventID))
            XCTAssertEqual(e.host?.hostname, "node-a")
        }
        let types = Set(events.map(\.eventType))
        for t in ["process.exec", "network.connect", "ai.request", "ai.streaming_chunk", "ai.response", "process.exit"] {
            XCTAssertTrue(types.contains(t), "demo emits \(t)")
        }
        XCTAssertEqual(Set(events.map(\.eventID)).count, events.count, "event ids are unique")

        // replay → same events again (with a bad line in the middle that is reported and skipped)
        var input = lines
        input.insert("{not json", at: 3)
        let inFile = dir.appendingPathComponent("in.jsonl")
        try TestSupport.write(input.joined(separator: "\n") + "\n", to: inFile)
        let out = dir.appendingPathComponent("out.jsonl")
        let r2 = try TestSupport.run(TestSupport.oisp, ["replay", "--input", inFile.path, "--output", out.path])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssertTrue(r2.stderr.contains("line=4"), r2.stderr)
        XCTAssertEqual(TestSupport.lines(out), lines)

        // a file saved with a UTF-8 byte order mark and CRLF line ends: every line replays
        let bom = dir.appendingPathComponent("bom.jsonl"), out2 = dir.appendingPathComponent("out2.jsonl")
        try Data([0xEF, 0xBB, 0xBF] + Array((lines.joined(separator: "\r\n") + "\r\n").utf8)).write(to: bom)
        let r3 = try TestSupport.run(TestSupport.oisp, ["replay", "--input", bom.path, "--output", out2.path])
        XCTAssertEqual(r3.status, 0, r3.stderr)
        XCTAssertFalse(r3.stderr.contains("skipping invalid line"), r3.stderr)
        XCTAssertEqual(TestSupport.lines(out2), lines)
    }

    /// The demo reads like a capture: every event later than the one before it (a scenario's
    /// `process.exec` after the previous scenario's `process.exit`), and each provider's call
    /// authenticated the way that provider's API is: OpenAI a `sk-proj-` bearer key, Anthropic an
    /// `x-api-key` `sk-ant-` key, Gemini an `x-goog-api-key` `AIza` key, Ollama (plain HTTP on
    /// 11434) none.
    func testDemoIsInTimeOrderWithEachProvidersAuth() throws {
        let dir = try TestSupport.tempDir("demo-order")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("f.jsonl")
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "--output", f.path, "--count", "8"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let events = try TestSupport.lines(f).map { try OISPEvent(jsonBytes: Array($0.utf8)) }
        XCTAssertGreaterThan(events.count, 40)
        for (a, b) in zip(events, events.dropFirst()) {
            XCTAssertLessThan(a.ts.nanoseconds, b.ts.nanoseconds,
                              "\(b.eventType) of pid \(b.process?.pid ?? 0) is printed after \(a.eventType) of pid \(a.process?.pid ?? 0) but is not later")
        }
        // every scenario is one process from exec to exit, and the next one starts after it
        var open: Int64?
        for e in events {
            if e.eventType == "process.exec" { XCTAssertNil(open, "a scenario starts before the previous one exited"); open = e.process?.pid }
            else { XCTAssertEqual(e.process?.pid, open, "\(e.eventType) outside its scenario") }
            if e.eventType == "process.exit" { open = nil }
        }
        struct Expected { var type: String; var prefix: String?; var scheme: String; var port: Int64 }
        let expected: [String: Expected] = [
            "openai": .init(type: "api_key", prefix: "sk-proj-", scheme: "https", port: 443),
            "anthropic": .init(type: "api_key", prefix: "sk-ant-", scheme: "https", port: 443),
            "google": .init(type: "api_key", prefix: "AIza", scheme: "https", port: 443),
            "ollama": .init(type: "none", prefix: nil, scheme: "http", port: 11434),
        ]
        let requests = events.filter { $0.eventType == "ai.request" }
        XCTAssertEqual(requests.count, 8)
        XCTAssertEqual(Set(requests.compactMap { $0.data["provider"]?["name"]?.stringValue }), Set(expected.keys))
        for q in requests {
            let provider = q.data["provider"]?["name"]?.stringValue ?? "?"
            guard let x = expected[provider] else { XCTFail("unexpected provider \(provider)"); continue }
            let auth = q.data["auth"]
            XCTAssertEqual(auth?["type"]?.stringValue, x.type, "\(provider) auth type")
            if let p = x.prefix {
                let got = auth?["key_prefix"]?.stringValue ?? ""
                XCTAssertTrue(got.hasPrefix(p), "\(provider) keys start \(p), the demo says \(got)")
                XCTAssertEqual(auth?["key_hash"]?.stringValue?.isEmpty, false, "\(provider): a keyed hash, as the decoder writes")
            } else {
                XCTAssertNil(auth?["key_prefix"], "\(provider) takes no key")
            }
            XCTAssertTrue(q.data["provider"]?["endpoint"]?.stringValue?.hasPrefix(x.scheme + "://") ?? false, "\(provider) over \(x.scheme)")
            let connect = events.first { $0.eventType == "network.connect" && $0.process?.pid == q.process?.pid }
            XCTAssertEqual(connect?.data["dest"]?["port"]?.intValue, x.port, "\(provider) port")
            XCTAssertEqual(connect?.data["tls"] != nil, x.scheme == "https", "\(provider): a TLS block only over TLS")
        }
    }

    /// `oisp redact` cleans an old JSONL file: secrets gone, every good line kept, a bad line
    /// named by its line number as an editor counts it (BOM and blank lines included).
    func testRedactCleansAFileAndNamesBadLines() throws {
        let dir = try TestSupport.tempDir("redact")
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = "sk-proj-" + String(repeating: "Ab12Cd34", count: 5)
        var e = OISPEvent(eventType: "ai.request", ts: Timestamp(nanoseconds: 1_764_000_000_000_000_000),
                          host: .init(hostname: "n1"), process: .init(pid: 7), source: .init(captureMethod: "ebpf_uprobe"),
                          data: ["messages": [["role": "user", "content": .string("my key is \(key), mail me at ops@example.com")]]])
        let good = e.jsonString()
        e.eventID = ULID.make()
        let good2 = e.jsonString()
        let input = dir.appendingPathComponent("old.jsonl"), out = dir.appendingPathComponent("clean.jsonl")
        try Data([0xEF, 0xBB, 0xBF] + Array("\(good)\n\n{\"broken\n\(good2)\r\n".utf8)).write(to: input)
        let r = try TestSupport.run(TestSupport.oisp, ["redact", "--input", input.path, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("old.jsonl:3:"), r.stderr)
        XCTAssertTrue(r.stderr.contains("redacted 2 events (1 invalid lines skipped)"), r.stderr)
        let lines = TestSupport.lines(out)
        XCTAssertEqual(lines.count, 2)
        for l in lines {
            XCTAssertFalse(l.contains(key) || l.contains("ops@example.com"), l)
            XCTAssertTrue(l.contains("oisp.redaction"), l)
        }
        // in place: the file is replaced by its redacted form, through a new file (no temp left)
        let r2 = try TestSupport.run(TestSupport.oisp, ["redact", "--input", input.path, "--output", input.path])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssertEqual(TestSupport.lines(input), lines)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["clean.jsonl", "old.jsonl"])
        // a device is written as it is, never replaced by a file
        let r3 = try TestSupport.run(TestSupport.oisp, ["redact", "--input", out.path, "--output", "/dev/null"])
        XCTAssertEqual(r3.status, 0, r3.stderr)
        var st = stat()
        XCTAssertEqual(stat("/dev/null", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR, "/dev/null is still the device")
    }

    /// A file bigger than replay's read buffer, split between cores per read: output in file
    /// order, each bad line reported with its own line number (CRLF and blank lines tolerated),
    /// and lines not in the sensor's own form (reordered keys, spaces) still go through.
    func testLargeReplayKeepsOrderAndLineNumbers() throws {
        let dir = try TestSupport.tempDir("bigreplay")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("events.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["bench", "make-input", "-o", f.path, "--count", "7000"]).status, 0)
        var lines = TestSupport.lines(f)
        XCTAssertGreaterThan(try FileManager.default.attributesOfItem(atPath: f.path)[.size] as! Int, 5 << 20)
        // an event written by another tool (spaces, another layout): the same event out
        let original10 = lines[10]
        lines[10] = try String(decoding: JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: Data(lines[10].utf8)), options: [.prettyPrinted]), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ")
        let wantIDs = lines.map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        var input = lines.map { $0 + "\r" }  // CRLF
        let bad = [(2, "{\"oops\""), (3500, "not json"), (6997, "{\"oisp_version\":\"0.1\"}")]
        for (at, text) in bad { input.insert(text, at: at) }
        input.insert("   ", at: 100)
        let inFile = dir.appendingPathComponent("in.jsonl"), out = dir.appendingPathComponent("out.jsonl")
        try TestSupport.write(input.joined(separator: "\n") + "\n", to: inFile)
        let r = try TestSupport.run(TestSupport.oisp, ["replay", "--input", inFile.path, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        // line numbers as the file has them (bad[i] lands at index at + shifts from earlier inserts)
        var expected: [Int] = []
        var idx = input.indices.filter { i in bad.contains { $0.1 == input[i] } }
        idx.sort()
        expected = idx.map { $0 + 1 }
        let tokens = Set(r.stderr.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        for n in expected { XCTAssertTrue(tokens.contains("line=\(n)"), "line \(n) reported: \(r.stderr)") }
        XCTAssertTrue(r.stderr.contains("invalid_lines=3"), r.stderr)
        let got = TestSupport.lines(out).map { try! OISPEvent(jsonBytes: Array($0.utf8)) }
        XCTAssertEqual(got.map(\.eventID), wantIDs, "every event once, in file order")
        // the reformatted line (other spacing, other member order) comes out as the same event
        let one = dir.appendingPathComponent("one.jsonl"), oneOut = dir.appendingPathComponent("one-out.jsonl")
        try TestSupport.write(original10 + "\n", to: one)
        XCTAssertEqual(try TestSupport.run(TestSupport.oisp, ["replay", "--input", one.path, "--output", oneOut.path]).status, 0)
        let a = try JSONSerialization.jsonObject(with: Data(got[10].jsonString().utf8)) as? NSDictionary
        let b = try JSONSerialization.jsonObject(with: Data((TestSupport.lines(oneOut).first ?? "").utf8)) as? NSDictionary
        XCTAssertNotNil(a)
        XCTAssertEqual(a, b, "same event (member order aside)")
    }

    /// `replay` (its lane memos, one per worker share, and file order) writes byte for byte what
    /// the general path writes for the same events: repeating envelopes, streamed chunks and
    /// secrets, as `bench make-input` makes them.
    /// `replay` (parallel) writes what `bench pipeline` (one thread) writes: one path; and JSONL
    /// from another writer (members sorted at every level, spaces, escaped slashes) gets the same
    /// stages: each response its cost, each secret its redaction.
    /// `bench decode` measures record's own path: its output is what record writes for those
    /// calls (each decoded, priced, the key gone), streamed or not.
    func testBenchDecodeRunsRecordsPath() throws {
        let dir = try TestSupport.tempDir("benchdecode")
        defer { try? FileManager.default.removeItem(at: dir) }
        for stream in [false, true] {
            let out = dir.appendingPathComponent("out-\(stream).jsonl")
            let r = try TestSupport.run(TestSupport.sensor, ["bench", "decode", "--calls", "40", "--chunks", "7", "--output", out.path] + (stream ? ["--stream"] : []))
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("40 \(stream ? "streamed (7 chunks)" : "non-streamed") calls"), r.stdout)
            let events = TestSupport.lines(out).map { try! OISPEvent(jsonBytes: Array($0.utf8)) }
            XCTAssertEqual(events.filter { $0.eventType == "ai.request" }.count, 40)
            let answers = events.filter { $0.eventType == "ai.response" }
            XCTAssertEqual(answers.count, 40)
            for a in answers {
                XCTAssertEqual(a.data["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue, (0..<7).map { "word\($0)" }.joined(separator: " ") + (stream ? " " : ""))
                XCTAssertEqual(a.data["usage"]?["total_tokens"]?.intValue, 18)
                XCTAssertEqual(a.ext?["oisp.cost"]?["status"]?.stringValue, "priced")
            }
            XCTAssertFalse(String(decoding: try Data(contentsOf: out), as: UTF8.self).contains("BENCHKEY1234567890"))
        }
    }

    func testReplayOfAnyWritersJSONLTakesTheOnePath() throws {
        let dir = try TestSupport.tempDir("onepath")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("events.jsonl"), cfg = dir.appendingPathComponent("c.toml")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["bench", "make-input", "-o", f.path, "--count", "6000"]).status, 0)
        try TestSupport.write("[redaction]\nmode = \"safe\"\nhash_salt = \"bench\"\n", to: cfg) // the salt `bench pipeline` uses
        let viaReplay = dir.appendingPathComponent("replay.jsonl"), viaBench = dir.appendingPathComponent("bench.jsonl")
        let r = try TestSupport.run(TestSupport.oisp, ["replay", "-c", cfg.path, "--input", f.path, "--output", viaReplay.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let g = try TestSupport.run(TestSupport.sensor, ["bench", "pipeline", "-i", f.path, "--output", viaBench.path])
        XCTAssertEqual(g.status, 0, g.stderr)
        let a = try Data(contentsOf: viaReplay), b = try Data(contentsOf: viaBench)
        XCTAssertEqual(TestSupport.lines(viaReplay).count, 6000)
        XCTAssertTrue(a == b, "replay and bench pipeline differ")
        XCTAssertTrue(String(decoding: a, as: UTF8.self).contains("[REDACTED:api_key]"))
        // the same events as another tool writes them
        let other = dir.appendingPathComponent("other.jsonl"), viaOther = dir.appendingPathComponent("other-out.jsonl")
        let otherLines = try TestSupport.lines(f).map { (l: String) throws -> String in
            let o = try JSONSerialization.jsonObject(with: Data(l.utf8))
            return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
                .replacingOccurrences(of: "\n", with: " ")
        }
        XCTAssertTrue(otherLines[0].contains("\"event_type\" : \"ai."), otherLines[0])
        try TestSupport.write(otherLines.joined(separator: "\n") + "\n", to: other)
        let o = try TestSupport.run(TestSupport.oisp, ["replay", "-c", cfg.path, "--input", other.path, "--output", viaOther.path])
        XCTAssertEqual(o.status, 0, o.stderr)
        let want = TestSupport.lines(viaReplay).map { try! OISPEvent(jsonBytes: Array($0.utf8)) }
        let got = TestSupport.lines(viaOther).map { try! OISPEvent(jsonBytes: Array($0.utf8)) }
        XCTAssertEqual(got.count, want.count)
        var responses = 0, costed = 0, redacted = 0
        for (x, y) in zip(want, got) {
            XCTAssertEqual(x.eventID, y.eventID)
            XCTAssertEqual(x.ext?["oisp.cost"], y.ext?["oisp.cost"], x.eventID)
            XCTAssertEqual(x.ext?["oisp.redaction"]?["findings"], y.ext?["oisp.redaction"]?["findings"], x.eventID)
            if y.eventType == "ai.response" { responses += 1; if y.ext?["oisp.cost"] != nil { costed += 1 } }
            if y.ext?["oisp.redaction"] != nil { redacted += 1 }
        }
        XCTAssertGreaterThan(responses, 500)
        XCTAssertEqual(costed, responses, "every response from the other writer carries its cost")
        XCTAssertGreaterThan(redacted, 300)
    }

    func testJSONLOutputAppends() throws {
        let dir = try TestSupport.tempDir("append")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("f.jsonl")
        for _ in 0..<2 { XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-o", f.path, "-n", "1"]).status, 0) }
        let lines = TestSupport.lines(f)
        XCTAssertEqual(lines.count % 2, 0)
        XCTAssertEqual(Set(lines).count, lines.count)
        let data = try Data(contentsOf: f)
        XCTAssertEqual(data.last, 0x0A, "never a partial line at EOF")
    }

    func testConfigCheckGoodAndBad() throws {
        let dir = try TestSupport.tempDir("cfg")
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.toml")
        try TestSupport.write("""
        [sensor]
        name = "k8s-${NODE_NAME}"

        [export.otlp]
        enabled = true
        endpoint = "http://otel-collector.observability:4317"
        headers = {
          "x-node-name" = "${NODE_NAME}",
          "x-cluster" = "production"
        }

        [export.kafka]
        enabled = false
        brokers = ["kafka-0:9092", "kafka-1:9092"]
        topic = "oisp-events"
        compression = "snappy"
        batch_size = 500
        sasl_password = "${KAFKA_PASSWORD}"
        """, to: good)
        let r = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", good.path],
                                    env: ["NODE_NAME": "node-9", "KAFKA_PASSWORD": "s3cr3t-value"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("k8s-node-9"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"node-9\""), r.stdout)
        XCTAssertFalse(r.stdout.contains("s3cr3t-value") || r.stderr.contains("s3cr3t-value"), "secrets masked")

        let bad = dir.appendingPathComponent("bad.toml")
        try TestSupport.write("[sensor]\nname = \"x\"\n[export.kafka]\nenabled = true\nbatch_size = \"lots\"\n", to: bad)
        let r2 = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", bad.path])
        XCTAssertNotEqual(r2.status, 0)
        XCTAssertTrue(r2.stderr.contains("\(bad.path):5"), r2.stderr)
        XCTAssertTrue(r2.stderr.contains("export.kafka.batch_size"), r2.stderr)
        XCTAssertTrue(r2.stderr.contains("expected an integer"), r2.stderr)

        let missing = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", dir.appendingPathComponent("nope.toml").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("does not exist"), missing.stderr)

        let viaEnv = try TestSupport.run(TestSupport.oisp, ["config", "check"], env: ["OISP_CONFIG": bad.path])
        XCTAssertNotEqual(viaEnv.status, 0, "OISP_CONFIG is honoured")
    }

    /// A lone event reaches its exporter within flush_interval_ms on a quiet node — here a
    /// `replay` from a pipe that stays open — not only once a batch fills or at shutdown (an idle
    /// exporter used to sleep without a deadline until 512 events or a stop woke it).
    func testALoneEventIsExportedWithinTheFlushInterval() throws {
        let dir = try TestSupport.tempDir("quiet")
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = dir.appendingPathComponent("e.jsonl"), out = dir.appendingPathComponent("out.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "1", "-o", events.path]).status, 0)
        let line = try XCTUnwrap(TestSupport.lines(events).first)
        let cfg = dir.appendingPathComponent("c.toml")
        try TestSupport.write("[pipeline]\nbatch_size = 512\nflush_interval_ms = 200\n", to: cfg)
        let stdin = Pipe()
        let p = try TestSupport.startSensor(["replay", "--input", "-", "--output", out.path, "-c", cfg.path],
                                            stderrFile: dir.appendingPathComponent("err"), stdin: stdin)
        stdin.fileHandleForWriting.write(Data((line + "\n").utf8))
        var got: [String] = []
        for _ in 0..<50 where got.isEmpty { usleep(100_000); got = TestSupport.lines(out) }
        XCTAssertTrue(p.isRunning, "still running: the input is open")
        XCTAssertEqual(got.count, 1, "the event was written while the sensor waits for more")
        try stdin.fileHandleForWriting.close()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(TestSupport.lines(out).count, 1, "once")
    }

    /// A key an exporter's plugin does not take (each plugin lists its keys in its table's
    /// config_schema) is named with file:line and the key it most likely meant, by `config check`
    /// and at start; a misspelt key would otherwise be ignored without a word.
    func testMisspeltExporterKeysAreNamedWithTheLikelyKey() throws {
        let dir = try TestSupport.tempDir("keys")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("c.toml")
        try TestSupport.write("""
        [export.http]
        enabled = true
        hots = "127.0.0.1"
        port = 9
        json_date_formt = "iso8601"
        batch_size = 10
        flush_intervall_ms = 100

        [export.kafka]
        enabled = true
        brokers = ["127.0.0.1:9"]
        topic = "t"
        linger = 5
        librdkafka = { "socket.timeout.ms" = 1000 }

        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:9"
        tls = { ca_fille = "/etc/ssl/ca.pem", insecure = true }
        headers = { "x-anything" = "goes" }
        """, to: cfg)
        let r = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", cfg.path])
        XCTAssertEqual(r.status, 0, "unknown keys warn, as unknown core keys do: \(r.stderr)")
        for (line, key, exporter, guess) in [(3, "export.http.hots", "http", "host"), (5, "export.http.json_date_formt", "http", "json_date_format"),
                                             (7, "export.http.flush_intervall_ms", "http", "flush_interval_ms"),
                                             (13, "export.kafka.linger", "kafka", "linger_ms"), (19, "export.otlp.tls.ca_fille", "otlp", "ca_file")] {
            XCTAssertTrue(r.stderr.contains("\(cfg.path):\(line): key '\(key)': unknown key for the \(exporter) exporter (ignored); did you mean '\(guess)'?"),
                          "\(key): \(r.stderr)")
        }
        XCTAssertEqual(r.stderr.components(separatedBy: "unknown key").count - 1, 5,
                       "declared keys, host keys (batch_size) and open tables (headers, librdkafka) pass: \(r.stderr)")
        // the same at start
        let input = dir.appendingPathComponent("in.jsonl")
        try TestSupport.write("", to: input)
        let run = try TestSupport.run(TestSupport.sensor, ["replay", "--input", input.path, "-c", cfg.path])
        XCTAssertTrue(run.stderr.contains("key 'export.kafka.linger': unknown key for the kafka exporter"), run.stderr)
    }

    func testRecordSaysWhyCaptureIsUnavailable() throws {
        let r = try TestSupport.run(TestSupport.sensor, ["record", "--output", "/dev/null"],
                                    env: ["OISP_BPF_OBJECT": "/nonexistent/oisp.bpf.o"])
        XCTAssertEqual(r.status, 69)
        XCTAssertTrue(r.stderr.contains("capture not available"), r.stderr)
        XCTAssertTrue(r.stderr.contains("oisp.bpf.o not found"), r.stderr)
    }

    func testVersion() throws {
        let r = try TestSupport.run(TestSupport.oisp, ["version"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("exporter ABI 1.3"), r.stdout)
    }
}
