import Foundation
import OISPConfig
import OISPEvent
import OISPPipeline
@testable import OISPRedact
import OISPRuntime
import XCTest

/// The redacting writer (the one implementation of redaction: every command writes through it)
/// against an independent reference: the same rules applied to the event's tree, then the plain
/// writer (`TreeRedaction`). Byte for byte, in every mode, over varied events.
final class RedactingWriterTests: XCTestCase {
    static func redactor(_ mode: SensorConfig.Redaction.Mode, custom: [SensorConfig.CustomPattern] = []) throws -> Redactor {
        var cfg = SensorConfig.Redaction()
        cfg.mode = mode
        cfg.hashSalt = "writer-test"
        cfg.customPatterns = custom
        return try Redactor(config: cfg)
    }

    func assertSame(_ e: OISPEvent, _ r: Redactor, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let want = TreeRedaction(redactor: r).bytes(e)
        let (got, report) = r.jsonBytes(e)
        XCTAssertEqual(String(decoding: got, as: UTF8.self), String(decoding: want, as: UTF8.self), file: file, line: line)
        // the report says what ext says
        let back = try? OISPEvent(jsonBytes: got)
        let info = back?.ext?["oisp.redaction"]
        if report.rewrote {
            let findings = info?["findings"]?.arrayValue?.map { "\($0["type"]!.stringValue!)=\($0["count"]!.intValue!)" } ?? []
            XCTAssertEqual(findings, report.findings.map { "\($0.type)=\($0.count)" }, file: file, line: line)
        }
        return report.rewrote
    }

    func testWriterMatchesTheTreeReferenceInEveryMode() throws {
        let events = RedactingWriterTests.corpus(900)
        for mode in [SensorConfig.Redaction.Mode.safe, .minimal, .full] {
            let r = try RedactingWriterTests.redactor(mode)
            var rewrote = 0
            for e in events where assertSame(e, r) { rewrote += 1 }
            switch mode {
            case .safe: XCTAssertGreaterThan(rewrote, 250, "safe")    // every third event holds a secret
            case .minimal: XCTAssertEqual(rewrote, events.count)    // every event has content
            case .full: XCTAssertEqual(rewrote, 0, "full")            // no HTTP header text in this corpus
            }
        }
    }

