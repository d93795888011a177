import Foundation
import OISPCapture
import OISPEvent
import XCTest

final class EventModelTests: XCTestCase {
    func sampleEvent() -> OISPEvent {
        OISPEvent(eventType: "ai.request", ts: Timestamp(rfc3339: "2025-12-22T14:30:16.345678Z")!,
                  host: .init(hostname: "node-1", os: "linux", arch: "x86_64"),
                  actor: .init(uid: 1000, user: "alice", identity: .init(provider: "okta", email: "a@example.com")),
                  process: .init(pid: 12345, ppid: 1234, exe: "/usr/bin/python3", name: "python3", cmdline: "python3 x.py",
                                 uid: 1000, containerID: "abc123", podName: "web-0", podNamespace: "prod"),
                  source: .init(collectorVersion: "0.1.0", captureMethod: "ebpf_uprobe", capturePoint: "ssl_write"),
                  confidence: .init(level: "high", completeness: "full", reasons: ["tls_boundary_capture"]),
                  attrs: ["team": "ml"], relatedEvents: [.init(eventID: ULID.make(), relationship: "parent")],
                  traceContext: .init(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", traceFlags: 1),
                  data: ["request_id": "req_1", "model": ["id": "gpt-4o"], "streaming": true,
                         "messages": [["role": "user", "content": "quote \" backslash \\ newline \n tab \t ctrl \u{01} emoji 🚀"]],
                         "parameters": ["temperature": 0.7, "max_tokens": 4096]])
    }

    func testRoundTripThroughJSON() throws {
        let e = sampleEvent()
        let bytes = e.jsonBytes()
        XCTAssertFalse(bytes.contains(0x0A), "one event must be one line")
        let back = try OISPEvent(jsonBytes: bytes)
        XCTAssertEqual(back, e)
        // Foundation's parser agrees it is valid JSON with the documented keys.
        let obj = try JSONSerialization.jsonObject(with: Data(bytes)) as! [String: Any]
        XCTAssertEqual(obj["oisp_version"] as? String, "0.1")
        XCTAssertEqual(obj["event_type"] as? String, "ai.request")
        XCTAssertEqual(obj["ts"] as? String, "2025-12-22T14:30:16.345678Z")
        XCTAssertEqual((obj["process"] as? [String: Any])?["pid"] as? Int, 12345)
        XCTAssertEqual((obj["source"] as? [String: Any])?["collector"] as? String, "oisp-sensor")
        let msg = (((obj["data"] as? [String: Any])?["messages"] as? [[String: Any]])?.first?["content"]) as? String
        XCTAssertEqual(msg, "quote \" backslash \\ newline \n tab \t ctrl \u{01} emoji 🚀")
        XCTAssertNil(obj["app"], "unknown optional fields are omitted, never null")
    }

    func testCodableMatchesFastPath() throws {
        let e = sampleEvent()
        let viaCodable = try JSONDecoder().decode(OISPEvent.self, from: JSONEncoder().encode(e))
        XCTAssertEqual(viaCodable.eventID, e.eventID)
        XCTAssertEqual(viaCodable.process, e.process)
        XCTAssertEqual(viaCodable.data["model"], e.data["model"])
        XCTAssertEqual(viaCodable.data["messages"]?.arrayValue?.first?["content"], e.data["messages"]?.arrayValue?.first?["content"])
        XCTAssertEqual(viaCodable.data["parameters"]?["max_tokens"], .int(4096))
    }

    func testProcNetTCPAddresses() {
        XCTAssertEqual(CaptureEventBuilder.hexAddress("0100007F", v6: false), "127.0.0.1")
        XCTAssertEqual(CaptureEventBuilder.hexAddress("0000000000000000FFFF00000100007F", v6: true), "127.0.0.1")
        XCTAssertEqual(CaptureEventBuilder.hexAddress("B80D0120000000000000000001000000", v6: true), "2001:db8:0:0:0:0:0:1")
    }

    func testULID() {
        let a = ULID.make(milliseconds: 1_700_000_000_000)
        let b = ULID.make(milliseconds: 1_700_000_000_001)
        XCTAssertTrue(ULID.isValid(a))
        XCTAssertEqual(a.count, 26)
        XCTAssertLessThan(a, b, "ULIDs sort by time")
        XCTAssertEqual(ULID.encode(milliseconds: 0, randomHigh: 0, randomLow: 0), String(repeating: "0", count: 26))
        XCTAssertEqual(ULID.encode(milliseconds: (1 << 48) - 1, randomHigh: .max, randomLow: .max), "7" + String(repeating: "Z", count: 25))
        XCTAssertFalse(ULID.isValid("not-a-ulid"))
    }

    func testTimestamps() {
        XCTAssertEqual(Timestamp(rfc3339: "2025-12-22T14:30:16Z")?.nanoseconds, 1_766_413_816_000_000_000)
        XCTAssertEqual(Timestamp(rfc3339: "2025-12-22T15:30:16.5+01:00")?.nanoseconds, 1_766_413_816_500_000_000)
        XCTAssertEqual(Timestamp(nanoseconds: 1_766_413_816_000_001_000).rfc3339, "2025-12-22T14:30:16.000001Z")
        XCTAssertNil(Timestamp(rfc3339: "2025-13-22T14:30:16Z"))
        XCTAssertNil(Timestamp(rfc3339: "yesterday"))
        XCTAssertNil(Timestamp(rfc3339: "1600-01-01T00:00:00Z"), "before 1677-09-21: nanoseconds do not fit in Int64")
        XCTAssertNil(Timestamp(rfc3339: "2400-01-01T00:00:00Z"))
        // the calendar arithmetic agrees with libc's timegm/gmtime: leap years, centuries,
        // days past a month's end (carried over), leap seconds, before 1970
        var rng = SystemRandomNumberGenerator()
        for k in 0..<20_000 {
            let y = k < 8 ? [1900, 1969, 1970, 2000, 2100, 2024, 1678, 2261][k] : Int.random(in: 1678...2261, using: &rng)
            let mo = Int.random(in: 1...12, using: &rng), d = Int.random(in: 1...31, using: &rng)
            let h = Int.random(in: 0...23, using: &rng), mi = Int.random(in: 0...59, using: &rng), sec = Int.random(in: 0...60, using: &rng)
            let text = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, sec)
            var t = tm()
            t.tm_year = Int32(y - 1900); t.tm_mon = Int32(mo - 1); t.tm_mday = Int32(d)
            t.tm_hour = Int32(h); t.tm_min = Int32(mi); t.tm_sec = Int32(sec)
            var secs = timegm(&t)
            let ns = Timestamp(rfc3339: text)?.nanoseconds
            XCTAssertEqual(ns, Int64(secs) * 1_000_000_000, text)
            guard let ns else { continue }
            var g = tm()
            gmtime_r(&secs, &g)
            let back = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.000000Z", Int(g.tm_year) + 1900, Int(g.tm_mon) + 1, Int(g.tm_mday),
                              Int(g.tm_hour), Int(g.tm_min), Int(g.tm_sec))
            XCTAssertEqual(Timestamp(nanoseconds: ns).rfc3339, back, text)
        }
    }

    func testMalformedEventsAreRejectedWithTheField() {
        XCTAssertThrowsError(try OISPEvent(jsonBytes: Array(#"{"event_id":"x","event_type":"ai.request","data":{}}"#.utf8))) {
            XCTAssertEqual(($0 as? OISPEventDecodingError)?.field, "ts")
        }
        XCTAssertThrowsError(try OISPEvent(jsonBytes: Array(#"{"event_id":"x","event_type":"ai.request","ts":"2025-01-01T00:00:00Z","process":{"pid":"one"},"data":{}}"#.utf8))) {
            XCTAssertEqual(($0 as? OISPEventDecodingError)?.field, "process.pid")
        }
        XCTAssertThrowsError(try JSONParser.parse(#"{"a":1,}"#))
        XCTAssertThrowsError(try JSONParser.parse(#"{"a":"unterminated}"#))
        XCTAssertEqual(try JSONParser.parse(#"{"s":"\u00e9\ud83d\ude80"}"#)["s"]?.stringValue, "é🚀")
    }
}

/// The keyed hash behind redaction's `hash` fields: RFC 4231's HMAC-SHA-256 vectors (a key
/// shorter than the block, a short text key, a key longer than the block) and FIPS 180's SHA-256.
final class KeyedHashTests: XCTestCase {
    func testRFC4231VectorsAndPlainSHA256() {
        let cases: [([UInt8], String, String)] = [
            ([UInt8](repeating: 0x0B, count: 20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xAA, count: 131), "Test Using Larger Than Block-Size Key - Hash Key First",
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            ([], "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ]
        for (key, text, hex) in cases {
            let h = KeyedHash(key: key)
            XCTAssertEqual(h.hash(text), "sha256:" + hex)
            XCTAssertEqual(Hashing.keyed(text, key: key), "sha256:" + hex)
            // the prepared states are reused: a second text and then the first again
            XCTAssertNotEqual(h.hash(text + "!"), "sha256:" + hex)
            XCTAssertEqual(h.hash(text), "sha256:" + hex)
        }
    }

    /// One private-address rule for capture (`is_private` of connects and accepts) and decode
    /// (where Ollama's own API is taken for one).
    func testPrivateAddresses() {
        for ip in ["10.0.0.1", "127.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "::1", "[::1]", "fd00::5", "fc00::1",
                   "fe80::1", "::ffff:10.1.2.3"] {
            XCTAssertTrue(IPAddress.isPrivate(ip), ip)
        }
        for ip in ["8.8.8.8", "172.15.0.1", "172.32.0.1", "192.169.0.1", "2001:db8::1", "::ffff:8.8.8.8", "fdomain.example", "ollama", ""] {
            XCTAssertFalse(IPAddress.isPrivate(ip), ip)
        }
    }
}
