import Foundation
import OISPConfig
import OISPEvent
import OISPPipeline
import OISPRedact
import XCTest

/// The byte-level redaction lane must give exactly what the general path (parse → redact →
/// serialise) gives, or decline; it must never accept a line the general path rejects.
final class CanonicalLaneTests: XCTestCase {
    static func redactor(_ mode: SensorConfig.Redaction.Mode) throws -> Redactor {
        var cfg = SensorConfig.Redaction()
        cfg.mode = mode
        cfg.hashSalt = "lane-test"
        return try Redactor(config: cfg)
    }

    /// The general path's bytes and record for one line, or nil when it rejects the line.
    static func general(_ line: [UInt8], _ r: Redactor) -> ExportRecord? {
        guard var e = try? OISPEvent(jsonBytes: line) else { return nil }
        r.redact(&e)
        return ExportRecord(event: e)
    }

    /// The lane's event is the general path's record: bytes, id, type, time, partition key, flags.
    static func assertSame(_ got: CanonicalEvent, _ want: ExportRecord, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(String(decoding: got.json, as: UTF8.self), String(decoding: want.json, as: UTF8.self), file: file, line: line)
        XCTAssertEqual(got.eventID, want.eventID, file: file, line: line)
        XCTAssertEqual(got.eventType, want.eventType, file: file, line: line)
        XCTAssertEqual(got.timestampNs, want.timestampNs, file: file, line: line)
        XCTAssertEqual(got.partitionKey, want.partitionKey, file: file, line: line)
        XCTAssertEqual((got.redacted ? 2 : 0) | (got.partial ? 1 : 0), want.flags, file: file, line: line)
    }

