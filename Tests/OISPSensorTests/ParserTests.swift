import OISPDecode
import XCTest

/// The byte-level SSE and HTTP/1.1 head parsers against what the specs say, fed whole and split
/// at every byte (the decoder sees chunks cut wherever the TLS records fall).
final class ParserTests: XCTestCase {
    func sse(_ text: String, split: Int?) -> [SSEParser.Event] {
        var p = SSEParser()
        let b = Array(text.utf8)
        var out: [SSEParser.Event] = []
        if let k = split {
            out += p.feed(Array(b[..<k]))
            out += p.feed(Array(b[k...]))
        } else {
            for x in b { out += p.feed([x]) }
        }
        return out + p.finish()
    }

    func testSSEEventsWithEveryLineEndingAndEverySplit() {
        let text = "data: {\"a\":1}\n\n: a comment\r\nevent: delta\r\ndata: line one\r\ndata:line two\r\n\r\nid: 7\rdata: x\r\rdata: é€😀\n\ndata\n\ndata: tail"
        let want = [SSEParser.Event(event: nil, data: "{\"a\":1}"),
                    SSEParser.Event(event: "delta", data: "line one\nline two"),
                    SSEParser.Event(event: nil, data: "x"),
                    SSEParser.Event(event: nil, data: "é€😀"),
                    SSEParser.Event(event: nil, data: ""),
                    SSEParser.Event(event: nil, data: "tail")]
        var checked = 0
        XCTAssertEqual(sse(text, split: nil), want, "one byte at a time")
        for k in 0...text.utf8.count {
            XCTAssertEqual(sse(text, split: k), want, "split at \(k)")
            checked += 1
        }
        XCTAssertEqual(checked, text.utf8.count + 1)
    }

    func testSSELongLineIsCappedNotLost() {
        var p = SSEParser()
        let big = [UInt8](repeating: 97, count: SSEParser.maxLine + 1000)
        var out = p.feed(Array("data: ".utf8))
        out += p.feed(big)
        out += p.feed(Array("\n\ndata: next\n\n".utf8))
        XCTAssertEqual(out.count, 2)
        XCTAssertEqual(out[0].data.utf8.count, SSEParser.maxLine - 6)
        XCTAssertEqual(out[1].data, "next")
    }

    func heads(_ text: String, request: Bool) throws -> [HTTPHead] {
        var p = HTTP1Parser(isRequest: request)
        return try p.feed(Array(text.utf8)).compactMap { if case .head(let h) = $0 { return h }; return nil }
    }

