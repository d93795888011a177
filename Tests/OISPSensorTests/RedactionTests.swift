import Foundation
import OISPConfig
import OISPEvent
@testable import OISPRedact
import XCTest

final class RedactionTests: XCTestCase {
    static var rng = SplitMix(seed: 2025)
    static func r(_ n: Int, _ alphabet: String) -> String {
        let a = Array(alphabet)
        return String((0..<n).map { _ in a[Int(rng.next() % UInt64(a.count))] })
    }
    static let alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    static let upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    static let b64url = alnum + "-_"

    static func luhnComplete(_ prefix: String, length: Int) -> String {
        var digits = prefix.map { Int(String($0))! }
        while digits.count < length - 1 { digits.append(Int(rng.next() % 10)) }
        for check in 0...9 {
            let all = digits + [check]
            var sum = 0
            for (k, x) in all.reversed().enumerated() { var v = x; if k % 2 == 1 { v *= 2; if v > 9 { v -= 9 } }; sum += v }
            if sum % 10 == 0 { return all.map(String.init).joined() }
        }
        return ""
    }

    /// Secret generators by detector type.
    static func secret(_ type: String, _ i: Int) -> String {
        switch type {
        case "api_key":
            switch i % 10 {
            case 0: return "sk-proj-" + r(48, alnum + "_-") + "9a"
            case 1: return "sk-ant-api03-" + r(80, b64url) + "1x"
            case 2: return "AIza" + r(35, b64url)
            case 3: return "AKIA" + r(16, upperDigits)
            case 4: return "ghp_" + r(36, alnum)
            case 5: return "xoxb-" + r(12, "0123456789") + "-" + r(24, alnum)
            case 6: return "sk_live_" + r(24, alnum)
            case 7: return "hf_" + r(34, alnum)
            case 8: return "sk-" + r(46, alnum) + "7Q"
            default: return "gsk_" + r(48, alnum) + "42"
            }
        case "jwt": return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJ" + r(40, b64url) + "." + r(43, b64url)
        case "private_key": return "-----BEGIN RSA PRIVATE KEY-----\n" + r(64, alnum + "+/") + "\n" + r(64, alnum + "+/") + "\n-----END RSA PRIVATE KEY-----"
        case "email": return r(6, "abcdefghij") + "." + r(5, "klmnopqrst") + "@" + ["example.com", "corp.co.uk", "mail.acme.io"][i % 3]
        case "credit_card":
            let c = [luhnComplete("4", length: 16), luhnComplete("5\(1 + i % 5)", length: 16), luhnComplete("37", length: 15), luhnComplete("6011", length: 16)][i % 4]
            if i % 3 == 0 && c.count == 16 { return stride(from: 0, to: 16, by: 4).map { Array(c)[$0..<$0 + 4].map(String.init).joined() }.joined(separator: " ") }
            if i % 3 == 1 && c.count == 16 { return stride(from: 0, to: 16, by: 4).map { Array(c)[$0..<$0 + 4].map(String.init).joined() }.joined(separator: "-") }
            return c
        case "ssn": return "\(100 + Int(rng.next() % 565))-\(10 + Int(rng.next() % 89))-\(1000 + Int(rng.next() % 8999))"
        case "phone":
            let a = 200 + Int(rng.next() % 799), b = 200 + Int(rng.next() % 799), c = 1000 + Int(rng.next() % 8999)
            return ["(\(a)) \(b)-\(c)", "\(a)-\(b)-\(c)", "+1 \(a) \(b) \(c)", "+44 20 \(b)\(c % 10) \(c)", "\(a).\(b).\(c)",
                    "+1 (\(a)) \(b)-\(c)"][i % 6]
        case "ip_address":
            if i % 3 == 0 { return "2001:db8:\(String(rng.next() % 65535, radix: 16))::\(String(rng.next() % 65535, radix: 16))" }
            return "\(10 + rng.next() % 200).\(rng.next() % 256).\(rng.next() % 256).\(1 + rng.next() % 254)"
        default: // aws_secret_key
            return r(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") + r(10, "abcdefghijklmnopqrstuvwxyz") + r(9, "0123456789") + "/"
        }
    }

    static let types = ["api_key", "jwt", "private_key", "email", "credit_card", "ssn", "phone", "ip_address", "aws_secret_key"]

    static func embed(_ type: String, _ s: String, _ i: Int) -> String {
        if type == "aws_secret_key" {
            return ["aws_secret_access_key = \(s)", "export AWS key AKIA\(r(16, upperDigits)) and secret \(s) now",
                    #"{"aws_secret": "\#(s)"}"#][i % 3]
        }
        if type == "api_key" && i % 4 == 3 { return "OPENAI_API_KEY=\(s)\nrun the script" }
        return ["Please use \(s) for the deploy, thanks.", #"{"tool":"configure","arguments":{"value":"\#(s)","retries":3}}"#,
                "```python\nclient = Client(\"\(s)\")\nprint(client)\n```", "Here it is: \(s)", "(\(s)) was in the log line above"][i % 5]
    }

    static let negatives: [String] = {
        var out: [String] = []
        for i in 0..<40 {
            out.append("request \(UUID().uuidString.lowercased()) failed")
            out.append("commit \(r(40, "0123456789abcdef")) fixed it")
            var card = Array(luhnComplete("4", length: 16)); card[15] = Character(String((Int(String(card[15]))! + 1) % 10))
            out.append("order number \(String(card)) shipped")
            out.append("upgrade to version \(1 + i % 5).\(i % 13).\(i % 7) today, or v\(i).2.3.4 for legacy")
            out.append("we use sk-learn and the sk-based approach for task-\(i)")
            out.append("timestamp \(1_700_000_000 + i * 977) and date 2025-0\(1 + i % 9)-1\(i % 9)")
            out.append(#"{"max_tokens": \#(256 + i), "total_tokens": 99, "password_reset": "enabled"}"#)
            out.append("sha256 \(r(64, "0123456789abcdef")) matches; base64 \(r(40, alnum))")
            out.append("SKU-\(10_000_000 + i * 31) costs $\(i).99 at 12:30:45, build 1.2.3.4.5")
            out.append("ticket #\(100 + i)-\(2000 + i) and room 4\(i % 10)2")
        }
        return out
    }()

    func testCorpusRecallAndPrecisionPerDetector() throws {
        let redactor = try Redactor(config: SensorConfig.Redaction())
        var planted: [String: Int] = [:], caught: [String: Int] = [:], reported: [String: Int] = [:], correct: [String: Int] = [:]
        var failures: [String] = []
        var positives = 0
        for type in Self.types {
            for i in 0..<40 {
                let s = Self.secret(type, i)
                let text = Self.embed(type, s, i)
                positives += 1
                planted[type, default: 0] += 1
                let findings = redactor.scanner.scan(text)
                let bytes = Array(text.utf8)
                let secretBytes = Array(s.utf8)
                // where the planted secret sits
                var at = -1
                for k in 0...(bytes.count - secretBytes.count) where Array(bytes[k..<(k + secretBytes.count)]) == secretBytes { at = k; break }
                let covering = findings.filter { $0.start <= at && $0.end >= at + secretBytes.count && $0.type == type }
                if !covering.isEmpty { caught[type, default: 0] += 1 } else { failures.append("missed \(type): \(text) → \(findings)") }
                for f in findings {
                    reported[f.type, default: 0] += 1
                    // a finding is right when it overlaps the planted secret with the right type
                    if f.type == type && f.start < at + secretBytes.count && f.end > at { correct[f.type, default: 0] += 1 }
                    else if f.type == "api_key" && type == "aws_secret_key" { correct[f.type, default: 0] += 1 } // the AKIA id next to it is a real key
                    else { failures.append("wrong \(f.type) in: \(text)") }
                }
            }
        }
        for text in Self.negatives {
            for f in redactor.scanner.scan(text) {
                reported[f.type, default: 0] += 1
                failures.append("false positive \(f.type): \(String(decoding: Array(text.utf8)[f.start..<f.end], as: UTF8.self)) in \(text)")
            }
        }
        print("redaction corpus: \(positives) planted secrets, \(Self.negatives.count) look-alikes")
        for type in Self.types {
            let recall = Double(caught[type] ?? 0) / Double(planted[type] ?? 1)
            let precision = reported[type].map { Double(correct[type] ?? 0) / Double($0) } ?? 1
            print(String(format: "  %-15@ recall %.3f  precision %.3f", type as NSString, recall, precision))
            XCTAssertGreaterThanOrEqual(recall, 0.99, "\(type) recall")
            XCTAssertGreaterThanOrEqual(precision, 0.98, "\(type) precision")
        }
        XCTAssertGreaterThanOrEqual(positives, 300)
        XCTAssertGreaterThanOrEqual(Self.negatives.count, 300)
        if !failures.isEmpty { print(failures.prefix(15).joined(separator: "\n")) }
    }

    func event(_ content: String) -> OISPEvent {
        OISPEvent(eventType: "ai.request", process: .init(pid: 7, cmdline: "python3 app.py"),
                  data: ["messages": [["role": "user", "content": .string(content)]],
                         "tools": [["name": "t", "arguments": .string(#"{"key":"\#(content)"}"#)]]])
    }

    func testMinimalLeavesNoContentAndHashesAreKeyed() throws {
        var cfg = SensorConfig.Redaction()
        cfg.mode = .minimal
        cfg.hashSalt = "salt-one"
        let a = try Redactor(config: cfg)
        var e = event("hello world, my email is a@b.io")
        a.redact(&e)
        let msg = e.data["messages"]?.arrayValue?.first?["content"]
        let red = try XCTUnwrap(msg?["$redacted"])
        XCTAssertEqual(red["original_length"], 31)
        XCTAssertEqual(red["reason"], "minimal_mode")
        XCTAssertEqual(red["findings"]?.arrayValue?.first?["type"], "email")
        XCTAssertFalse(e.jsonString().contains("hello world"), "no content at all in minimal mode")
        var e2 = event("hello world, my email is a@b.io")
        a.redact(&e2)
        XCTAssertEqual(e2.data["messages"]?.arrayValue?.first?["content"]?["$redacted"]?["hash"], red["hash"], "stable for the same salt")
        cfg.hashSalt = "salt-two"
        var e3 = event("hello world, my email is a@b.io")
        try Redactor(config: cfg).redact(&e3)
        XCTAssertNotEqual(e3.data["messages"]?.arrayValue?.first?["content"]?["$redacted"]?["hash"], red["hash"], "differs across salts")
        XCTAssertTrue(red["hash"]?.stringValue?.hasPrefix("sha256:") == true)
    }

    func testCustomPatternsAndInvalidRegex() throws {
        let c = try SensorConfig.parse("""
        [redaction]
        mode = "safe"
        custom_patterns = [{ name = "employee_id", pattern = "EMP-[0-9]{6}" }, "PROJ-[A-Z]{4}"]
        """, file: "c.toml", env: [:])
        let r = try Redactor(config: c.redaction)
        var e = event("ask EMP-123456 about PROJ-ABCD")
        r.redact(&e)
        XCTAssertEqual(e.data["messages"]?.arrayValue?.first?["content"], "ask [REDACTED:employee_id] about [REDACTED:custom_2]")
        XCTAssertThrowsError(try SensorConfig.parse("[redaction]\ncustom_patterns = [\"([unclosed\"]\n", file: "c.toml", env: [:])) { err in
            XCTAssertTrue("\(err)".contains("([unclosed"), "\(err)")
            XCTAssertEqual((err as? ConfigError)?.line, 2)
        }
        let cli = try TestSupport.tempDir("badre")
        defer { try? FileManager.default.removeItem(at: cli) }
        try TestSupport.write("[redaction]\ncustom_patterns = [{ name = \"bad\", pattern = \"(?<\" }]\n", to: cli.appendingPathComponent("c.toml"))
        let res = try TestSupport.run(TestSupport.sensor, ["demo", "-c", cli.appendingPathComponent("c.toml").path])
        XCTAssertEqual(res.status, 78)
        XCTAssertTrue(res.stderr.contains("'bad'"), res.stderr)
    }

    /// Replays events carrying every kind of secret into the JSONL output and a plugin exporter;
    /// greps every byte written for every planted secret.
    func testNoSecretReachesAnyOutput() throws {
        let dir = try TestSupport.tempDir("redact-e2e")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TestSupport.compilePlugin([TestSupport.packageRoot.appendingPathComponent("sdk/examples/file_exporter.c").path],
                                      to: dir.appendingPathComponent("liboisp-exporter-cfile.so"))
        var secrets: [String] = []
        var lines: [String] = []
        for (k, type) in Self.types.enumerated() {
            for i in 0..<3 {
                let s = Self.secret(type, i + k)
                secrets.append(s)
                var e = event(Self.embed(type, s, i))
                e.data["raw"] = .string("POST /v1 HTTP/1.1\r\nAuthorization: Bearer \(s)\r\nx-api-key: \(s)\r\n\r\n")
                lines.append(e.jsonString())
            }
        }
        let input = dir.appendingPathComponent("in.jsonl")
        try TestSupport.write(lines.joined(separator: "\n") + "\n", to: input)
        for mode in ["safe", "minimal", "full"] {
            let out = dir.appendingPathComponent("\(mode).jsonl"), plug = dir.appendingPathComponent("\(mode)-plugin.jsonl")
            let cfg = dir.appendingPathComponent("\(mode).toml")
            try TestSupport.write("[plugins]\ndir = \"\(dir.path)\"\n[export.cfile]\nenabled = true\npath = \"\(plug.path)\"\n", to: cfg)
            let r = try TestSupport.run(TestSupport.sensor, ["replay", "-c", cfg.path, "--input", input.path, "--output", out.path, "--redaction", mode])
            XCTAssertEqual(r.status, 0, r.stderr)
            let written = (try String(contentsOf: out, encoding: .utf8)) + (try String(contentsOf: plug, encoding: .utf8))
            XCTAssertEqual(TestSupport.lines(out).count, lines.count)
            let leaked = secrets.filter { written.contains($0) || written.contains(JSONValue.string($0).jsonString().dropFirst().dropLast()) }
            if mode == "full" {
                XCTAssertFalse(leaked.isEmpty, "full mode keeps content")
                XCTAssertTrue(r.stderr.contains("redaction mode is 'full'"), "full mode warns")
            } else {
                XCTAssertEqual(leaked, [], "\(mode): secrets leaked")
            }
            XCTAssertFalse(written.contains("Authorization: Bearer sk-"), "\(mode): auth header values never exported")
        }
    }
}

/// The scanner's pre-check (`mayHoldFinding`) may only pass over text in which the detectors,
/// run word by word, find nothing.
final class ScannerPrecheckTests: XCTestCase {
    func testPrecheckNeverHidesAFinding() throws {
        var rng = SplitMix(seed: 77)
        let sc = SecretScanner()
        // near misses: letters, spaces, punctuation the pre-check ignores, long words, bearer-ish
        // words in any case, and now and then one byte it looks for
        let pieces = ["the", "incident", "report", "internationalization", "Bearer", "bEaReR", "bearing", "earer",
                      "abcdefghijklmnopqrstuvwxyz", "ZYXWVUTSRQPONMLKJIH", "AIza", "eyJ", "key", "secret", "token",
                      "password", "pwd", ".", ",", "/", "+", "(", ")", "~", "\n", "\r\n", "é", "日本", " ", "  ",
                      "Authorization", "cookie", "x", "9", ":", "=", "@", "-", "_", "A", "J"]
        var skipped = 0, checked = 0
        for _ in 0..<30_000 {
            var s = ""
            for _ in 0..<(1 + Int(rng.next() % 24)) {
                let p = pieces[Int(rng.next() % UInt64(pieces.count))]
                s += p
                if rng.next() % 3 == 0 { s += " " }
            }
            var t = s
            let (pre, found) = t.withUTF8 { (SecretScanner.mayHoldFinding($0), sc.scanWords($0)) }
            checked += 1
            if !pre {
                skipped += 1
                XCTAssertEqual(found, [], "the pre-check passed over a finding in \(s.debugDescription)")
            }
        }
        XCTAssertGreaterThan(skipped, 1000, "the generator must give text the pre-check passes over")
        XCTAssertGreaterThan(checked - skipped, 1000)
        // every secret of the detector corpus is seen by the pre-check, bare and embedded
        for type in RedactionTests.types {
            for i in 0..<40 {
                let secret = RedactionTests.secret(type, i)
                for text in [secret, RedactionTests.embed(type, secret, i)] {
                    var t = text
                    XCTAssertTrue(t.withUTF8 { SecretScanner.mayHoldFinding($0) }, "\(type): \(text.debugDescription)")
                }
            }
        }
        // secrets of letters only (no digit, '-', '_', ':', '=' or '@'): what 'A', 'J' and
        // "bearer" are looked for
        for (text, type) in [("see eyJabcdefghijk.abcdefghijkl.mnopqrstuvwx here", "jwt"),
                             ("AIza" + String(repeating: "Q", count: 35), "api_key"),
                             ("AKIAQWERTYUIOPASDFGH", "api_key"),
                             // a provider's named prefix needs no digit after it (test keys, placeholders)
                             ("key sk-proj-" + String(repeating: "A", count: 32) + " end", "api_key"),
                             ("sk-ant-api-" + String(repeating: "x", count: 40), "api_key"),
                             ("sk-svcacct-" + String(repeating: "Q", count: 24), "api_key"),
                             ("sk-or-v1-" + String(repeating: "f", count: 64), "api_key"),
                             ("gsk_" + String(repeating: "b", count: 52), "api_key"),
                             ("token glpat-abcdEFGH1234ijklMNOP here", "api_key"),
                             ("glpat-" + String(repeating: "Z", count: 20), "api_key"),
                             ("glpat-" + String(repeating: "Z", count: 20) + "_for_the_prod_deploy_pipeline_variables_2024_" + String(repeating: "q", count: 40), "api_key")] {
            var t = text
            XCTAssertTrue(t.withUTF8 { SecretScanner.mayHoldFinding($0) }, text)
            XCTAssertEqual(sc.scan(text).map(\.type), [type], text)
        }
        // bearer tokens of letters only, any case, at any offset across the 8-byte steps
        for pad in 0..<9 {
            for word in ["Bearer", "bearer", "BEARER", "bEArer"] {
                let text = String(repeating: "x", count: pad) + " \(word) abcdefghijklmnopqrstuvwx"
                var t = text
                XCTAssertTrue(t.withUTF8 { SecretScanner.mayHoldFinding($0) })
                XCTAssertEqual(sc.scan(text).map(\.type), ["api_key"], text)
            }
        }
    }
}
