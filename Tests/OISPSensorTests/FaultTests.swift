import Foundation
import OISPConfig
import OISPEvent
import XCTest

/// Faults and bad input: hung and buggy plugins, fuzzed config, secrets and TLS, load.
final class FaultTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = try TestSupport.tempDir("faults")
        try TestSupport.compilePlugin([TestSupport.fixtures.appendingPathComponent("flaky.c").path], to: dir.appendingPathComponent("liboisp-exporter-flaky.so"))
        try TestSupport.compilePlugin([TestSupport.packageRoot.appendingPathComponent("sdk/examples/file_exporter.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-cfile.so"))
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func input(_ n: Int = 3) throws -> (URL, [String]) {
        let f = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "\(n)", "-o", f.path]).status, 0)
        return (f, TestSupport.lines(f).map { try! OISPEvent(jsonBytes: Array($0.utf8)).eventID })
    }

    func ids(_ f: URL) -> [String] { TestSupport.lines(f).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID } }

    func testHungPluginIsParkedAndOthersKeepExporting() throws {
        let (f, all) = try input()
        let good = dir.appendingPathComponent("good.jsonl")
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [export.flaky]
        enabled = true
        path = "\(dir.appendingPathComponent("hung.jsonl").path)"
        mode = "hang"
        timeout_ms = 500
        [export.cfile]
        enabled = true
        path = "\(good.path)"
        """, to: dir.appendingPathComponent("c.toml"))
        let start = Date()
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-i", f.path, "-c", dir.appendingPathComponent("c.toml").path, "--shutdown-timeout", "3"], timeout: 60)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "a hung plugin does not hang the sensor")
        XCTAssertTrue(r.stderr.contains("did not return within timeout_ms"), r.stderr)
        XCTAssertEqual(ids(good), all, "the other exporter got everything")
        XCTAssertEqual(r.status, 75, "events the hung exporter could not take are reported as lost")
    }

    func testGarbageResultCodeIsAClearPermanentError() throws {
        let (f, all) = try input(1)
        let good = dir.appendingPathComponent("good.jsonl")
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [export.flaky]
        enabled = true
        path = "\(dir.appendingPathComponent("x.jsonl").path)"
        mode = "garbage"
        [export.cfile]
        enabled = true
        path = "\(good.path)"
        """, to: dir.appendingPathComponent("c.toml"))
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-i", f.path, "-c", dir.appendingPathComponent("c.toml").path])
        XCTAssertTrue(r.stderr.contains("UNKNOWN") && r.stderr.contains("plugin bug"), r.stderr)
        XCTAssertEqual(ids(good), all)
    }

    /// Fault suite item 4: twenty malformed configs through `config check`. Errors exit 78 and
    /// name the file, the line where there is one, the key and what was expected; the three that
    /// still make a working sensor (an empty file, an unset ${VAR}, a literal secret others can
    /// read) and an unknown key exit 0 with a warning naming line and key.
    func testTwentyOneMalformedConfigsAreNamedPrecisely() throws {
        let dir = try TestSupport.tempDir("badconfigs")
        enum Body { case text(String), bytes([UInt8]), directory, missing }
        let cases: [(name: String, body: Body, status: Int32, says: [String])] = [
            ("unclosed-table", .text("[sensor\nname = \"x\"\n"), 78, [":1:", "TOML syntax error"]),
            ("unterminated-string", .text("[sensor]\nname = \"a\n"), 78, [":2:", "string"]),
            ("duplicate-key", .text("[sensor]\nname = \"a\"\nname = \"b\"\n"), 78, [":3:", "cannot redefine"]),
            ("wrong-type", .text("[pipeline]\nbatch_size = \"many\"\n"), 78, [":2:", "pipeline.batch_size", "expected an integer"]),
            ("out-of-range", .text("[pipeline]\nbatch_size = -5\n"), 78, [":2:", "pipeline.batch_size", ">= 1"]),
            ("wrong-one-of", .text("[redaction]\nmode = \"everything\"\n"), 78, [":2:", "redaction.mode", "safe, full, minimal"]),
            ("ports-not-array", .text("[capture]\nplain_http_ports = \"11434\"\n"), 78, [":2:", "capture.plain_http_ports", "array"]),
            ("hold-too-long", .text("[capture]\nprobe_before_exec = true\nprobe_before_exec_timeout_ms = 600000\n"), 78,
             [":3:", "capture.probe_before_exec_timeout_ms", "at most 60000"]),
            ("too-many-threads", .text("[decode]\nthreads = 500\n"), 78, [":2:", "decode.threads", "0 (one per 8 cores, at most 4) to 64"]),
            ("k8s-wrong-type", .text("[kubernetes]\nenabled = true\nrefresh_ms = \"fast\"\n"), 78, [":3:", "kubernetes.refresh_ms"]),
            ("plugin-bool", .text("[export.otlp]\nenabled = true\nendpoint = \"http://127.0.0.1:4317\"\ninsecure = \"yes\"\n"), 78,
             [":4:", "export.otlp.insecure", "boolean"]),
            ("plugin-one-of", .text("[export.http]\nenabled = true\nuri = \"http://127.0.0.1:9/\"\ncompress = \"zip\"\n"), 78,
             [":4:", "export.http.compress", "gzip, none"]),
            ("unknown-exporter", .text("[export.nosuch]\nenabled = true\n"), 78, [":1:", "[export.nosuch]", "no plugin liboisp-exporter-nosuch.so"]),
            ("missing-plugin", .text("[export.mine]\nenabled = true\nplugin = \"/nonexistent/liboisp-exporter-mine.so\"\n"), 78,
             [":1:", "[export.mine]", "/nonexistent/liboisp-exporter-mine.so"]),
            ("binary", .bytes((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }), 78, ["not valid UTF-8"]),
            ("ten-megabytes", .text("[sensor]\nname = \"" + String(repeating: "a", count: 10_000_000) + "\"\n"), 78, ["bytes", "at most 1024 KiB"]),
            ("a-directory", .directory, 78, ["is a directory"]),
            ("missing-file", .missing, 78, ["does not exist"]),
            ("empty", .text(""), 0, ["config OK"]),
            ("unset-variable", .text("[export.otlp]\nenabled = true\nendpoint = \"${OISP_TEST_UNSET_VAR}\"\n"), 0,
             [":3:", "OISP_TEST_UNSET_VAR is not set"]),
            ("literal-secret-readable", .text("[export.http]\nenabled = true\nuri = \"http://127.0.0.1:9/\"\nheaders = { Authorization = \"Bearer hunter2-literal\" }\npassword = \"hunter2-literal\"\n"), 0,
             [":5:", "literal secret in a file readable by other users"]),
            ("unknown-key", .text("[sensor]\nnmae = \"typo\"\n"), 0, [":2:", "sensor.nmae", "unknown key"]),
        ]
        XCTAssertEqual(cases.count, 22)
        var checked = 0
        for c in cases {
            let path = dir.appendingPathComponent("\(c.name).toml").path
            switch c.body {
            case .text(let t): FileManager.default.createFile(atPath: path, contents: Data(t.utf8), attributes: [.posixPermissions: 0o644])
            case .bytes(let b): FileManager.default.createFile(atPath: path, contents: Data(b))
            case .directory: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            case .missing: break
            }
            let r = try TestSupport.run(TestSupport.sensor, ["config", "check", "-c", path])
            XCTAssertEqual(r.status, c.status, "\(c.name): \(r.stderr.prefix(400))")
            for s in c.says + ["\(c.name).toml"] where !r.stderr.contains(s) { XCTFail("\(c.name): no '\(s)' in: \(r.stderr.prefix(400))") }
            XCTAssertFalse(r.stderr.contains("hunter2-literal") || r.stdout.contains("hunter2-literal"), "\(c.name): a secret was printed")
            checked += 1
        }
        print("malformed configs: \(checked) checked, \(cases.filter { $0.status == 78 }.count) refused with exit 78, the rest warned")
        XCTAssertEqual(checked, 22)
    }

    func testConfigLoaderSurvivesFuzzedInput() {
        let seed = """
        [sensor]
        name = "k8s-${NODE_NAME}"
        [export.otlp]
        enabled = true
        headers = {
          "x" = "${A:-b}",
          y = [1, 2, "3"],
        }
        [redaction]
        custom_patterns = [{ name = "n", pattern = "a+" }]
        """
        var rng = SplitMix(seed: UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "99") ?? 99)
        var bytes = Array(seed.utf8)
        var errors = 0
        for _ in 0..<20_000 {
            var m = bytes
            let alphabet = Array("{}[]=\"\n,#$".utf8)
            for _ in 0..<(1 + Int(rng.next() % 4)) where !m.isEmpty {
                let p = Int(rng.next() % UInt64(m.count))
                switch rng.next() % 3 {
                case 0: m[p] = UInt8(truncatingIfNeeded: rng.next() % 128)
                case 1: m.remove(at: p)
                default: m.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: p)
                }
            }
            if ProcessInfo.processInfo.environment["FUZZ_DUMP"] != nil { try? Data(m).write(to: URL(fileURLWithPath: "/tmp/fuzz-last.toml")) }
            do { _ = try SensorConfig.parse(String(decoding: m, as: UTF8.self), file: "fuzz.toml", env: ["A": "1"]) } catch { errors += 1 }
            if rng.next() % 50 == 0 { bytes = Array(seed.utf8) }
        }
        XCTAssertGreaterThan(errors, 0)
        print("config fuzz: 20000 mutated files, \(errors) rejected with an error, no crash")
    }

    func testSecretsNeverReachLogsAndWorldReadableSecretsWarn() throws {
        let secret = "s3cr3t-\(UUID().uuidString)"
        let cfg = dir.appendingPathComponent("c.toml")
        try TestSupport.write("""
        [export.otlp]
        enabled = true
        endpoint = "http://127.0.0.1:9"
        headers = { authorization = "Bearer ${TOKEN}" }
        timeout_ms = 300
        retry_on_failure = { initial_interval_ms = 50, max_elapsed_ms = 500 }
        [export.http]
        enabled = true
        port = 9
        http_passwd = "literal-password-in-file"
        http_user = "u"
        retry_on_failure = { initial_interval_ms = 50, max_elapsed_ms = 500 }
        """, to: cfg)
        chmod(cfg.path, 0o644)
        let r = try TestSupport.run(TestSupport.sensor, ["demo", "-n", "1", "-vv", "-c", cfg.path, "-o", "/dev/null"], env: ["TOKEN": secret])
        XCTAssertFalse(r.stderr.contains(secret) || r.stdout.contains(secret), "the ${ENV} secret never appears in logs")
        XCTAssertFalse(r.stderr.contains("literal-password-in-file"))
        XCTAssertTrue(r.stderr.contains("literal secret in a file readable by other users"), r.stderr)
        let check = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", cfg.path], env: ["TOKEN": secret])
        XCTAssertFalse(check.stdout.contains(secret) || check.stderr.contains(secret))
        chmod(cfg.path, 0o600)
        let quiet = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", cfg.path], env: ["TOKEN": secret])
        XCTAssertFalse(quiet.stderr.contains("readable by other users"))
    }

    func testTLSIsVerifiedByDefault() throws {
        let cert = dir.appendingPathComponent("cert.pem"), key = dir.appendingPathComponent("key.pem"), pf = dir.appendingPathComponent("port")
        _ = try TestSupport.run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.path, "-out", cert.path,
                                                 "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", TestSupport.fixtures.appendingPathComponent("tls_server.py").path, cert.path, key.path, pf.path]
        try server.run()
        defer { server.terminate() }
        var port = ""
        for _ in 0..<100 where port.isEmpty { port = (try? String(contentsOf: pf, encoding: .utf8)) ?? ""; usleep(50_000) }
        let (f, _) = try input(1)
        func run(_ extra: String) throws -> TestSupport.Result {
            try TestSupport.write("[export.http]\nenabled = true\nport = \(port)\ntls = true\nuri = \"/ingest\"\nretry_on_failure = { initial_interval_ms = 50, max_elapsed_ms = 500 }\n\(extra)\n", to: dir.appendingPathComponent("t.toml"))
            return try TestSupport.run(TestSupport.sensor, ["replay", "-i", f.path, "-c", dir.appendingPathComponent("t.toml").path])
        }
        let refused = try run("")
        XCTAssertEqual(refused.status, 75)
        XCTAssertTrue(refused.stderr.lowercased().contains("certificate"), refused.stderr)
        XCTAssertEqual(try run("ca_file = \"\(cert.path)\"").status, 0, "trusted with ca_file")
        XCTAssertEqual(try run("tls_verify = false").status, 0, "or with verification explicitly off")
        // the same rule for OTLP over HTTPS (its own libcurl path)
        func otlp(_ extra: String) throws -> TestSupport.Result {
            try TestSupport.write("[export.otlp]\nenabled = true\nendpoint = \"https://127.0.0.1:\(port)\"\nprotocol = \"http/protobuf\"\nretry_on_failure = { initial_interval_ms = 50, max_elapsed_ms = 500 }\n\(extra)\n", to: dir.appendingPathComponent("o.toml"))
            return try TestSupport.run(TestSupport.sensor, ["replay", "-i", f.path, "-c", dir.appendingPathComponent("o.toml").path])
        }
        let otlpRefused = try otlp("")
        XCTAssertEqual(otlpRefused.status, 75, otlpRefused.stderr)
        XCTAssertTrue(otlpRefused.stderr.lowercased().contains("certificate"), otlpRefused.stderr)
        XCTAssertEqual(try otlp("ca_file = \"\(cert.path)\"").status, 0, "OTLP trusted with ca_file")
        XCTAssertEqual(try otlp("tls_verify = false").status, 0, "OTLP with verification explicitly off")
    }

    /// A large recorded file at full speed through several exporters: counts equal end to end.
    func testLoadCountsEqualEndToEnd() throws {
        let f = dir.appendingPathComponent("load.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["bench", "make-input", "-o", f.path, "--count", "30000"]).status, 0)
        let n = TestSupport.lines(f).count
        let a = dir.appendingPathComponent("a.jsonl"), b = dir.appendingPathComponent("b.jsonl"), o = dir.appendingPathComponent("o.jsonl")
        try TestSupport.write("""
        [plugins]
        dir = "\(dir.path)"
        [pipeline]
        queue_size = 100000
        [export.cfile]
        enabled = true
        path = "\(a.path)"
        [export.file]
        enabled = true
        path = "\(b.path)"
        """, to: dir.appendingPathComponent("c.toml"))
        let r = try TestSupport.run(TestSupport.sensor, ["replay", "-i", f.path, "-c", dir.appendingPathComponent("c.toml").path, "-o", o.path], timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        for out in [a, b, o] { XCTAssertEqual(TestSupport.lines(out).count, n, out.lastPathComponent) }
        XCTAssertTrue(r.stderr.contains("exported=\(n)"), r.stderr)
    }
}

/// Backend outage during a steady stream: the peer is killed for 30 s and restarted; every
/// event arrives and the sensor's memory stays bounded meanwhile.
final class OutageTests: XCTestCase {
    func startIngest(port: Int, out: URL) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
        import http.server
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                b = self.rfile.read(int(self.headers['Content-Length']))
                with open('\(out.path)', 'ab') as f: f.write(b)
                self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
            def log_message(self, *a): pass
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), H).serve_forever()
        """]
        try p.run()
        usleep(500_000)
        return p
    }

    func testPeerKilledFor30SecondsLosesNothingAndMemoryStaysBounded() throws {
        let dir = try TestSupport.tempDir("outage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try TestSupport.freePort()
        let received = dir.appendingPathComponent("received.jsonl"), all = dir.appendingPathComponent("all.jsonl")
        try TestSupport.write("""
        [pipeline]
        flush_interval_ms = 100
        queue_max_bytes = 16777216
        [export.http]
        enabled = true
        port = \(port)
        uri = "/ingest"
        format = "json_lines"
        timeout_ms = 1000
        retry_on_failure = { initial_interval_ms = 200, max_interval_ms = 2000, max_elapsed_ms = 120000 }
        """, to: dir.appendingPathComponent("c.toml"))
        var server = try startIngest(port: port, out: received)
        let sensor = Process()
        sensor.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        sensor.arguments = ["demo", "-n", "500", "--interval-ms", "100", "-c", dir.appendingPathComponent("c.toml").path, "-o", all.path]
        sensor.standardError = FileHandle.nullDevice
        sensor.standardOutput = FileHandle.nullDevice
        try sensor.run()
        sleep(5)
        server.terminate(); server.waitUntilExit()
        var peakKiB = 0
        for _ in 0..<30 {
            sleep(1)
            if let s = try? String(contentsOfFile: "/proc/\(sensor.processIdentifier)/status", encoding: .utf8),
               let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
               let kb = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") {
                peakKiB = max(peakKiB, kb)
            }
        }
        XCTAssertTrue(sensor.isRunning, "the sensor stays up during the outage")
        server = try startIngest(port: port, out: received)
        defer { server.terminate() }
        sensor.waitUntilExit()
        XCTAssertEqual(sensor.terminationStatus, 0)
        let sent = TestSupport.lines(all).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID }
        let got = Set(TestSupport.lines(received).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)).eventID })
        XCTAssertGreaterThan(sent.count, 1000)
        XCTAssertEqual(Set(sent).subtracting(got), [], "every event arrives after the outage")
        print("outage: \(sent.count) events, peak RSS during the 30 s outage \(peakKiB / 1024) MiB")
        XCTAssertLessThan(peakKiB, 160 * 1024, "RSS stays bounded (queue_max_bytes 16 MiB + runtime)")
    }
}