    /// Bytes capture left out (`skip`): passed over inside a body of known length (the message
    /// ends where its length says, the next one parses), ending the message where they reach past
    /// it; where the framing cannot be followed (chunked, a head) the message ends and bytes are
    /// passed over until a piece begins a message.
    func testSkippedBytesKeepTheParserInStep() throws {
        func kinds(_ evs: [HTTPParseEvent]) -> [String] {
            evs.map { if case .head = $0 { return "head" }; if case .body(let b) = $0 { return "body\(b.count)" }; if case .gap(let n) = $0 { return "gap\(n)" }; return "end" }
        }
        let next = Array("POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nok".utf8)
        var p = HTTP1Parser(isRequest: true)
        XCTAssertEqual(kinds(try p.feed(Array("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123".utf8))), ["head", "body4"])
        XCTAssertEqual(kinds(p.skip(4)), ["gap4"])
        XCTAssertEqual(kinds(try p.feed(Array("89".utf8))), ["body2", "end"])
        XCTAssertEqual(kinds(try p.feed(next)), ["head", "body2", "end"])
        // exactly to the end, then past it (the next message's start is lost with it)
        XCTAssertEqual(kinds(try p.feed(Array("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123".utf8))), ["head", "body4"])
        XCTAssertEqual(kinds(p.skip(6)), ["gap6", "end"])
        XCTAssertEqual(kinds(try p.feed(next)), ["head", "body2", "end"])
        XCTAssertEqual(kinds(try p.feed(Array("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123".utf8))), ["head", "body4"])
        XCTAssertEqual(kinds(p.skip(9)), ["gap6", "end"])
        XCTAssertFalse(p.inMessage)
        XCTAssertEqual(kinds(try p.feed(Array("xyz".utf8))), [], "the rest of what was cut: passed over")
        XCTAssertEqual(kinds(try p.feed(next)), ["head", "body2", "end"])
        // chunked: the message ends at the cut
        XCTAssertEqual(kinds(try p.feed(Array("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n5\r\nef".utf8))), ["head", "body4", "body2"])
        XCTAssertEqual(kinds(p.skip(100)), ["end"])
        XCTAssertEqual(kinds(try p.feed(Array("\r\n0\r\n\r\n".utf8))), [])
        XCTAssertEqual(kinds(try p.feed(next)), ["head", "body2", "end"])
        // a cut inside a head: the message ends there (for a response: its request is answered,
        // unread, and the next answer pairs with the next request)
        XCTAssertEqual(kinds(try p.feed(Array("POST /d HTTP/1.1\r\nX-Lo".utf8))), [])
        XCTAssertEqual(kinds(p.skip(50)), ["end"])
        XCTAssertEqual(kinds(try p.feed(next)), ["head", "body2", "end"])
        var q = HTTP1Parser(isRequest: false)
        q.pendingRequestMethods = ["POST", "HEAD"]
        XCTAssertEqual(kinds(try q.feed(Array("HTTP/1.1 200 OK\r\nContent-Ty".utf8))), [])
        XCTAssertEqual(kinds(q.skip(300)), ["end"])
        XCTAssertEqual(q.pendingRequestMethods, ["HEAD"], "the cut answer's request is answered")
        XCTAssertEqual(kinds(try q.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".utf8))), ["head", "end"], "a HEAD's answer has no body")
        // a response read until the connection closes goes on after a gap
        var r = HTTP1Parser(isRequest: false)
        XCTAssertEqual(kinds(try r.feed(Array("HTTP/1.1 200 OK\r\n\r\nabc".utf8))), ["head", "body3"])
        XCTAssertEqual(kinds(r.skip(10)), ["gap10"])
        XCTAssertEqual(kinds(try r.feed(Array("de".utf8))), ["body2"])
        XCTAssertEqual(kinds(r.finishUntilClose()), ["end"])
    }

    func testHTTPHeadFieldsTrimmedAndStartLinesChecked() throws {
        let r = try heads("POST  /v1/chat/completions?x=1 HTTP/1.1\r\nHost: api.openai.com\r\nX-Empty:\r\nAuthorization: \t Bearer sk-test \t\r\nContent-Length: 0\r\n\r\n", request: true)
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(r[0].method, "POST")
        XCTAssertEqual(r[0].path, "/v1/chat/completions?x=1")
        XCTAssertEqual(r[0].version, "HTTP/1.1")
        XCTAssertEqual(r[0].header("host"), "api.openai.com")
        XCTAssertEqual(r[0].header("x-empty"), "")
        XCTAssertEqual(r[0].header("AUTHORIZATION"), "Bearer sk-test")
        let s = try heads("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n", request: false)
        XCTAssertEqual(s.first?.status, 429)
        let bare = try heads("HTTP/1.0 200\r\nContent-Length: 0\r\n\r\n", request: false)
        XCTAssertEqual(bare.first?.status, 200)
        for bad in ["post /x HTTP/1.1", "GET /x", "GET /x HTTP/2.0", "GET /x HTTP/1.1\r\nno colon here"] {
            XCTAssertThrowsError(try heads(bad + "\r\n\r\n", request: true), bad)
        }
        // a provider's answer carries dozens of headers (rate limits, tracing, CDN): all kept, in
        // order, values with colons whole
        let many = (0..<40).map { "x-ratelimit-\($0): \($0):\($0 * 7)" }.joined(separator: "\r\n")
        let big = try heads("HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 21:00:00 GMT\r\n\(many)\r\nContent-Length: 0\r\n\r\n", request: false)
        XCTAssertEqual(big.first?.headers.count, 42)
        XCTAssertEqual(big.first?.header("date"), "Mon, 07 Dec 2026 21:00:00 GMT")
        XCTAssertEqual(big.first?.headers[40].value, "39:273")
        XCTAssertEqual(big.first?.header("content-length"), "0")
        for bad in ["HTTP/1.1 20 OK", "HTTP/1.1 abc OK", "HTTP/2 200 OK", "HTTP/1.1", "HTTP/1.1 099 Early"] {
            XCTAssertThrowsError(try heads(bad + "\r\n\r\n", request: false), bad)
        }
    }
}
