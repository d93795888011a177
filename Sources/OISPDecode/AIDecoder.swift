import Foundation
import OISPEvent
import Synchronization

/// Decodes captured TLS plaintext into OISP AI events. One instance per sensor; state is kept
/// per connection (pid + SSL*) so interleaved connections never mix. Usable on its own from
/// recorded chunks (tests, `replay` of raw capture).
public final class AIDecoder: @unchecked Sendable {
    public struct Options: Sendable {
        /// Emit `ai.streaming_chunk` events for streamed responses (opt-in: `ai.response` carries the
        /// assembled answer, `chunk_count` and `time_to_first_token_ms`).
        public var streamingChunks = false
        /// Largest body kept per message (bigger ones are cut and the event marked partial).
        public var maxBodyBytes = 16 << 20
        /// Key for the `auth.key_hash` HMAC (`[redaction] hash_salt`).
        public var hashKey: [UInt8] = []
        /// Connections idle this long are forgotten.
        public var idleTimeoutNs: Int64 = 300_000_000_000
        public init() {}
    }

    /// Counters for the metrics endpoint.
    public struct Stats: Sendable, Equatable {
        public var chunks: UInt64 = 0
        public var requests: UInt64 = 0
        public var responses: UInt64 = 0
        public var aiEvents: UInt64 = 0
        /// Connections whose state was reset after malformed input.
        public var parseErrors: UInt64 = 0
        public var http2Connections: UInt64 = 0
        public var serverSideConnections: UInt64 = 0
        public init() {}
    }

    /// Envelope supplier: host, process and source for events of a pid.
    public typealias Envelope = (Int64) -> (host: OISPEvent.Host?, process: OISPEvent.Process?, source: OISPEvent.Source)

    let registry: ProviderRegistry
    let options: Options
    /// HMAC under `options.hashKey`, its key states prepared once (not per call).
    let keyedHash: KeyedHash
    private let envelope: Envelope
    private var connections: [PlaintextChunk.ConnectionID: Connection] = [:]
    /// Read from other threads (the metrics loop) while the decoding thread counts: behind a lock.
    private let counters = Mutex(Stats())
    public var stats: Stats { counters.withLock { $0 } }
    public private(set) var lastErrors: [String] = []
    /// Told when a connection is found to carry nothing the decoder emits: this process is the
    /// server side of HTTP, or the protocol is not HTTP. Capture can then stop sending its
    /// plaintext (see `BPFCapture.quiet`) until a write on it starts a new request.
    public var onQuiet: ((PlaintextChunk.ConnectionID) -> Void)?

    public init(registry: ProviderRegistry = ProviderRegistry(), options: Options = Options(), envelope: @escaping Envelope) {
        self.registry = registry
        self.options = options
        self.envelope = envelope
        keyedHash = KeyedHash(key: options.hashKey)
    }

    /// An event of a call, seen in what the client wrote (`write`) or read, on a TLS connection
    /// or a plain-HTTP one (`plain`): its source and reason say which (`PlaintextChunk.capture`).
    func makeEvent(_ type: String, ts: Timestamp, connection: PlaintextChunk.ConnectionID, write: Bool, plain: Bool,
                   complete: Bool, data: JSONObject) -> OISPEvent {
        let env = envelope(connection.pid)
        let how = PlaintextChunk.capture(plain: plain, write: write)
        var src = env.source
        src.captureMethod = how.method
        src.capturePoint = how.point
        counters.withLock { $0.aiEvents += 1 }
        return OISPEvent(eventType: type, ts: ts, host: env.host, process: env.process, source: src,
                         confidence: .init(level: "high", completeness: complete ? "full" : "partial",
                                           reasons: [how.reason, "known_endpoint"]),
                         data: data)
    }

    /// Feeds one chunk; returns the events it completes.
    public func feed(_ chunk: PlaintextChunk) -> [OISPEvent] {
        if chunk.closed { return close(chunk.connection, ts: chunk.ts) }
        counters.withLock { $0.chunks += 1 }
        let conn: Connection
        if let c = connections[chunk.connection] { conn = c } else {
            conn = Connection(id: chunk.connection, decoder: self, remotePort: chunk.remotePort, plain: chunk.plain)
            connections[chunk.connection] = conn
        }
        conn.lastSeen = chunk.ts
        do {
            return try conn.feed(chunk)
        } catch {
            counters.withLock { $0.parseErrors += 1 }
            lastErrors.append("\(chunk.connection.pid)/\(String(chunk.connection.handle, radix: 16)): \(error)")
            if lastErrors.count > 20 { lastErrors.removeFirst() }
            connections[chunk.connection] = nil // reset; events already decoded are kept
            return []
        }
    }

    /// Feeds many chunks in order.
    public func feed<S: Sequence>(_ chunks: S) -> [OISPEvent] where S.Element == PlaintextChunk {
        var out: [OISPEvent] = []
        for c in chunks { out.take(feed(c)) }
        return out
    }

