// The one libcurl client of the HTTP-based exporters (COISPHTTP) and the Fluent Bit style
// connection keys (host, port, tls, auth) they share.
import COISPHTTP
import Foundation

/// A `Retry-After` value in ms (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date in any of the
/// three forms a recipient must accept (IMF-fixdate, RFC 850, asctime), counted from `now`. A
/// date in the past gives 0; anything else nil (the host's own backoff then applies).
public func parseRetryAfter(_ value: String, now: Date = Date()) -> Int? {
    let v = value.trimmingCharacters(in: .whitespaces)
    if !v.isEmpty, v.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
        guard let secs = Int(v.prefix(9)) else { return nil } // absurd lengths clamp below
        return v.count > 9 ? Int.max / 2 : secs * 1000
    }
    // fixed formats, English names, GMT (a formatter per call: this is the rare retry path)
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "GMT")
    let collapsed = v.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") // asctime pads the day
    for format in ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"] {
        f.dateFormat = format
        guard let at = f.date(from: collapsed) else { continue }
        let ms = (at.timeIntervalSince1970 - now.timeIntervalSince1970) * 1000
        return ms <= 0 ? 0 : Int(ms.rounded(.up))
    }
    return nil
}

/// One user-configured request header as a libcurl header line. The name must be an HTTP token
/// and the value may not carry a line break (no header injection through an `${ENV}` value); an
/// empty value is written `name;`, the form libcurl sends as an empty header (`name:` alone
/// would remove the header instead).
public func headerLine(key: String, name: String, value: String) throws -> String {
    let token = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
    guard !name.isEmpty, name.utf8.allSatisfy({ token.contains($0) }) else {
        throw ConfigError(key, "'\(name)' is not a valid HTTP header name")
    }
    guard !value.utf8.contains(where: { $0 == 10 || $0 == 13 || $0 == 0 }) else {
        throw ConfigError(key, "the value of header '\(name)' contains a line break")
    }
    let v = value.trimmingCharacters(in: .whitespaces)
    return v.isEmpty ? "\(name);" : "\(name): \(v)"
}