    static func lane(_ line: [UInt8], _ r: Redactor, memo: LaneMemo? = nil) -> CanonicalEvent? {
        line.withUnsafeBufferPointer { r.redactCanonical($0, memo: memo) }
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

    func testLaneMatchesGeneralPathByteForByte() throws {
        let events = CanonicalLaneTests.corpus(900)
        for mode in [SensorConfig.Redaction.Mode.safe, .full] {
            let r = try CanonicalLaneTests.redactor(mode)
            var taken = 0, redacted = 0
            for e in events {
                let line = e.jsonBytes()
                let want = try XCTUnwrap(CanonicalLaneTests.general(line, r))
                guard let got = CanonicalLaneTests.lane(line, r) else {
                    // the one documented decline for canonical input: findings to merge into an existing ext
                    XCTAssertTrue(e.ext != nil && Array(want.json) != line,
                                  "lane declined a canonical line: \(String(decoding: line, as: UTF8.self))")
                    continue
                }
                taken += 1
                CanonicalLaneTests.assertSame(got, want)
                if got.redacted { redacted += 1 }
            }
            // the lane carries the bulk, including events it redacts
            XCTAssertGreaterThan(taken, events.count * 9 / 10, "mode \(mode)")
            if mode == .safe { XCTAssertGreaterThan(redacted, 100) }
        }
        // minimal mode always takes the general path
        let m = try CanonicalLaneTests.redactor(.minimal)
        XCTAssertNil(CanonicalLaneTests.lane(events[0].jsonBytes(), m))
    }

    /// Custom pattern names are free text: one that needs JSON escapes, several finding types in
    /// one string and strings under escaped keys are written as the general path writes them.
    func testCustomNamesAndSeveralTypesMatchTheGeneralPath() throws {
        var cfg = SensorConfig.Redaction()
        cfg.hashSalt = "lane-test"
        cfg.customPatterns = [.init(name: "ticket \"id\"\\x", pattern: "TCK-[0-9]{6}"), .init(name: "zz_order", pattern: "ORD[0-9]{4}")]
        let r = try Redactor(config: cfg)
        let texts = ["see TCK-123456 and ops@example.com then ORD1234 and sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34",
                     "tab\there TCK-654321 \"quoted\" ORD9999", "nothing here", "ORD0001 only"]
        var compared = 0
        for (i, t) in texts.enumerated() {
            let data: JSONObject = ["messages": .array([["role": "user", "content": .string(t)]]),
                                    "k\"ey": .string(t), "list": .array([.string(t), .int(Int64(i))])]
            let line = OISPEvent(eventType: "ai.request", host: .init(hostname: "h"), data: data).jsonBytes()
            let want = try XCTUnwrap(CanonicalLaneTests.general(line, r))
            guard let got = CanonicalLaneTests.lane(line, r) else { continue }
            compared += 1
            XCTAssertEqual(String(decoding: got.json, as: UTF8.self), String(decoding: want.json, as: UTF8.self))
        }
        // without the escaped key the lane takes every line itself
        for t in texts {
            let data: JSONObject = ["messages": .array([["role": "user", "content": .string(t)]]), "list": .array([.string(t)])]
            let line = OISPEvent(eventType: "ai.request", host: .init(hostname: "h"), data: data).jsonBytes()
            let want = try XCTUnwrap(CanonicalLaneTests.general(line, r))
            let got = try XCTUnwrap(CanonicalLaneTests.lane(line, r))
            compared += 1
            XCTAssertEqual(String(decoding: got.json, as: UTF8.self), String(decoding: want.json, as: UTF8.self))
        }
        XCTAssertGreaterThanOrEqual(compared, 4)
    }

    func testSecretsNeverPassTheLane() throws {
        let r = try CanonicalLaneTests.redactor(.safe)
        for (i, type) in RedactionTests.types.enumerated() {
            for k in 0..<20 {
                let s = RedactionTests.secret(type, i * 20 + k)
                let e = OISPEvent(eventType: "ai.request", host: .init(hostname: "h"), data: ["messages": .array([["role": "user", "content": .string(RedactionTests.embed(type, s, k))]])])
                let line = e.jsonBytes()
                guard let got = CanonicalLaneTests.lane(line, r) else { continue }
                let text = String(decoding: got.json, as: UTF8.self)
                // a secret that needed JSON escaping (a private key's newlines) is compared escaped
                let shown = String(decoding: JSONValue.string(s).jsonBytes().dropFirst().dropLast(), as: UTF8.self)
                XCTAssertFalse(text.contains(shown), "\(type) leaked: \(text)")
                XCTAssertEqual(got.json, CanonicalLaneTests.general(line, r)?.json)
            }
        }
    }

    func testNonCanonicalLinesGoToTheGeneralPath() throws {
        let r = try CanonicalLaneTests.redactor(.safe)
        let base = #"{"oisp_version":"0.1","event_id":"01J0000000000000000000000A","event_type":"ai.request","ts":"2025-12-22T14:30:16.345678Z","source":{"collector":"oisp-sensor"},"data":{"x":1}}"#
        XCTAssertNotNil(CanonicalLaneTests.lane(Array(base.utf8), r))
        // no source: the general path's default is written in its place (before an ext the lane
        // adds there too)
        let noSource = base.replacingOccurrences(of: #","source":{"collector":"oisp-sensor"}"#, with: "")
        XCTAssertEqual(CanonicalLaneTests.lane(Array(noSource.utf8), r)?.json.map { $0 }, Array(base.utf8))
        let key = RedactionTests.secret("api_key", 1)
        for tail in [#","data":{"x":"use \#(key)"}}"#, #","related_events":[{"event_id":"01J0000000000000000000000B","relationship":"parent"}],"data":{"x":"use \#(key)"}}"#,
                     #","confidence":{"level":"high","completeness":"full","reasons":[]},"data":{"x":"\#(key)"}}"#] {
            let l = Array(noSource.replacingOccurrences(of: #","data":{"x":1}}"#, with: tail).utf8)
            let want = try XCTUnwrap(CanonicalLaneTests.general(l, r))
            let got = try XCTUnwrap(CanonicalLaneTests.lane(l, r), String(decoding: l, as: UTF8.self))
            XCTAssertEqual(String(decoding: got.json, as: UTF8.self), String(decoding: want.json, as: UTF8.self))
        }
        // a value's escapes in another form are written again (see testEscapedValuesAreWrittenInTheWritersForm)
        for (v, w) in [(#""a\/b""#, #""a/b""#), (#""\u0041""#, #""A""#)] {
            XCTAssertEqual(CanonicalLaneTests.lane(Array(base.replacingOccurrences(of: "1}}", with: v + "}}").utf8), r)?.json.map { $0 },
                           Array(base.replacingOccurrences(of: "1}}", with: w + "}}").utf8))
        }
        // a timestamp in another form is written as the general path writes it (the same instant)
        for (from, to) in [("345678Z", "345678123Z"), ("T14:30:16.345678Z", "T16:30:16.345678+02:00"), ("2025-12-22", "2025-02-30"),
                           ("14:30:16", "14:30:60"), ("T14:30:16.345678Z", "T14:30:16Z"), ("T14:30:16.345678Z", "t14:30:16.3z"),
                           ("T14:30:16.345678Z", " 14:30:16.345678-00:30"), ("2025-12-22T14:30:16.345678Z", "1970-01-01T00:00:00Z")] {
            let l = Array(base.replacingOccurrences(of: from, with: to).utf8)
            let want = try XCTUnwrap(CanonicalLaneTests.general(l, r), to)
            let got = try XCTUnwrap(CanonicalLaneTests.lane(l, r), to)
            XCTAssertEqual(String(decoding: got.json, as: UTF8.self), String(decoding: want.json, as: UTF8.self))
            XCTAssertEqual(got.timestampNs, want.timestampNs, to)
        }
        for bad in ["1969-12-31T23:59:59Z", "2025-13-01T00:00:00Z", "2025-12-22T14:30Z", "yesterday", "2025-12-22T14:30:16.Z", "3000-01-01T00:00:00Z"] {
            let l = Array(base.replacingOccurrences(of: "2025-12-22T14:30:16.345678Z", with: bad).utf8)
            XCTAssertNil(CanonicalLaneTests.lane(l, r), bad) // before 1970, or not a time the general path reads
        }
        // members in another order are written in the writer's (see testMembersInAnotherOrder)
        let reordered = base.replacingOccurrences(of: #""oisp_version":"0.1","event_id""#, with: #""event_id""#)
            .replacingOccurrences(of: #""ai.request","#, with: #""ai.request","oisp_version":"0.1","#)
        XCTAssertEqual(CanonicalLaneTests.lane(Array(reordered.utf8), r)?.json.map { $0 }, Array(base.utf8))
        // whitespace between tokens is read as the compact form (see testWhitespaceBetweenTokens)
        for spaced in [base.replacingOccurrences(of: #""data":"#, with: #""data" :"#), base + " "] {
            XCTAssertEqual(CanonicalLaneTests.lane(Array(spaced.utf8), r)?.json.map { $0 }, Array(base.utf8))
        }
        let variants = [
            base.replacingOccurrences(of: #"{"x":1}"#, with: #"{"x":1},"data":{"y":2}"#),               // a member twice
            base.replacingOccurrences(of: #""source":{"collector":"oisp-sensor"}"#, with: #""source":{"capture_method":"x","collector":"oisp-sensor"}"#), // order inside
            base.replacingOccurrences(of: #""source""#, with: #""vendor":1,"source""#),               // unknown key
            base.replacingOccurrences(of: #"{"x":1}"#, with: #"{"x":1e2}"#),                         // number form
            base.replacingOccurrences(of: #"{"x":1}"#, with: #"{"a\/b":1}"#),                      // escape form in a key
            base.replacingOccurrences(of: #"{"x":1}"#, with: #"{"x":-0}"#),                          // -0
            base.replacingOccurrences(of: #"{"collector":"oisp-sensor"}"#, with: #"{"collector":null}"#),
        ]
        for v in variants {
            let line = Array(v.utf8)
            XCTAssertNil(CanonicalLaneTests.lane(line, r), v)
        }
        // invalid UTF-8 inside a string: the general path decodes it as U+FFFD, so the lane declines
        var bad = Array(base.utf8)
        let at = bad.firstIndex(of: UInt8(ascii: "1"))! // in "x":1 → "x":"<ff>"
        bad.replaceSubrange(at...at, with: [0x22, 0xFF, 0x22])
        XCTAssertNil(CanonicalLaneTests.lane(bad, r))
    }

    /// Envelope objects stepped over because they were seen before give the same bytes and
    /// record as reading them: the same host, process or confidence with other values around
    /// it, a command line with a secret (never kept), two redactors sharing one memo, and
    /// near-copies of kept objects (one byte changed) in between.
    /// A memo used by another redactor forgets what it kept.
    func testMemoGivesTheSameResults() throws {
        let safe = try CanonicalLaneTests.redactor(.safe), full = try CanonicalLaneTests.redactor(.full)
        let lines = CanonicalLaneTests.corpus(600, fewProcesses: true).map { $0.jsonBytes() }
        let memo = LaneMemo()
        var rng = SplitMix(seed: 7)
        var compared = 0
        for (k, line) in lines.enumerated() {
            var variants = [line]
            // a copy with one byte inside the envelope changed (host, process or confidence)
            var near = line
            let envEnd = (line.firstRange(of: Array(#""data":"#.utf8))?.lowerBound ?? line.count)
            let p = 60 + Int(rng.next() % UInt64(max(1, envEnd - 60)))
            near[p] = [UInt8(ascii: "x"), UInt8(ascii: "0"), UInt8(ascii: "\\"), UInt8(ascii: "}"), 0xC3][Int(rng.next() % 5)]
            variants.append(near)
            for v in variants {
                // the memo is rebound (and so emptied) when the redactor changes: every 100 lines
                for r in [k / 100 % 2 == 0 ? safe : full] {
                    let plain = CanonicalLaneTests.lane(v, r)
                    let memoised = CanonicalLaneTests.lane(v, r, memo: memo)
                    XCTAssertEqual(plain == nil, memoised == nil, String(decoding: v, as: UTF8.self))
                    guard let a = plain, let b = memoised else { continue }
                    compared += 1
                    XCTAssertEqual(a.storage, b.storage, String(decoding: v, as: UTF8.self))
                    XCTAssertEqual(a.jsonCount, b.jsonCount)
                    XCTAssertEqual(a.idCount, b.idCount)
                    XCTAssertEqual(a.eventType, b.eventType)
                    XCTAssertEqual(a.timestampNs, b.timestampNs)
                    XCTAssertEqual(a.redacted, b.redacted)
                    XCTAssertEqual(a.partial, b.partial)
                    XCTAssertEqual(a.findings.map(\.type), b.findings.map(\.type))
                    XCTAssertEqual(a.findings.map(\.count), b.findings.map(\.count))
                    if let g = CanonicalLaneTests.general(v, r) { XCTAssertEqual(Array(b.json), Array(g.json)) }
                }
            }
        }
        XCTAssertGreaterThan(compared, 600)
        // the memo was used, so the comparisons above covered its hits
        XCTAssertGreaterThan(memo.hits, 1500)
        // `full` does not scan command lines, so it keeps one with a secret: `safe` must not use it
        let secretCmd = try XCTUnwrap(lines.first { String(decoding: $0, as: UTF8.self).contains("Authorization: Bearer") })
        XCTAssertNotNil(CanonicalLaneTests.lane(secretCmd, full, memo: memo))
        let viaMemo = try XCTUnwrap(CanonicalLaneTests.lane(secretCmd, safe, memo: memo))
        XCTAssertEqual(Array(viaMemo.json), try XCTUnwrap(CanonicalLaneTests.lane(secretCmd, safe)).json.map { $0 })
        XCTAssertFalse(String(decoding: viaMemo.json, as: UTF8.self).contains(RedactionTests.secret("api_key", 0)))
        // a value kept where strings are not scanned (attrs) is read again where they are (data)
        let secret = RedactionTests.secret("api_key", 3)
        let inner: JSONValue = ["detail": .string("the key is \(secret) for now"), "n": .int(1)]
        let unscanned = OISPEvent(eventType: "ai.request", host: .init(hostname: "h"), attrs: ["ctx": inner], data: ["x": .int(1)]).jsonBytes()
        let scanned = OISPEvent(eventType: "ai.request", host: .init(hostname: "h"), data: ["ctx": inner]).jsonBytes()
        for r in [safe, full] {
            let m = LaneMemo()
            XCTAssertNotNil(CanonicalLaneTests.lane(unscanned, r, memo: m))
            XCTAssertEqual(CanonicalLaneTests.lane(scanned, r, memo: m)?.storage, CanonicalLaneTests.lane(scanned, r)?.storage)
        }
        // a value kept at a shallow depth is not taken deeper down, where it passes the nesting limit
        let deep = String(repeating: "[", count: 500) + "1" + String(repeating: "]", count: 500)
        let shallowLine = Array(#"{"oisp_version":"0.1","event_id":"01J0000000000000000000000A","event_type":"ai.request","ts":"2025-12-22T14:30:16.345678Z","source":{"collector":"oisp-sensor"},"data":{"x":\#(deep)}}"#.utf8)
        let deepLine = Array(#"{"oisp_version":"0.1","event_id":"01J0000000000000000000000A","event_type":"ai.request","ts":"2025-12-22T14:30:16.345678Z","source":{"collector":"oisp-sensor"},"data":{"x":\#(String(repeating: "[", count: 20) + deep + String(repeating: "]", count: 20))}}"#.utf8)
        let m = LaneMemo()
        XCTAssertNotNil(CanonicalLaneTests.lane(shallowLine, safe, memo: m))
        XCTAssertNil(CanonicalLaneTests.lane(deepLine, safe))
        XCTAssertNil(CanonicalLaneTests.lane(deepLine, safe, memo: m))
    }

    /// A string with findings seen before is spliced from the memo: the same bytes, fields
    /// (path where it lies now, length, hash) and counts as redacting it again — at other paths,
    /// escaped or not, in the command line, under an escaped key (declined either way), and
    /// several in one event.
    func testMemoOfStringsWithFindings() throws {
        let r = try CanonicalLaneTests.redactor(.safe)
        let memo = LaneMemo()
        let key = RedactionTests.secret("api_key", 5), mail = RedactionTests.secret("email", 6)
        let texts = ["please use \(key) and write to \(mail) today",
                     "line one\nuse \(key)\t\"quoted\" — ünï",
                     "only the mail \(mail) here, nothing else to see"]
        var spliced = 0
        for k in 0..<240 {
            let text: JSONValue = .string(texts[k % texts.count])
            let data: JSONObject
            switch k % 5 {
            case 0: data = ["messages": .array([["role": "user", "content": text]])]
            case 1: data = ["note": text, "other": .string("x")]
            case 2: data = ["a": ["b": .array([.int(1), .string("y"), ["c": text]])]]
            case 3: data = ["we\"ird": ["c": text]] // an escaped key on the way: the general path spells it
            default: data = ["first": text, "second": .array([text, text])]
            }
            let e = OISPEvent(eventType: "ai.request", host: .init(hostname: "h"),
                              process: .init(pid: 7, ppid: 1, exe: "/bin/sh", name: "sh", cmdline: k % 4 == 0 ? "curl -H 'x: \(key)'" : "sh"),
                              data: data)
            let line = e.jsonBytes()
            let before = memo.findingHits
            let plain = CanonicalLaneTests.lane(line, r), memoised = CanonicalLaneTests.lane(line, r, memo: memo)
            XCTAssertEqual(plain?.storage, memoised?.storage, String(decoding: line, as: UTF8.self))
            XCTAssertEqual(plain?.findings.map(\.type), memoised?.findings.map(\.type))
            XCTAssertEqual(plain?.findings.map(\.count), memoised?.findings.map(\.count))
            if let m = memoised {
                XCTAssertEqual(Array(m.json), CanonicalLaneTests.general(line, r)?.json.map { $0 })
                XCTAssertFalse(String(decoding: m.json, as: UTF8.self).contains(key))
                if memo.findingHits > before { spliced += 1 }
            }
        }
        XCTAssertGreaterThan(spliced, 100)
    }

    /// Where values stop repeating the memo rests, and it comes back when they repeat again.
    func testMemoRestsAndComesBack() throws {
        let r = try CanonicalLaneTests.redactor(.safe)
        let memo = LaneMemo()
        func line(_ host: String) -> [UInt8] {
            Array(#"{"oisp_version":"0.1","event_id":"01J0000000000000000000000A","event_type":"ai.request","ts":"2025-12-22T14:30:16.345678Z","host":{"hostname":"\#(host)","os":"linux"},"source":{"collector":"oisp-sensor"},"data":{"x":1}}"#.utf8)
        }
        for k in 0..<300 { XCTAssertNotNil(CanonicalLaneTests.lane(line("unique-host-\(k)"), r, memo: memo)) }
        let same = line("the-same-host")
        var before = memo.hits
        for _ in 0..<100 { XCTAssertEqual(CanonicalLaneTests.lane(same, r, memo: memo)?.partitionKey, "the-same-host") }
        // the host kind rests (only source hits) …
        XCTAssertLessThan(memo.hits - before, 200)
        for _ in 0..<300 { _ = CanonicalLaneTests.lane(same, r, memo: memo) }
        before = memo.hits
        for _ in 0..<100 { XCTAssertEqual(CanonicalLaneTests.lane(same, r, memo: memo)?.partitionKey, "the-same-host") }
        // … and then hits again: host and source, every line
        XCTAssertEqual(memo.hits - before, 200)
    }

    /// Timestamps read with the hour kept from an earlier one give what a full read gives: valid
    /// and invalid minutes, seconds and fractions, other hours, the first and last hours the
    /// nanosecond clock holds.
    func testMemoTimestampsMatch() throws {
        let r = try CanonicalLaneTests.redactor(.safe)
        let memo = LaneMemo()
        var rng = SplitMix(seed: 3)
        let hours = ["2025-12-22T14", "2025-12-22T15", "2024-02-29T23", "1970-01-01T00", "2262-04-11T23", "1969-12-31T23", "2025-02-29T10"]
        var accepted = 0, declined = 0
        for k in 0..<6000 {
            let h = hours[k % 97 == 0 ? Int(rng.next() % UInt64(hours.count)) : (k / 1000) % hours.count]
            func two(_ max: UInt64) -> String { let v = rng.next() % max; return v < 10 ? "0\(v)" : "\(v)" }
            var frac = String(rng.next() % 1_000_000)
            frac = String(repeating: "0", count: 6 - frac.count) + frac
            var ts = "\(h):\(two(k % 5 == 0 ? 64 : 60)):\(two(k % 7 == 0 ? 62 : 60)).\(frac)Z"
            if k % 11 == 0 { // one byte of the minutes, seconds or fraction made wrong
                var b = Array(ts.utf8)
                b[[14, 15, 16, 17, 18, 19, 20, 25, 26][Int(rng.next() % 9)]] = [UInt8(ascii: "a"), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "9")][Int(rng.next() % 4)]
                ts = String(decoding: b, as: UTF8.self)
            }
            let line = Array(#"{"oisp_version":"0.1","event_id":"01J0000000000000000000000A","event_type":"ai.request","ts":"\#(ts)","source":{"collector":"oisp-sensor"},"data":{"x":1}}"#.utf8)
            let plain = CanonicalLaneTests.lane(line, r)
            let memoised = CanonicalLaneTests.lane(line, r, memo: memo)
            XCTAssertEqual(plain?.timestampNs, memoised?.timestampNs, ts)
            XCTAssertEqual(plain == nil, memoised == nil, ts)
            if plain == nil { declined += 1 } else { accepted += 1 }
        }
        XCTAssertGreaterThan(accepted, 2000)
        XCTAssertGreaterThan(declined, 500)
    }

    /// Whitespace between tokens (as Python's json.dumps, jq or a pretty printer put it) is read
    /// as the compact form the general path writes; whitespace that would join two tokens, or
    /// that sits inside a string, is never removed.
    func testWhitespaceBetweenTokens() throws {
        let r = try CanonicalLaneTests.redactor(.safe)
        let lines = CanonicalLaneTests.corpus(300).map { $0.jsonBytes() }
        var rng = SplitMix(seed: 11)
        let spaces: [[UInt8]] = [[0x20], [0x20, 0x20], [0x09], [0x20, 0x09, 0x20], [0x0D, 0x0A, 0x20]]
        var taken = 0
        for line in lines {
            guard let want = CanonicalLaneTests.general(line, r) else { continue }
            // whitespace after every `:` and `,` outside strings (json.dumps' default), plus random
            // runs before or after structural marks
            var spaced: [UInt8] = [], inString = false, escaped = false
            for c in line {
                if inString {
                    spaced.append(c)
                    if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                    continue
                }
                if c == 0x22 { inString = true }
                if (c == 0x7B || c == 0x5B || c == 0x7D || c == 0x5D) && rng.next() % 4 == 0 { spaced += spaces[Int(rng.next() % 5)] }
                spaced.append(c)
                if c == 0x3A || c == 0x2C { spaced += spaces[Int(rng.next() % 5)] }
            }
            if rng.next() % 3 == 0 { spaced = spaces[0] + spaced + spaces[2] }
            let got = CanonicalLaneTests.lane(spaced, r), direct = CanonicalLaneTests.lane(line, r)
            XCTAssertEqual(got == nil, direct == nil, String(decoding: spaced, as: UTF8.self))
            if let got {
                taken += 1
                XCTAssertEqual(Array(got.json), Array(want.json))
                XCTAssertEqual(CanonicalLaneTests.general(spaced, r)?.json, want.json)
            }
        }
        XCTAssertGreaterThan(taken, 250)
        // whitespace that would join tokens is kept, so the line stays what it was: rejected
        let base = #"{"oisp_version":"0.1","event_id":"01J0000000000000000000000A","event_type":"ai.request","ts":"2025-12-22T14:30:16.345678Z","source":{"collector":"oisp-sensor"},"data":{"x":X}}"#
        for bad in ["[1 2]", "- 1", "1 .5", "1 e5", "tr ue", "1.5 e3", "\"a\" \"b\"", "[\"a\" 1]", "{\"k\" 1}", "nu ll"] {
            let l = Array(base.replacingOccurrences(of: "X", with: bad).utf8)
            XCTAssertNil(CanonicalLaneTests.general(l, r), bad)
            XCTAssertNil(CanonicalLaneTests.lane(l, r), bad)
        }
        // inside a string, whitespace is content
        let inner = Array(base.replacingOccurrences(of: "X", with: "\"a , b : [ c ]  \\t\"").utf8)
        let spacedInner = Array(base.replacingOccurrences(of: "X", with: " \"a , b : [ c ]  \\t\" ").replacingOccurrences(of: "\",\"", with: "\", \"").utf8)
        XCTAssertEqual(CanonicalLaneTests.lane(spacedInner, r)?.json.map { $0 }, CanonicalLaneTests.general(inner, r)?.json.map { $0 })
        XCTAssertEqual(CanonicalLaneTests.lane(spacedInner, r)?.json.map { $0 }, CanonicalLaneTests.general(spacedInner, r)?.json.map { $0 })
    }

    /// `s` as a JSON string the way Python's json.dumps writes it by default (`\uXXXX` for all
    /// non-ASCII, surrogate pairs above U+FFFF), with `/` as `\/` and upper-case hex now and then.
    static func asciiEscaped(_ s: String, upper: Bool) -> String {
        var o = "\""
        func hex(_ v: UInt32) -> String { let h = String(v, radix: 16, uppercase: upper); return "\\u" + String(repeating: "0", count: 4 - h.count) + h }
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\t": o += "\\t"
            case "/": o += "\\/"
            default:
                if u.value < 0x20 { o += hex(u.value) } else if u.value < 0x80 { o.unicodeScalars.append(u) } else if u.value < 0x10000 { o += hex(u.value) } else {
                    let v = u.value - 0x10000
                    o += hex(0xD800 + (v >> 10)) + hex(0xDC00 + (v & 0x3FF))
                }
            }
        }
        return o + "\""
    }

    /// String values written with escapes the writer spells otherwise (`\u00e9`, `\/`, `\u0041`,
    /// surrogate pairs — Python's default) are written again in the writer's form, scanned first
    /// where strings are scanned: the same bytes as the general path. Keys and envelope strings so
    /// written, and lone surrogates, are left to the general path.
    func testEscapedValuesAreWrittenInTheWritersForm() throws {
        for mode in [SensorConfig.Redaction.Mode.safe, .full] {
            let r = try CanonicalLaneTests.redactor(mode)
            let memo = LaneMemo()
            var taken = 0
            for (i, e) in CanonicalLaneTests.corpus(240).enumerated() {
                var line = String(decoding: e.jsonBytes(), as: UTF8.self)
                let key = RedactionTests.secret("api_key", i)
                let texts = ["Olá — ünïcödé ✓ 🚀 \(i)", "a/b/c \u{1} \u{2028} key \(key) ok", "ключ 🔑 \(key)"]
                var data: JSONObject = ["note": .string(texts[i % 3]), "deep": ["list": .array([.string(texts[(i + 1) % 3]), .int(Int64(i))])],
                                        "provider": .string("prov/ider ✓")]
                if i % 4 == 0 { data["tail"] = .string(texts[(i + 2) % 3]) }
                var ev = e
                ev.data = data
                line = String(decoding: ev.jsonBytes(), as: UTF8.self)
                for t in texts + ["prov/ider ✓"] {
                    line = line.replacingOccurrences(of: String(decoding: JSONValue.string(t).jsonBytes(), as: UTF8.self),
                                                     with: CanonicalLaneTests.asciiEscaped(t, upper: i % 2 == 0))
                }
                let l = Array(line.utf8)
                XCTAssertTrue(line.contains("\\u"), line)
                let want = try XCTUnwrap(CanonicalLaneTests.general(l, r))
                let got = CanonicalLaneTests.lane(l, r, memo: i % 2 == 0 ? memo : nil)
                if e.ext == nil { XCTAssertNotNil(got, line) }
                guard let got else { continue }
                taken += 1
                XCTAssertEqual(String(decoding: got.json, as: UTF8.self), String(decoding: want.json, as: UTF8.self))
                XCTAssertEqual((got.redacted ? 2 : 0) | (got.partial ? 1 : 0), want.flags)
                if mode == .safe { XCTAssertFalse(String(decoding: got.json, as: UTF8.self).contains(key)) }
            }
            XCTAssertGreaterThan(taken, 200)
        }
        let r = try CanonicalLaneTests.redactor(.safe)
        let base = #"{"oisp_version":"0.1","event_id":"01J0000000000000000000000A","event_type":"ai.request","ts":"2025-12-22T14:30:16.345678Z","host":{"hostname":"H"},"source":{"collector":"oisp-sensor"},"data":D}"#
        for (host, data, lane) in [("n\\u006fde", #"{"x":1}"#, false),              // an envelope string
                                   ("node", #"{"k\u0065y":1}"#, false),             // a key
                                   ("node", #"{"x":"\ud800 lone"}"#, false),        // a lone high surrogate
                                   ("node", #"{"x":"\udc00"}"#, false),             // a lone low surrogate
                                   ("node", #"{"x":"\ud83d\u0041"}"#, false),      // a high one without its low half
                                   ("node", #"{"x":"\u00E9\/\ud83d\ude80"}"#, true)] {
            let l = Array(base.replacingOccurrences(of: "H", with: host).replacingOccurrences(of: "D", with: data).utf8)
            let want = CanonicalLaneTests.general(l, r)
            XCTAssertNotNil(want, data)
            let got = CanonicalLaneTests.lane(l, r)
            XCTAssertEqual(got != nil, lane, "\(host) \(data)")
            if let got { XCTAssertEqual(got.json, want?.json) }
        }
    }

    /// The top-level members of a compact JSON object, as text.
    static func members(_ line: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = [], cur: [UInt8] = [], depth = 0, inString = false, escaped = false
        for c in line.dropFirst().dropLast() {
            if inString {
                cur.append(c)
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                continue
            }
            if c == 0x22 { inString = true }
            if c == 0x7B || c == 0x5B { depth += 1 }
            if c == 0x7D || c == 0x5D { depth -= 1 }
            if c == 0x2C && depth == 0 { out.append(cur); cur = []; continue }
            cur.append(c)
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Top-level members in another order (a dict built by hand) are read in any order and
    /// written in the writer's, with findings, an added ext, a missing source and edits inside
    /// members all in place: the general path's bytes. A member given twice is left to it.
    func testMembersInAnotherOrder() throws {
        var rng = SplitMix(seed: 21)
        for mode in [SensorConfig.Redaction.Mode.safe, .full] {
            let r = try CanonicalLaneTests.redactor(mode)
            let memo = LaneMemo()
            var taken = 0
            for (n, e) in CanonicalLaneTests.corpus(300).enumerated() {
                var m = CanonicalLaneTests.members(e.jsonBytes())
                if n % 5 == 0 { m.removeAll { $0.starts(with: Array(#""source""#.utf8)) } }
                m.shuffle(using: &rng)
                let line = [UInt8(ascii: "{")] + Array(m.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "}")]
                let want = try XCTUnwrap(CanonicalLaneTests.general(line, r))
                guard let got = CanonicalLaneTests.lane(line, r, memo: n % 2 == 0 ? memo : nil) else {
                    XCTAssertTrue(e.ext != nil, "declined: \(String(decoding: line, as: UTF8.self))")
                    continue
                }
                taken += 1
                CanonicalLaneTests.assertSame(got, want)
            }
            XCTAssertGreaterThan(taken, 250)
        }
        // a member twice: the general path keeps the first, the lane leaves it to it
        let r = try CanonicalLaneTests.redactor(.safe)
        let twice = Array(#"{"event_type":"ai.request","oisp_version":"0.1","event_id":"01J0000000000000000000000A","ts":"2025-12-22T14:30:16.345678Z","data":{"x":1},"event_type":"ai.response"}"#.utf8)
        XCTAssertNil(CanonicalLaneTests.lane(twice, r))
    }

    /// Random byte edits of canonical lines: whenever the lane accepts, the general path accepts
    /// too and writes the same bytes.
    func testMutatedLinesNeverDiverge() throws {
        let r = try CanonicalLaneTests.redactor(.safe)
        let lines = CanonicalLaneTests.corpus(60).map { $0.jsonBytes() }
        var rng = SplitMix(seed: 99)
        let alphabet: [UInt8] = Array(#"{}[]:,"\ 0123456789.-eEtrufalsn/abcu"#.utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xFF, 0xED, 0xA0, 0x20, 0x09, 0x0A, 0x0D, 0x20]
        var accepted = 0
        let memo = LaneMemo() // every other line through a memo that has seen the unmutated objects
        for k in 0..<20_000 {
            var l = lines[k % lines.count]
            for _ in 0...(rng.next() % 3) {
                let p = Int(rng.next() % UInt64(l.count))
                let c = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                switch rng.next() % 3 {
                case 0: l[p] = c
                case 1: l.insert(c, at: p)
                default: l.remove(at: p)
                }
            }
            guard let got = CanonicalLaneTests.lane(l, r, memo: k % 2 == 0 ? memo : nil) else { continue }
            accepted += 1
            let want = CanonicalLaneTests.general(l, r)
            XCTAssertNotNil(want, "lane accepted what the general path rejects: \(String(decoding: l, as: UTF8.self))")
            if let want { XCTAssertEqual(got.json, want.json, String(decoding: l, as: UTF8.self)) }
        }
        XCTAssertGreaterThan(accepted, 100) // some edits stay valid and canonical (inside strings)
    }
}