    /// The connection closed (or its process exited): finish read-until-close responses.
    public func close(_ id: PlaintextChunk.ConnectionID, ts: Timestamp = .now()) -> [OISPEvent] {
        guard let c = connections.removeValue(forKey: id) else { return [] }
        return c.close(ts: ts)
    }

    /// Closes every connection of a process.
    public func processExited(pid: Int64, ts: Timestamp = .now()) -> [OISPEvent] {
        var out: [OISPEvent] = []
        for id in connections.keys where id.pid == pid { out.take(close(id, ts: ts)) }
        return out
    }

    /// Forgets idle connections; an exchange one left cut (an answer the client stopped reading
    /// and never closed) is reported as it stood, marked partial.
    @discardableResult
    public func sweep(now: Timestamp) -> [OISPEvent] {
        var out: [OISPEvent] = []
        for (id, c) in connections where now.nanoseconds - c.lastSeen.nanoseconds >= options.idleTimeoutNs {
            out.take(close(id, ts: c.lastSeen))
        }
        return out
    }

    public var openConnections: Int { connections.count }

    func counted(request: Bool) { counters.withLock { if request { $0.requests += 1 } else { $0.responses += 1 } } }
    func countedH2() { counters.withLock { $0.http2Connections += 1 } }
    func countedServerSide() { counters.withLock { $0.serverSideConnections += 1 } }
}

/// State of one connection.
final class Connection {
    enum Mode { case unknown, http1, http2, serverSide, opaque }
    let id: PlaintextChunk.ConnectionID
    unowned let decoder: AIDecoder
    let remotePort: Int?
    /// Plain HTTP on a socket (no TLS): its calls' endpoints are `http://`.
    let plain: Bool
    var mode: Mode = .unknown
    var lastSeen = Timestamp(nanoseconds: 0)
    var requestParser = HTTP1Parser(isRequest: true)
    var responseParser = HTTP1Parser(isRequest: false)
    var current: AIExchange?           // request being written (HTTP/1.1)
    var pending: [AIExchange] = []     // requests awaiting responses, in order
    var h2: HTTP2Session?
    var preface: [UInt8] = []
    /// The last credential its requests carried and its hash (as long as the connection lives).
    let auth = AuthMemo()

    init(id: PlaintextChunk.ConnectionID, decoder: AIDecoder, remotePort: Int?, plain: Bool = false) {
        self.id = id
        self.decoder = decoder
        self.remotePort = remotePort
        self.plain = plain
    }