    /// Member names holding secrets (renamed, with a suffix when the new name is taken), custom
    /// pattern names that need escapes, findings merged into an `ext` that has members, and an
    /// `oisp.redaction` carried in from an earlier run.
    func testNamesCustomPatternsAndExtMatchTheReference() throws {
        let custom: [SensorConfig.CustomPattern] = [.init(name: "ticket \"id\"\\x", pattern: "TCK-[0-9]{6}"),
                                                               .init(name: "zz_order", pattern: "ORD[0-9]{4}")]
        let key1 = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34", key2 = "sk-proj-Zz98Yy76Xx54Ww32Vv10Uu98Tt76"
        var checked = 0, rewrites = 0
        for mode in [SensorConfig.Redaction.Mode.safe, .minimal, .full] {
            let r = try RedactingWriterTests.redactor(mode, custom: custom)
            let datas: [JSONObject] = [
                ["headers": .object(["Bearer \(key1)": "a", "[REDACTED:api_key]": "taken",
                                     "Bearer \(key2)": "b", "x": .string("TCK-123456 ORD1234 ops@example.com")])],
                ["cache": .object([key1: .object(["content": .string("and \(key2)")]), "n": .int(3)]),
                 "messages": .array([["role": "user", "content": .array([.string("a TCK-654321"), .int(7), .null, .bool(true)])]])],
                ["raw": .string("POST /v1/chat HTTP/1.1\r\nAuthorization: Bearer \(key2)\r\nx-api-key: \(key1)\r\n\r\n"),
                 "k\"ey": .string("tab\there ORD9999 \"quoted\""), "request_id": .string(key1), "deep": .array([.array([.string(key1)])])],
                ["messages": .array([["role": "user", "content": .string("")]])],
            ]
            let exts: [JSONObject?] = [nil, ["vendor.x": 1], ["oisp.redaction": ["mode": "safe", "findings": [], "fields": []], "z": "after"]]
            for d in datas {
                for x in exts {
                    let e = OISPEvent(eventType: "ai.request", host: .init(hostname: "h"),
                                      process: .init(pid: 7, cmdline: "curl -H 'Authorization: Bearer \(key1)' --data ORD0001"),
                                      ext: x, data: d)
                    if assertSame(e, r) { rewrites += 1 }
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 36)
        XCTAssertGreaterThanOrEqual(rewrites, 12 + 12 + 3) // safe and minimal: all; full: the header lines
    }

    /// The record the pipeline hands to exporters: the writer's bytes, and flags that say it was
    /// redacted (or carried a redaction in) and whether it was partial.
    func testRecordFlagsAndFindingCounts() throws {
        let r = try RedactingWriterTests.redactor(.safe)
        let stage = RedactionStage(r)
        let clean = OISPEvent(eventType: "ai.request", data: ["messages": .array([["role": "user", "content": "hello"]])])
        let dirty = OISPEvent(eventType: "ai.request", confidence: .init(level: "low", completeness: "partial", reasons: []),
                              data: ["messages": .array([["role": "user", "content": "mail ops@example.com, ops2@example.com"]])])
        let carried = OISPEvent(eventType: "ai.request", ext: ["oisp.redaction": ["mode": "safe"]], data: ["x": "y"])
        XCTAssertEqual(stage.record(for: clean).flags, 0)
        XCTAssertEqual(Array(stage.record(for: clean).json), clean.jsonBytes())
        let d = stage.record(for: dirty)
        XCTAssertEqual(d.flags, UInt32(3)) // REDACTED | TRUNCATED
        XCTAssertFalse(String(decoding: d.json, as: UTF8.self).contains("@example.com"))
        XCTAssertEqual(r.jsonBytes(dirty).report.findings.map { $0.count }, [2])
        XCTAssertEqual(stage.record(for: carried).flags, UInt32(2)) // OISP_RECORD_FLAG_REDACTED
        // queues count a record by its bytes: it holds no more memory than that
        for rec in [stage.record(for: clean), d, stage.record(for: dirty, fields: .call)] {
            XCTAssertLessThanOrEqual(rec.storage.capacity, rec.storage.count + rec.storage.count / 8 + 32, "\(rec.storage.count) bytes")
        }
        // `redact(&e)` is the writer read back
        var e = dirty
        XCTAssertTrue(r.redact(&e))
        XCTAssertEqual(e.jsonBytes(), Array(d.json))
    }

    /// Duplicate member names (JSON from another writer may have them): each is written and each
    /// is redacted; and the record fields made before writing come only from members the writer
    /// never rewrites, so they say what the redacted JSON says.
    func testDuplicateMembersAreEachRedactedAndFieldsComeFromSkippedMembers() throws {
        let r = try RedactingWriterTests.redactor(.safe)
        let key = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34"
        let line = #"{"event_id":"01M96QNBM3X26H1Q9HHP8Y0YDQ","event_type":"ai.request","ts":"2026-12-07T00:00:00Z","data":{"note":"a \#(key)","note":"b \#(key)"}}"#
        let e = try OISPEvent(jsonBytes: Array(line.utf8))
        let out = String(decoding: r.jsonBytes(e).bytes, as: UTF8.self)
        XCTAssertFalse(out.contains(key), out)
        XCTAssertEqual(out.components(separatedBy: "[REDACTED:api_key]").count - 1, 2, out)
        for k in ["request_id", "provider", "model", "provider_request_id", "finish_reason"] {
            XCTAssertTrue(Redactor.skipKeys.contains(k), "RecordField reads data.\(k) before redaction: it must stay a skip key")
        }
    }

    /// Varied events: secrets in content, arguments, nested arrays and the command line; skip
    /// keys; escapes; non-ASCII; doubles, nulls, booleans; optional envelope parts on and off.
    /// `fewProcesses`: pids from a set of three, so envelope objects repeat as on a real node.
    static func corpus(_ n: Int, fewProcesses: Bool = false) -> [OISPEvent] {
        var out: [OISPEvent] = []
        for i in 0..<n {
            let type = RedactionTests.types[i % RedactionTests.types.count]
            let secret = RedactionTests.secret(type, i)
            var text = i % 3 == 0 ? RedactionTests.embed(type, secret, i) : "plain words number \(i) with nothing to hide"
            // findings in non-ASCII text and across CR LF pairs (characters ≠ bytes)
            if i % 3 == 0 && i % 2 == 1 { text = "Olá — ünïcödé 🚀 " + text + (i % 4 == 1 ? "\r\nnext line ✓" : " fin ✓") }
            var data: JSONObject = ["request_id": .string("req_\(i)"), "provider": "openai", "model": "gpt-4o-mini"]
            var msgs: [JSONValue] = [["role": "system", "content": .string(i % 5 == 0 ? "Tabs\tand \"quotes\" and \\ and \u{1}" : "You are helpful")],
                                     ["role": "user", "content": .string(text)]]
            if i % 4 == 0 { msgs.append(["role": "assistant", "content": .string("Olá — ünïcödé ✓ 🚀 \(i)")]) }
            if i % 6 == 0 { msgs.append(["role": "user", "content": .array([["type": "text", "text": .string("see \(RedactionTests.secret("email", i))")]])]) }
            data["messages"] = .array(msgs)
            data["temperature"] = [.double(0.7), .double(1.0), .int(1), .double(1e-7), .double(123456.789), .null][i % 6]
            data["stream"] = .bool(i % 2 == 0)
            if i % 7 == 0 { data["tool_calls"] = .array([["id": .string("call_\(i)"), "arguments": .string(#"{"token":"\#(RedactionTests.secret("api_key", i))"}"#)]]) }
            if i % 9 == 0 { data["key_hash"] = .string("sha256:\(RedactionTests.r(64, "0123456789abcdef"))") }
            var e = OISPEvent(eventType: i % 2 == 0 ? "ai.request" : "ai.response",
                              ts: Timestamp(nanoseconds: 1_764_000_000_000_000_000 + Int64(i) * 1_234_000),
                              host: i % 11 == 0 ? nil : .init(hostname: "node-\(i % 3)", os: "linux"),
                              process: i % 13 == 0 ? nil : .init(pid: Int64(1000 + (fewProcesses ? i % 3 : i)), ppid: 1, exe: "/usr/bin/python3", name: "python3",
                                                                cmdline: i % 8 == 0 ? "curl -H \"Authorization: Bearer \(RedactionTests.secret("api_key", 0))\" https://x" : "python3 app.py"),
                              source: .init(captureMethod: "ebpf_uprobe"),
                              confidence: i % 5 == 1 ? .init(level: "medium", completeness: "partial", reasons: ["truncated"]) : nil,
                              attrs: i % 10 == 0 ? ["note": .string("attrs are not scanned \(secret)")] : nil,
                              ext: i % 17 == 0 ? ["vendor.x": .int(Int64(i))] : nil,
                              relatedEvents: i % 2 == 1 ? [.init(eventID: ULID.make(), relationship: "response_to")] : nil,
                              traceContext: i % 3 == 1 ? .init(traceID: String(repeating: "a", count: 32), spanID: String(repeating: "b", count: 16), traceFlags: 1) : nil,
                              data: data)
            if i % 19 == 0 { e.tsMono = UInt64(i) * 99 }
            out.append(e)
        }
        return out
    }
}
