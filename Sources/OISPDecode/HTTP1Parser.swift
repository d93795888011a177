import OISPEvent

/// Incremental HTTP/1.1 parser for one direction of one connection: start line, headers,
/// Content-Length and chunked bodies, keep-alive (any number of messages back to back).
/// Bytes may arrive in pieces of any size. Memory is bounded: heads over 64 KiB are errors,
/// body bytes are passed on as they arrive.
public struct HTTP1Parser {
    public let isRequest: Bool
    public static let maxHeadBytes = 64 * 1024

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        /// Bytes were left out where the message's framing cannot be followed (a chunked body,
        /// a head, past the message's end): everything is passed over until a message starts
        /// at the beginning of a later call's bytes.
        case lost
    }
    private var state: State = .head
    private var buffer: [UInt8] = []
    /// For responses: methods of requests sent, oldest first (HEAD responses have no body).
    public var pendingRequestMethods: [String] = []

    public init(isRequest: Bool) { self.isRequest = isRequest }

    /// Whether a message is in progress (head seen, end not yet).
    public var inMessage: Bool {
        switch state {
        case .head: return !buffer.isEmpty
        case .lost: return false
        default: return true
        }
    }

    /// `n` bytes of the stream that capture left out (a call cut at `max_capture_bytes`). In a
    /// body of known length, or one read until the connection closes, they are passed over (a
    /// `.gap`) and the message goes on; a gap reaching past the body's end ends the message. Where
    /// the framing cannot be followed across it (chunked, inside a head, past the end), the
    /// message in progress ends there and what follows is passed over until a message begins at
    /// the start of a later piece (`feed`).
    public mutating func skip(_ n: Int) -> [HTTPParseEvent] {
        guard n > 0 else { return [] }
        switch state {
        case .fixed(let remaining) where buffer.isEmpty:
            if n < remaining { state = .fixed(remaining: remaining - n); return [.gap(n)] }
            state = n == remaining ? .head : .lost
            return [.gap(remaining), .end]
        case .untilClose:
            return [.gap(n)]
        case .lost:
            return []
        default:
            // a head cut (partly read: its message ends there, unanswered; a response's request
            // is then answered, so the next answer pairs with the next request) or a body whose
            // framing is lost
            let cut = inMessage
            if case .head = state, cut, !isRequest, !pendingRequestMethods.isEmpty { pendingRequestMethods.removeFirst() }
            state = .lost
            buffer = []
            return cut ? [.end] : []
        }
    }

    static let responseStart: [UInt8] = Array("HTTP/".utf8)

    /// Whether `bytes` begin an HTTP message (a request line's method, or "HTTP/" for a response).
    public func startsMessage(_ bytes: [UInt8]) -> Bool {
        isRequest ? PlaintextChunk.begins(bytes, with: PlaintextChunk.requestLineStarts) : bytes.starts(with: HTTP1Parser.responseStart)
    }

    public mutating func reset() { state = .head; buffer = [] }

    /// The body has no length (response read until the connection closes): end it now.
    public mutating func finishUntilClose() -> [HTTPParseEvent] {
        if case .untilClose = state { state = .head; return [.end] }
        return []
    }

    /// Feeds bytes (one read's or write's, or a piece of one); returns the parse events they
    /// complete. After bytes were left out where the framing was lost (`skip`), pieces are passed
    /// over until one begins a message.
    public mutating func feed(_ bytes: [UInt8]) throws -> [HTTPParseEvent] {
        if case .lost = state {
            guard startsMessage(bytes) else { return [] }
            state = .head
        }
        buffer.append(contentsOf: bytes)
        var out: [HTTPParseEvent] = []
        var pos = 0
        defer { if pos > 0 { buffer.removeFirst(pos) } }
        loop: while true {
            switch state {
            case .head:
                // skip stray CRLFs between messages
                while pos < buffer.count && (buffer[pos] == 13 || buffer[pos] == 10) { pos += 1 }
                guard let end = findHeadEnd(from: pos) else {
                    if buffer.count - pos > HTTP1Parser.maxHeadBytes { throw HTTPParseError(reason: "HTTP head larger than 64 KiB") }
                    break loop
                }
                let head = try parseHead(buffer[pos..<end.start])
                pos = end.after
                // an interim answer (100 Continue to `Expect: 100-continue`, 103 Early Hints) is
                // not the answer: the request's final response follows on the same connection
                if !isRequest && head.status >= 100 && head.status < 200 && head.status != 101 { continue loop }
                out.append(.head(head))
                let te = head.header("transfer-encoding")?.lowercased() ?? ""
                var noBody = false
                if !isRequest {
                    let m = pendingRequestMethods.isEmpty ? "" : pendingRequestMethods.removeFirst()
                    noBody = m == "HEAD" || head.status == 204 || head.status == 304 || (100..<200).contains(head.status)
                }
                if noBody {
                    out.append(.end)
                } else if te.utf8Contains("chunked") {
                    state = .chunkSize
                } else if let cl = head.header("content-length") {
                    guard let n = HTTP1Parser.contentLength(cl) else {
                        throw HTTPParseError(reason: "invalid Content-Length: \(cl)")
                    }
                    if n == 0 { out.append(.end) } else { state = .fixed(remaining: n) }
                } else if isRequest {
                    out.append(.end)
                } else {
                    state = .untilClose
                }
            case .fixed(let remaining):
                let avail = buffer.count - pos
                if avail == 0 { break loop }
                let n = min(avail, remaining)
                out.append(.body(Array(buffer[pos..<(pos + n)])))
                pos += n
                if n == remaining { state = .head; out.append(.end) } else { state = .fixed(remaining: remaining - n); break loop }
            case .chunkSize:
                guard let lineEnd = findCRLF(from: pos) else {
                    if buffer.count - pos > 1024 { throw HTTPParseError(reason: "chunk size line too long") }
                    break loop
                }
                // hex digits, then optional spaces and `;extensions` — read as bytes
                var size = 0, k = pos, digits = 0
                while k < lineEnd, buffer[k] == 32 || buffer[k] == 9 { k += 1 }
                while k < lineEnd, let d = HTTP1Parser.hexValue(buffer[k]), digits < 15 { size = size << 4 | d; k += 1; digits += 1 }
                while k < lineEnd, buffer[k] == 32 || buffer[k] == 9 { k += 1 }
                guard digits > 0, k == lineEnd || buffer[k] == 59 else {
                    throw HTTPParseError(reason: "invalid chunk size '\(String(decoding: buffer[pos..<min(lineEnd, pos + 20)], as: UTF8.self))'")
                }
                pos = lineEnd + 2
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let avail = buffer.count - pos
                if avail == 0 { break loop }
                let n = min(avail, remaining)
                out.append(.body(Array(buffer[pos..<(pos + n)])))
                pos += n
                if n == remaining { state = .chunkDataEnd } else { state = .chunkData(remaining: remaining - n); break loop }
            case .chunkDataEnd:
                if buffer.count - pos < 2 { break loop }
                guard buffer[pos] == 13 && buffer[pos + 1] == 10 else { throw HTTPParseError(reason: "missing CRLF after chunk") }
                pos += 2
                state = .chunkSize
            case .trailers:
                guard let lineEnd = findCRLF(from: pos) else {
                    if buffer.count - pos > 8192 { throw HTTPParseError(reason: "trailers too long") }
                    break loop
                }
                let empty = lineEnd == pos
                pos = lineEnd + 2
                if empty { state = .head; out.append(.end) }
            case .untilClose:
                if pos < buffer.count { out.append(.body(Array(buffer[pos...]))); pos = buffer.count }
                break loop
            case .lost:
                pos = buffer.count
                break loop
            }
        }
        return out
    }

    @inline(__always) static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: return Int(c - 48)
        case 97...102: return Int(c - 87)
        case 65...70: return Int(c - 55)
        default: return nil
        }
    }

    private func findCRLF(from: Int) -> Int? {
        var i = from
        while i + 1 < buffer.count {
            if buffer[i] == 13 && buffer[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }

    private func findHeadEnd(from: Int) -> (start: Int, after: Int)? {
        var i = from
        while i + 3 < buffer.count {
            if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { return (i, i + 4) }
            i += 1
        }
        return nil
    }

    /// A Content-Length value: digits between optional spaces or tabs (RFC 9110 §8.6), or nil.
    static func contentLength(_ v: String) -> Int? {
        var n = 0, digits = 0, seenEnd = false
        for c in v.utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if seenEnd { return nil }
                guard digits < 18 else { return nil }
                n = n * 10 + Int(c - UInt8(ascii: "0")); digits += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if digits > 0 { seenEnd = true }
            default:
                return nil
            }
        }
        return digits > 0 ? n : nil
    }

    /// The head's lines split at CRLF, read as bytes where they lie (no String of the whole head,
    /// no Foundation splitting or trimming: this runs once per message of every connection).
    private func parseHead(_ bytes: ArraySlice<UInt8>) throws -> HTTPHead {
        // lines are found one after another where they lie: no array of lines or of the start
        // line's fields (each an allocation, for every message of every connection)
        func lineEnd(from: Int) -> Int {
            var i = from
            while i + 1 < bytes.endIndex {
                if bytes[i] == 13, bytes[i + 1] == 10 { return i }
                i += 1
            }
            return bytes.endIndex
        }
        let firstEnd = lineEnd(from: bytes.startIndex)
        let start = bytes[bytes.startIndex..<firstEnd]
        var head = HTTPHead(isRequest: isRequest)
        // the start line's fields: runs of spaces separate them; the third is the rest of the line
        var f0 = start[start.startIndex..<start.startIndex], f1 = f0, f2 = f0, count = 0
        var j = start.startIndex
        while j < start.endIndex, count < 3 {
            while j < start.endIndex, start[j] == 32 { j += 1 }
            guard j < start.endIndex else { break }
            if count == 2 { f2 = start[j...]; count = 3; break }
            var k = j
            while k < start.endIndex, start[k] != 32 { k += 1 }
            if count == 0 { f0 = start[j..<k] } else { f1 = start[j..<k] }
            count += 1
            j = k
        }
        func isHTTP1(_ b: ArraySlice<UInt8>) -> Bool {
            b.count >= 7 && b.starts(with: "HTTP/1.".utf8)
        }
        func text(_ b: ArraySlice<UInt8>) -> String { String(decoding: b, as: UTF8.self) }
        if isRequest {
            guard count == 3, isHTTP1(f2), f0.allSatisfy({ ($0 >= 65 && $0 <= 90) || $0 == 45 }) else {
                throw HTTPParseError(reason: "not an HTTP/1.x request line: \(text(start).prefix(60))")
            }
            head.method = text(f0); head.path = text(f1); head.version = text(f2)
        } else {
            guard count >= 2, isHTTP1(f0), f1.count == 3, f1.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                throw HTTPParseError(reason: "not an HTTP/1.x status line: \(text(start).prefix(60))")
            }
            let status = f1.reduce(0) { $0 * 10 + Int($1 - 48) }
            guard (100...999).contains(status) else { throw HTTPParseError(reason: "not an HTTP/1.x status line: \(text(start).prefix(60))") }
            head.version = text(f0); head.status = status
        }
        // one header a line at most: the head's line feeds, counted once, size the array
        var lines = 0
        for b in bytes[firstEnd...] where b == 10 { lines += 1 }
        head.headers.reserveCapacity(lines + 1)
        var from = firstEnd + 2
        while from < bytes.endIndex {
            let e0 = lineEnd(from: from)
            defer { from = e0 + 2 }
            if e0 == from { continue }
            let l = bytes[from..<e0]
            guard let colon = l.firstIndex(of: 58) else { throw HTTPParseError(reason: "malformed header line") }
            var v = colon + 1, e = l.endIndex
            while v < e, l[v] == 32 || l[v] == 9 { v += 1 }
            while e > v, l[e - 1] == 32 || l[e - 1] == 9 { e -= 1 }
            head.headers.append((text(l[..<colon]), text(l[v..<e])))
        }
        return head
    }
}
