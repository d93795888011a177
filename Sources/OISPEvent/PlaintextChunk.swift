/// A piece of plaintext seen at the TLS boundary of one connection — what capture hands to the
/// decoder (and what recorded `capture.ssl_data` events carry, so decoding can be replayed).
public struct PlaintextChunk: Sendable, Equatable {
    /// Connection identity: process and its SSL* (or socket) handle.
    public struct ConnectionID: Hashable, Sendable {
        public var pid: Int64
        public var handle: UInt64
        public init(pid: Int64, handle: UInt64) { self.pid = pid; self.handle = handle }
    }
    public var connection: ConnectionID
    /// true: application → network (requests); false: network → application (responses).
    public var isWrite: Bool
    public var bytes: [UInt8]
    public var ts: Timestamp
    public var tid: Int64?
    /// Bytes of this call were cut at the capture limit.
    public var truncated: Bool
    /// Remote peer, when capture attributed the connection.
    public var remoteIP: String?
    public var remotePort: Int?
    /// No bytes: the TLS library ended the connection (SSL_free, gnutls_deinit, PR_Close, Go's
    /// Close). Not written as a `capture.ssl_data` event: raw recordings carry data only.
    public var closed: Bool
    /// Read from a plain TCP socket (`[capture] plain_http_ports`), not at a TLS library.
    public var plain: Bool
    /// Bytes of the call that capture left out after this point (beyond `max_capture_bytes`, or
    /// unreadable): carried by an empty chunk where the cut is, so the decoder can skip them and
    /// stay in step with the connection's messages. 0 for every other chunk.
    public var missing: Int

    public init(connection: ConnectionID, isWrite: Bool, bytes: [UInt8], ts: Timestamp, tid: Int64? = nil,
                truncated: Bool = false, remoteIP: String? = nil, remotePort: Int? = nil, closed: Bool = false, plain: Bool = false,
                missing: Int = 0) {
        self.connection = connection; self.isWrite = isWrite; self.bytes = bytes; self.ts = ts; self.tid = tid
        self.truncated = truncated; self.remoteIP = remoteIP; self.remotePort = remotePort; self.closed = closed
        self.plain = plain; self.missing = missing
    }
}

extension PlaintextChunk {
    /// The first four bytes of the request lines of the methods an AI call uses.
    public static let requestLineStarts: [[UInt8]] = ["GET ", "POST", "PUT ", "PATC", "DELE", "HEAD", "OPTI"].map { Array($0.utf8) }
    /// … and of HTTP/2's connection preface ("PRI * HTTP/2.0").
    public static let requestStarts: [[UInt8]] = requestLineStarts + [Array("PRI ".utf8)]

    /// Whether `b` begins with one of `starts` (each four bytes).
    public static func begins(_ b: [UInt8], with starts: [[UInt8]]) -> Bool {
        b.count >= 4 && starts.contains { $0[0] == b[0] && $0[1] == b[1] && $0[2] == b[2] && $0[3] == b[3] }
    }

    /// How plaintext was captured, as its events say: the source's method and point, and the
    /// confidence reason (a TLS library's uprobe, or a plain socket's tracepoint). One answer for
    /// raw capture events and for the AI events decoded from them.
    public static func capture(plain: Bool, write: Bool) -> (method: String, point: String, reason: String) {
        plain ? ("ebpf_tracepoint", write ? "socket_write" : "socket_read", "plaintext_socket_capture")
              : ("ebpf_uprobe", write ? "ssl_write" : "ssl_read", "tls_boundary_capture")
    }
}
