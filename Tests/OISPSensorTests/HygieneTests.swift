import Foundation
import OISPEvent
import XCTest

/// #25's fault suite, items 7 and 8: secrets never reach the logs (at -vv, with `${ENV}`
/// passwords in the config and secrets in the captured content), and `/metrics` answers only what
/// it serves, with no captured value in a label.
final class HygieneTests: XCTestCase {
    func testSecretsNeverInLogsOrConfigCheck() throws {
        let dir = try TestSupport.tempDir("hygiene")
        defer { try? FileManager.default.removeItem(at: dir) }
        let password = "Pw-\(UUID().uuidString)", token = "Tok-\(UUID().uuidString)"
        let contentKey = RedactionTests.secret("api_key", 0), email = RedactionTests.secret("email", 1)
        let dead = try TestSupport.freePort() // nothing listens: the exporter fails and logs why
        let cfg = dir.appendingPathComponent("c.toml")
        try TestSupport.write("""
        [redaction]
        hash_salt = "${OISP_T_SALT}"
        [export.http]
        enabled = true
        endpoint = "http://127.0.0.1:\(dead)/ingest"
        headers = { Authorization = "Bearer ${OISP_T_TOKEN}", "X-Password" = "${OISP_T_PASS}" }
        retry_on_failure = { initial_interval_ms = 20, max_interval_ms = 40, max_elapsed_ms = 300 }
        """, to: cfg)
        let env = ["OISP_T_PASS": password, "OISP_T_TOKEN": token, "OISP_T_SALT": "salt-\(password)"]
        var lines: [String] = []
        for i in 0..<20 {
            let e = OISPEvent(eventType: "ai.request", ts: Timestamp(nanoseconds: 1_760_000_000_000_000_000 + Int64(i)),
                              host: .init(hostname: "node-1"), process: .init(pid: 7, name: "python3", cmdline: "python3 app.py --api-key \(contentKey)"),
                              data: ["model": "gpt-4o", "messages": [["role": "user", "content": .string("mail \(email) key \(contentKey)")]],
                                     "headers": .object(JSONObject([("authorization", .string("Bearer \(contentKey)"))]))])
            lines.append(e.jsonString())
        }
        let input = dir.appendingPathComponent("in.jsonl")
        try TestSupport.write(lines.joined(separator: "\n") + "\n", to: input)
        let check = try TestSupport.run(TestSupport.oisp, ["config", "check", "-c", cfg.path, "-vv"], env: env)
        XCTAssertEqual(check.status, 0, check.stderr)
        let replay = try TestSupport.run(TestSupport.sensor, ["replay", "-vv", "-c", cfg.path, "--input", input.path,
                                                              "--output", dir.appendingPathComponent("out.jsonl").path], env: env)
        XCTAssertNotEqual(replay.status, 0, "the dead backend's events are lost, and the exit status says so")
        XCTAssertTrue(replay.stderr.contains("exporter"), "the failure is logged: \(replay.stderr.prefix(500))")
        let said = check.stdout + check.stderr + replay.stdout + replay.stderr
            + ((try? String(contentsOf: dir.appendingPathComponent("out.jsonl"), encoding: .utf8)) ?? "")
        var found: [String] = []
        for (name, v) in [("password", password), ("token", token), ("salt", "salt-\(password)"), ("content key", contentKey), ("email", email)] where said.contains(v) {
            found.append(name)
        }
        print("HygieneTests: \(said.count) bytes of logs, config check and output searched for 5 planted values: \(found.count) found")
        XCTAssertEqual(found, [], "planted values in the logs or config check")
    }