/// HTTP via libcurl (COISPHTTP): the one client of every HTTP-based exporter, the HTTP version
/// (HTTP/1.1, or HTTP/2 for OTLP's gRPC) an option. Thread-safe: a call takes an idle libcurl
/// handle (each keeps its connections) or makes one, so concurrent exports never share a handle.
public final class HTTPClient: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [OpaquePointer] = []
    private var all: [OpaquePointer] = []
    public struct Options {
        public var timeoutMs = 30000
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
        public var verify = true
        public var userpwd: String?
        public var awsSigV4: String?
        /// OISP_HTTP_DEFAULT, OISP_HTTP_1_1, OISP_HTTP_2_PRIOR_KNOWLEDGE (h2c), OISP_HTTP_2_TLS.
        public var httpVersion = Int32(OISP_HTTP_DEFAULT)
        public init() {}
    }
    public struct Response {
        public var status: Int
        public var body: Data
        public var headers: [(String, String)]
        public var error: String?
        public func header(_ n: String) -> String? { headers.last { $0.0.lowercased() == n.lowercased() }?.1 }
        public var retryAfterMs: Int? { header("retry-after").flatMap { parseRetryAfter($0) } }
    }
    public var options = Options()
    public init() {}
    deinit { for h in all { oisp_http_free(h) } }

    /// Whether libcurl can be used at all (a handle can be made).
    public var available: Bool { withHandle { $0 != nil } }

    private func withHandle<R>(_ body: (OpaquePointer?) -> R) -> R {
        lock.lock()
        var h = idle.popLast()
        if h == nil, let n = oisp_http_new() { h = n; all.append(n) }
        lock.unlock()
        defer { if let h { lock.lock(); idle.append(h); lock.unlock() } }
        return body(h)
    }

    public func request(_ method: String, _ url: String, headers: [String], body: Data) -> Response {
        body.withUnsafeBytes { request(method, url, headers: headers, bytes: $0) }
    }

    public func request(_ method: String, _ url: String, headers: [String], body: [UInt8]) -> Response {
        body.withUnsafeBytes { request(method, url, headers: headers, bytes: $0) }
    }

    func request(_ method: String, _ url: String, headers: [String], bytes b: UnsafeRawBufferPointer) -> Response {
        var rs = oisp_http_response()
        let cstrs = headers.map { strdup($0) }
        defer { cstrs.forEach { free($0) }; oisp_http_response_free(&rs) }
        let o = options
        let rc: Int32 =
            cstrs.map { UnsafePointer($0) }.withUnsafeBufferPointer { hp in
                opt(o.caFile) { ca in opt(o.certFile) { cert in opt(o.keyFile) { key in opt(o.userpwd) { up in opt(o.awsSigV4) { sig in
                    method.withCString { m in url.withCString { u in
                        var rq = oisp_http_request()
                        rq.method = m; rq.url = u
                        rq.headers = hp.baseAddress; rq.header_count = hp.count
                        rq.body = b.baseAddress?.assumingMemoryBound(to: UInt8.self); rq.body_len = b.count
                        rq.timeout_ms = o.timeoutMs
                        rq.ca_file = ca; rq.cert_file = cert; rq.key_file = key
                        rq.insecure_skip_verify = o.verify ? 0 : 1
                        rq.userpwd = up; rq.aws_sigv4 = sig
                        rq.http_version = o.httpVersion
                        return withHandle { h in h.map { oisp_http_perform($0, &rq, &rs) } ?? -1 }
                    } }
                } } } } }
            }
        let hdrText = rs.headers.map { String(cString: $0) } ?? ""
        var hdrs: [(String, String)] = []
        for line in hdrText.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n") {
            guard let c = line.firstIndex(of: ":") else { continue }
            hdrs.append((String(line[..<c]), line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)))
        }
        var err: String?
        if rc != 0 {
            let t = withUnsafeBytes(of: rs.error) { String(cString: Array($0.bindMemory(to: CChar.self)) + [0]) }
            err = t.isEmpty ? "libcurl error \(rc)" : t
        }
        return Response(status: Int(rs.status), body: rs.body.map { Data(bytes: $0, count: rs.body_len) } ?? Data(), headers: hdrs, error: err)
    }

    /// Fluent Bit's status policy: 2xx OK; 408, 429, 5xx and network errors RETRY (Retry-After
    /// honoured); other 4xx PERMANENT with the response body.
    public static func classify(_ r: Response, what: String) -> ExportResult {
        if let e = r.error { return .retry(message: "\(what): \(e)") }
        switch r.status {
        case 200..<300: return .ok
        case 408, 429, 500...599: return .retry(message: "\(what): HTTP \(r.status) \(String(decoding: r.body.prefix(200), as: UTF8.self))", retryAfterMs: r.retryAfterMs)
        default: return .permanent(message: "\(what): HTTP \(r.status): \(String(decoding: r.body.prefix(500), as: UTF8.self))")
        }
    }
}

func opt<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

/// Base URL from Fluent Bit style host/port/tls keys (`httpConnectionOptions`, defaults from there).
public func baseURL(_ c: Config) throws -> String {
    let host = try c.setting("host")
    let port = try c.int("port")
    let tls = try c.bool("tls")
    return "\(tls ? "https" : "http")://\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):\(port)"
}

/// TLS and auth options shared by the HTTP-based outputs (defaults from their option tables).
public func httpOptions(_ c: Config) throws -> HTTPClient.Options {
    var o = HTTPClient.Options()
    o.verify = try c.bool("tls_verify") && c.bool("tls.verify")
    o.caFile = c.string("ca_file") ?? c.string("tls.ca_file")
    o.certFile = c.string("crt_file") ?? c.string("tls.crt_file")
    o.keyFile = c.string("key_file") ?? c.string("tls.key_file")
    o.timeoutMs = try c.int("timeout_ms")
    if let u = c.string("http_user") { o.userpwd = "\(u):\(c.string("http_passwd") ?? "")" }
    return o
}