    static let h2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let methods = ["GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "HEAD ", "OPTIONS "]

    /// The first four bytes of a request line or of HTTP/2's preface: the same test the BPF side
    /// makes before it sends a quiet connection's write again (bpf/oisp.bpf.c, starts_request).
    static func startsRequest(_ b: [UInt8]) -> Bool { PlaintextChunk.begins(b, with: PlaintextChunk.requestStarts) }

    func feed(_ c: PlaintextChunk) throws -> [OISPEvent] {
        if mode == .unknown {
            let start = String(decoding: c.bytes.prefix(8), as: UTF8.self)
            if c.isWrite {
                preface += c.bytes
                if preface.count < Connection.h2Preface.count && Connection.h2Preface.starts(with: preface) { return [] }
                if preface.starts(with: Connection.h2Preface) {
                    mode = .http2
                    decoder.countedH2()
                    h2 = HTTP2Session(connection: self)
                    let bytes = Array(preface.dropFirst(Connection.h2Preface.count))
                    preface = []
                    return try h2!.feed(bytes, isWrite: true, ts: c.ts)
                }
                let p = String(decoding: preface.prefix(8), as: UTF8.self)
                if Connection.methods.contains(where: { p.hasPrefix($0) }) {
                    mode = .http1
                    let bytes = preface
                    preface = []
                    return try feedHTTP1(bytes, isWrite: true, ts: c.ts, truncated: c.truncated)
                }
                mode = .opaque
                decoder.onQuiet?(id)
                return []
            } else {
                // The first bytes arrive by read: this process is the server side, or the
                // protocol is server-first (HTTP never is: its client speaks first). AI events
                // come from the client side only, so either way the connection goes quiet.
                if Connection.methods.contains(where: { start.hasPrefix($0) }) || Connection.h2Preface.starts(with: c.bytes.prefix(24)) {
                    mode = .serverSide
                    decoder.countedServerSide()
                } else if c.bytes.count < 8 && (Connection.methods.contains { $0.hasPrefix(start) } || Connection.h2Preface.starts(with: c.bytes)) {
                    return [] // a few bytes that could still begin a request: wait for more
                } else {
                    mode = .opaque
                }
                decoder.onQuiet?(id)
                return []
            }
        }
        if c.bytes.isEmpty {
            // where capture cut a call: its left-out bytes are skipped, so the message goes on
            // (or ends) in step
            guard c.missing > 0 else { return [] }
            if mode == .http2 {
                // HTTP/2's frames and header compression cannot be followed across left-out
                // bytes: what its streams hold so far is reported (partial), and the connection
                // goes quiet (a new connection on the handle starts afresh)
                let out = h2?.close(ts: c.ts) ?? []
                h2 = nil
                mode = .opaque
                decoder.onQuiet?(id)
                return out
            }
            guard mode == .http1 else { return [] }
            return try feedHTTP1(events: c.isWrite ? requestParser.skip(c.missing) : responseParser.skip(c.missing),
                                 isWrite: c.isWrite, ts: c.ts, truncated: true)
        }
        if c.isWrite, (mode == .http1 && !requestParser.inMessage && responseParser.inMessage && Connection.startsRequest(c.bytes))
            || (mode == .http2 && c.bytes.starts(with: Connection.h2Preface)) {
            // A new request while the last answer is still coming in, or a new HTTP/2 preface: the
            // handle now belongs to a new connection whose predecessor's end capture did not see
            // (an address reused at once after a hang-up, where the stack has no close probe).
            // What the old one left open is reported as it stood; the new one starts afresh.
            let out = close(ts: c.ts)
            restart()
            return out + (try feed(c))
        }
        if mode == .serverSide || mode == .opaque, c.isWrite, Connection.startsRequest(c.bytes) {
            // the same handle now starts a request (a reused SSL* or fd): a client connection
            restart()
            return try feed(c)
        }
        switch mode {
        case .http1: return try feedHTTP1(c.bytes, isWrite: c.isWrite, ts: c.ts, truncated: c.truncated)
        case .http2: return try h2!.feed(c.bytes, isWrite: c.isWrite, ts: c.ts)
        default: return []
        }
    }

    func feedHTTP1(_ bytes: [UInt8], isWrite: Bool, ts: Timestamp, truncated: Bool) throws -> [OISPEvent] {
        try feedHTTP1(events: isWrite ? requestParser.feed(bytes) : responseParser.feed(bytes), isWrite: isWrite, ts: ts, truncated: truncated)
    }

    func feedHTTP1(events: [HTTPParseEvent], isWrite: Bool, ts: Timestamp, truncated: Bool) throws -> [OISPEvent] {
        var out: [OISPEvent] = []
        if isWrite {
            for ev in events {
                switch ev {
                case .head(let h):
                    let x = AIExchange(decoder: decoder, connection: id, remotePort: remotePort, auth: auth, plain: plain)
                    x.requestHeadReceived(h, ts: ts)
                    current = x
                    responseParser.pendingRequestMethods.append(h.method)
                case .body(let b): current?.requestBodyReceived(b)
                case .gap(let n): current?.requestBodyGap(n)
                case .end:
                    guard let x = current else { continue }
                    decoder.counted(request: true)
                    let answered = x.responseEndedEarly != nil
                    out.take(x.requestCompleted(ts: ts, truncated: truncated))
                    if !answered { pending.append(x) }
                    current = nil
                    if pending.count > 64 { pending.removeFirst() }
                }
            }
        } else {
            for ev in events {
                switch ev {
                case .head(let h):
                    // interim answers never get here (the parser passes over them); 101 Switching
                    // Protocols ends HTTP on the connection and is no call's answer either
                    if h.status == 101 { continue }
                    (pending.first ?? current)?.responseHeadReceived(h, ts: ts)
                case .body(let b): if let x = pending.first ?? current { out.take(x.responseBodyReceived(b, ts: ts)) }
                case .gap(let n): (pending.first ?? current)?.responseBodyGap(n)
                case .end:
                    // A response may end before its request body was fully written (early answer).
                    guard let x = pending.isEmpty ? current : pending.removeFirst() else { continue }
                    decoder.counted(request: false)
                    out.take(x.responseCompleted(ts: ts, truncated: truncated))
                }
            }
        }
        return out
    }

    /// The handle starts over as a new connection (its bytes from here on are a new one's).
    func restart() {
        mode = .unknown
        h2 = nil
        requestParser = HTTP1Parser(isRequest: true)
        responseParser = HTTP1Parser(isRequest: false)
        current = nil; pending = []; preface = []
    }

    func close(ts: Timestamp) -> [OISPEvent] {
        var out: [OISPEvent] = []
        if mode == .http2, let h2 { out.take(h2.close(ts: ts)) }
        if mode == .http1, responseParser.inMessage {
            for ev in responseParser.finishUntilClose() {
                if case .end = ev, !pending.isEmpty { out.take(pending.removeFirst().responseCompleted(ts: ts, truncated: false)) }
            }
        }
        if mode == .http1 {
            // an answer cut by the end of the connection (the process gone mid-stream): what came
            for x in pending where x.responseHead != nil { out.take(x.responseCompleted(ts: ts, truncated: true)) }
            pending = []
        }
        return out
    }
}