    func testMetricsEndpointAnswersOnlyWhatItServes() throws {
        let port = try TestSupport.freePort()
        let dir = try TestSupport.tempDir("metrics-hygiene")
        let input = dir.appendingPathComponent("in.jsonl")
        XCTAssertEqual(try TestSupport.run(TestSupport.sensor, ["demo", "-n", "200", "-o", input.path]).status, 0)
        let err = dir.appendingPathComponent("err")
        let p = try TestSupport.startSensor(["demo", "-n", "2000", "--interval-ms", "5", "-o", "/dev/null", "--metrics-addr", "127.0.0.1:\(port)"], stderrFile: err)
        defer { if p.isRunning { p.interrupt(); p.waitUntilExit() } }
        func code(_ method: String, _ path: String) throws -> String {
            try TestSupport.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "http://127.0.0.1:\(port)\(path)"]).stdout
        }
        var up = false
        for _ in 0..<100 where !up { up = (try? code("GET", "/healthz")) == "200"; if !up { usleep(100_000) } }
        XCTAssertTrue(up)
        XCTAssertEqual(try code("GET", "/metrics"), "200")
        XCTAssertEqual(try code("POST", "/metrics"), "405")
        XCTAssertEqual(try code("DELETE", "/healthz"), "405")
        XCTAssertEqual(try code("GET", "/metrics/../etc/passwd"), "404")
        XCTAssertEqual(try code("GET", "/admin"), "404")
        let body = try TestSupport.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/metrics"]).stdout
        // every label value is a name the sensor chose (exporter, type, reason, state, …), never
        // captured content: no '@', no key prefix, no spaces
        let values = body.matches(of: try Regex(#"="([^"]*)""#)).map { String(body[$0.range]) }
        XCTAssertGreaterThan(values.count, 5)
        for v in values { XCTAssertFalse(v.contains("@") || v.contains("sk-") || v.contains(" "), "label value \(v)") }
    }

    /// Fault suite item 5: hostile JSONL into `replay` and `redact` — truncated lines, invalid
    /// UTF-8, a 10 MB line, arrays 100k deep — no crash; each bad line is skipped and named by
    /// its line number; every good line comes out.
    func testHostileJSONLIsSkippedLineByLine() throws {
        let dir = try TestSupport.tempDir("hostile")
        defer { try? FileManager.default.removeItem(at: dir) }
        func good(_ i: Int, _ content: String = "fine") -> [UInt8] {
            Array(OISPEvent(eventType: "ai.request", ts: Timestamp(nanoseconds: 1_760_000_000_000_000_000 + Int64(i)), host: .init(hostname: "n"),
                            process: .init(pid: 1), data: ["messages": [["role": "user", "content": .string(content)]]]).jsonString().utf8)
        }
        var lines: [[UInt8]] = []
        var bad: [Int] = [] // 1-based line numbers of the hostile lines
        func add(_ l: [UInt8], hostile: Bool) { lines.append(l); if hostile { bad.append(lines.count) } }
        add(good(0), hostile: false)
        add(Array(good(1).prefix(40)), hostile: true)                                  // truncated
        add(good(2), hostile: false)
        var utf = good(3); utf.insert(contentsOf: [0xC3, 0x28, 0xFF], at: utf.count - 10); add(utf, hostile: true) // invalid UTF-8
        add(good(4), hostile: false)
        add(Array(String(repeating: "[", count: 100_000).utf8) + Array(String(repeating: "]", count: 100_000).utf8), hostile: true)
        add(good(5, String(repeating: "lorem ipsum ", count: 10_000_000 / 12)), hostile: false) // a 10 MB event
        add(Array("{\"event_type\":".utf8), hostile: true)
        add(good(6), hostile: false)
        let input = dir.appendingPathComponent("hostile.jsonl")
        FileManager.default.createFile(atPath: input.path, contents: Data(lines.joined(separator: [10]) + [10]))
        let goodCount = lines.count - bad.count
        for cmd in ["replay", "redact"] {
            let out = dir.appendingPathComponent("\(cmd).jsonl")
            let r = try TestSupport.run(TestSupport.sensor, [cmd, "--input", input.path, "--output", out.path], timeout: 120)
            XCTAssertTrue(r.status == 0 || r.status == 65 || r.status == 75, "\(cmd) ended normally (status \(r.status)): \(r.stderr.suffix(800))")
            let outLines = TestSupport.lines(out)
            XCTAssertEqual(outLines.count, goodCount, "\(cmd): every good line out, the 10 MB one included")
            for n in bad {
                XCTAssertTrue(r.stderr.contains(":\(n)") || r.stderr.contains("line=\(n)") || r.stderr.contains("line \(n)"), "\(cmd) names bad line \(n): \(r.stderr.suffix(1500))")
            }
            print("HygieneTests: \(cmd): \(lines.count) lines, \(bad.count) hostile skipped and named, \(outLines.count) events out, status \(r.status)")
        }
    }
}
