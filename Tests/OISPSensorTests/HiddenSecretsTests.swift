import Foundation
import OISPConfig
import OISPEvent
@testable import OISPRedact
import XCTest

/// Secrets where a value scanner does not look: used as JSON member names (header maps, caches
/// keyed by token) and wrapped in base64 / base64url (Basic auth, data URLs, SDK debug dumps).
/// A corpus of 120 secrets of each form and 60 look-alikes goes through `oisp redact` and
/// `oisp replay` (the byte lane where it applies) in `safe` and `minimal`.
final class HiddenSecretsTests: XCTestCase {
    static var rng = SplitMix(seed: 4242)

    /// The 120 secrets: every detector type of the main corpus, 120 in all.
    static let secrets: [String] = {
        var out: [String] = []
        var i = 0
        while out.count < 120 {
            let type = ["api_key", "api_key", "api_key", "jwt", "email", "credit_card", "ssn", "api_key"][i % 8]
            out.append(RedactionTests.secret(type, i))
            i += 1
        }
        return out
    }()

    static func b64(_ s: String, url: Bool, pad: Bool) -> String {
        var t = Data(s.utf8).base64EncodedString()
        if url { t = t.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") }
        if !pad { while t.hasSuffix("=") { t.removeLast() } }
        return t
    }

    /// The ways a base64 text carrying the secret appears in captured bodies.
    static func wrapped(_ s: String, _ i: Int) -> String {
        let plain = [#"token=\#(s)"#, "Authorization: Bearer \(s)", #"{"api_key":"\#(s)","user":"u\#(i)"}"#,
                     "svc-user:\(s)", "config dump\napi_key: \(s)\nregion: eu"][i % 5]
        let enc = b64(plain, url: i % 2 == 1, pad: i % 3 != 0)
        switch i % 6 {
        case 0: return "the SDK logged \(enc) before the call"
        case 1: return "data:text/plain;base64,\(enc)"
        case 2: return "Basic \(enc)"
        case 3: return b64("nested: " + b64(plain, url: false, pad: true), url: false, pad: true) // base64 inside base64
        case 4: return enc + "."
        default: return #"{"blob":"\#(enc)"}"#
        }
    }

    /// Text that must pass untouched: base64 of harmless text and of binary data, long words and
    /// identifiers, hashes, and member names that look like the keys of an API.
    static let lookAlikes: [String] = {
        var out: [String] = []
        for i in 0..<12 {
            out.append(b64("The weather in Lisbon is sunny today, item \(i).", url: i % 2 == 0, pad: true))
            out.append(b64(String(decoding: (0..<48).map { _ in UInt8(truncatingIfNeeded: rng.next()) | 0x80 }, as: UTF8.self), url: false, pad: true))
            out.append(Data((0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).base64EncodedString())
            out.append("getUserAuthenticationTokenFromStorageService\(i)")
            out.append("internationalizationAndLocalization\(RedactionTests.r(8, "abcdefgh"))")
        }
        return out
    }()

    static func event(_ data: JSONObject, _ i: Int) -> OISPEvent {
        OISPEvent(eventType: "ai.request", ts: Timestamp(nanoseconds: 1_760_000_000_000_000_000 + Int64(i) * 1_000_000),
                  host: .init(hostname: "node-1"), process: .init(pid: 42, name: "python3"), data: data)
    }

    /// One line per secret as a member name (nested, beside a value that is no secret), one per
    /// base64 form, and one per look-alike (as a value and as a member name).
    static func corpus() -> (keys: [String], b64: [String], clean: [String]) {
        var keys: [String] = [], enc: [String] = [], clean: [String] = []
        for (i, s) in secrets.enumerated() {
            let data: JSONObject = ["model": "gpt-4o", "metadata": .object(JSONObject([(s, .string("value-\(i)")), ("note", "kept")])),
                                    "headers": ["x-trace": .string("t\(i)")]]
            keys.append(event(data, i).jsonString())
            enc.append(event(["model": "gpt-4o", "messages": [["role": "user", "content": .string(wrapped(s, i))]],
                              "debug": .string(wrapped(s, i + 1))], i).jsonString())
        }
        for (i, l) in lookAlikes.enumerated() {
            clean.append(event(["model": "gpt-4o", "messages": [["role": "user", "content": .string("see \(l) here")]],
                                "metadata": .object(JSONObject([(l, .int(Int64(i))), ("max_tokens", 256), ("sk-learn-model", "v2")]))], i).jsonString())
        }
        return (keys, enc, clean)
    }

    /// Forms in which a secret could be read back from the output.
    static func traces(_ s: String) -> [String] {
        [s, JSONValue.string(s).jsonString().dropFirst().dropLast().description] +
            [false, true].flatMap { url in [true, false].map { pad in b64(s, url: url, pad: pad) } }.map { String($0.prefix(24)) }
    }

    func testNoSecretSurvivesInKeysOrBase64() throws {
        let dir = try TestSupport.tempDir("hidden")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (keys, enc, clean) = Self.corpus()
        XCTAssertEqual(keys.count, 120)
        XCTAssertEqual(enc.count, 120)
        XCTAssertEqual(clean.count, 60)
        let input = dir.appendingPathComponent("in.jsonl")
        try TestSupport.write((keys + enc + clean).joined(separator: "\n") + "\n", to: input)
        let cfg = dir.appendingPathComponent("c.toml")
        try TestSupport.write("[redaction]\nhash_salt = \"hidden-test\"\n", to: cfg)
        for mode in ["safe", "minimal"] {
            for cmd in ["redact", "replay"] {
                let out = dir.appendingPathComponent("\(mode)-\(cmd).jsonl")
                let r = try TestSupport.run(TestSupport.sensor, [cmd, "-c", cfg.path, "--input", input.path, "--output", out.path, "--redaction", mode])
                XCTAssertEqual(r.status, 0, r.stderr)
                let lines = TestSupport.lines(out)
                XCTAssertEqual(lines.count, 300, "\(mode) \(cmd): every line out")
                let text = lines.joined(separator: "\n")
                var survived = 0, checked = 0
                for s in Self.secrets {
                    checked += 1
                    if let t = Self.traces(s).first(where: { text.contains($0) }) {
                        survived += 1
                        print("\(mode) \(cmd): survived: \(t) in \(lines.first { $0.contains(t) } ?? "")")
                    }
                }
                XCTAssertEqual(checked, 120)
                XCTAssertEqual(survived, 0, "\(mode) \(cmd): secrets survived")
                // member names: the object keeps its members, the secret's one renamed, the value kept
                for l in lines {
                    let e = try OISPEvent(jsonBytes: Array(l.utf8))
                    guard let meta = e.data["metadata"]?.objectValue, meta["note"] != nil else { continue }
                    XCTAssertEqual(meta.count, 2, l)
                    XCTAssertTrue(meta.keys.contains { $0.hasPrefix("[REDACTED:") }, l)
                    XCTAssertTrue(meta.contains { $0.value.stringValue?.hasPrefix("value-") == true }, "the value under a redacted name is kept: \(l)")
                    let fields = e.ext?["oisp.redaction"]?["fields"]?.arrayValue ?? []
                    XCTAssertTrue(fields.contains { $0["part"]?.stringValue == "key" && $0["path"]?.stringValue?.hasPrefix("data.metadata.[REDACTED:") == true }, l)
                }
            }
        }
        // look-alikes: nothing in them is touched (safe: content kept, so compare the text)
        let safe = TestSupport.lines(dir.appendingPathComponent("safe-redact.jsonl")).suffix(60)
        var touched = 0
        for (l, original) in zip(safe, clean) {
            let a = try OISPEvent(jsonBytes: Array(l.utf8)), b = try OISPEvent(jsonBytes: Array(original.utf8))
            if a.data != b.data { touched += 1; print("look-alike changed: \(original)") }
        }
        XCTAssertEqual(touched, 0, "0 of 60 look-alikes redacted")
    }

    func testRedactedNamesNeverCollide() throws {
        var cfg = SensorConfig.Redaction()
        cfg.hashSalt = "x"
        let r = try Redactor(config: cfg)
        let a = RedactionTests.secret("api_key", 0), b = RedactionTests.secret("api_key", 10)
        var e = Self.event(["headers": .object(JSONObject([(a, 1), ("[REDACTED:api_key]#2", 2), (b, 3), ("plain", 4)]))], 0)
        r.redact(&e)
        let h = try XCTUnwrap(e.data["headers"]?.objectValue)
        XCTAssertEqual(h.keys, ["[REDACTED:api_key]", "[REDACTED:api_key]#2", "[REDACTED:api_key]#3", "plain"])
        XCTAssertEqual(h.map { $0.value.intValue }, [1, 2, 3, 4], "order and values kept")
        let fields = e.ext?["oisp.redaction"]?["fields"]?.arrayValue ?? []
        XCTAssertEqual(fields.compactMap { $0["path"]?.stringValue }, ["data.headers.[REDACTED:api_key]", "data.headers.[REDACTED:api_key]#3"])
        // values below a redacted name are found at the redacted path (the path never holds the secret)
        var e2 = Self.event(["cache": .object(JSONObject([(a, JSONValue.object(["email": .string("x.y@example.com")]))]))], 1)
        r.redact(&e2)
        XCTAssertFalse(e2.jsonString().contains(a))
        XCTAssertTrue(e2.jsonString().contains(#""path":"data.cache.[REDACTED:api_key].email""#), e2.jsonString())
    }

    /// The redacting writer gives the tree reference's bytes for secrets in member names, in
    /// base64 and in look-alikes.
    func testWriterMatchesTheTreeReference() throws {
        let (keys, enc, clean) = Self.corpus()
        let r = try RedactingWriterTests.redactor(.safe)
        var same = 0, rewrote = 0
        for l in keys + enc + clean {
            let e = try OISPEvent(jsonBytes: Array(l.utf8))
            let (got, report) = r.jsonBytes(e)
            XCTAssertEqual(String(decoding: got, as: UTF8.self), String(decoding: TreeRedaction(redactor: r).bytes(e), as: UTF8.self))
            same += 1
            if report.rewrote { rewrote += 1 }
        }
        XCTAssertEqual(same, keys.count + enc.count + clean.count)
        XCTAssertGreaterThanOrEqual(rewrote, 120, "secret member names and encoded secrets are rewritten")
    }

    func testBase64ScanStopsEarlyOnBinary() throws {
        let sc = SecretScanner()
        // 1 MiB of random bytes as base64: given up after the first decoded bytes, no finding
        var g = SplitMix(seed: 9)
        let blob = Data((0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: g.next()) }).base64EncodedString()
        XCTAssertEqual(sc.scan("data:image/png;base64,\(blob)"), [])
        // a secret at the end of a long base64 text is still found
        let text = String(repeating: "lorem ipsum dolor sit amet ", count: 2000) + "token=" + RedactionTests.secret("api_key", 3)
        XCTAssertEqual(sc.scan(Self.b64(text, url: false, pad: true)).map(\.type), ["api_key"])
    }

    /// Without `hash_salt` the hash key is random per install: created 0600 on first use, the
    /// same across restarts, different on another install; `config check` says which.
    func testPerInstallHashKey() throws {
        let dir = try TestSupport.tempDir("hashkey")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.jsonl")
        try TestSupport.write(Self.event(["messages": [["role": "user", "content": "my SSN is 272-68-7424"]]], 0).jsonString() + "\n", to: input)
        func hashWith(_ keyFile: URL, _ name: String) throws -> (hash: String, check: String) {
            let cfg = dir.appendingPathComponent("\(name).toml")
            try TestSupport.write("[redaction]\nkey_file = \"\(keyFile.path)\"\n", to: cfg)
            let check = try TestSupport.run(TestSupport.sensor, ["config", "check", "-c", cfg.path])
            XCTAssertEqual(check.status, 0, check.stderr)
            let out = dir.appendingPathComponent("\(name).jsonl")
            let r = try TestSupport.run(TestSupport.sensor, ["redact", "-c", cfg.path, "--input", input.path, "--output", out.path, "--redaction", "minimal"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let e = try OISPEvent(jsonBytes: Array(TestSupport.lines(out)[0].utf8))
            return (try XCTUnwrap(e.data["messages"]?.arrayValue?.first?["content"]?["$redacted"]?["hash"]?.stringValue), check.stderr)
        }
        let keyA = dir.appendingPathComponent("state-a/redaction.key"), keyB = dir.appendingPathComponent("state-b/redaction.key")
        let first = try hashWith(keyA, "a1")
        XCTAssertTrue(first.check.contains("per-install random key created in \(keyA.path) (0600)"), first.check)
        let attrs = try FileManager.default.attributesOfItem(atPath: keyA.path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(try String(contentsOf: keyA, encoding: .utf8).count, 65, "32 random bytes in hex and a newline")
        let again = try hashWith(keyA, "a2")
        XCTAssertEqual(again.hash, first.hash, "the same key across restarts")
        XCTAssertTrue(again.check.contains("per-install random key in \(keyA.path)"), again.check)
        let other = try hashWith(keyB, "b")
        XCTAssertNotEqual(other.hash, first.hash, "another install, another key")
        XCTAssertFalse(first.check.contains(try String(contentsOf: keyA, encoding: .utf8).prefix(64)), "the key itself is never printed")
    }
}
