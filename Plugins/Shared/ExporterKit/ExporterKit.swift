// Plugin-side helpers shared (statically) by the Swift exporter plugins: the C table glue,
// config access, an HTTP client over libcurl, JSON values. Plugins see only the C header;
// this kit is plugin code, not the sensor core.
import COISPExporterABI
import COISPHTTP
import CZlibCrypto
import Foundation
import OISPJSON

/// One record handed to an exporter.
public struct Record {
    public let eventType: String
    public let timestampNs: Int64
    /// One copy of the host's bytes (the batch's pointers live only for the call): the JSON, then
    /// the event id, then the partition key. The strings are made when asked for, so a plugin
    /// that never reads them pays nothing for them.
    let storage: Data
    let jsonCount: Int, idCount: Int
    public var json: Data { storage.prefix(jsonCount) }
    public var eventID: String { String(decoding: storage[jsonCount..<(jsonCount + idCount)], as: UTF8.self) }
    public var partitionKey: String { String(decoding: storage[(jsonCount + idCount)...], as: UTF8.self) }
    /// The JSON bytes, for the time of `body` (no copy).
    public func withJSON<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<jsonCount])) }
    }

    init(_ r: oisp_record) {
        eventType = r.event_type.map { String(cString: $0) } ?? ""
        timestampNs = r.timestamp_ns
        jsonCount = r.json.len
        idCount = r.event_id.len
        var d = Data(capacity: r.json.len + r.event_id.len + r.partition_key.len)
        if let p = r.json.ptr { d.append(p, count: r.json.len) }
        if let p = r.event_id.ptr { d.append(p, count: r.event_id.len) }
        if let p = r.partition_key.ptr { d.append(p, count: r.partition_key.len) }
        storage = d
    }
    /// The event as plain Swift values (lazily decoded).
    public var object: [String: Any] { JSONAny.object(json) ?? [:] }
}

/// Appends `s` to `out` as a quoted JSON string (the SDK's JSON writer: RFC 8259 escapes,
/// UTF-8 passed through, runs of plain bytes copied whole).
public func appendJSONString(_ s: UnsafeRawBufferPointer, to out: inout [UInt8]) {
    var w = JSONWriter(capacity: 0)
    swap(&w.bytes, &out)
    w.string(utf8: s)
    swap(&w.bytes, &out)
}

public func appendJSONString(_ s: [UInt8], to out: inout [UInt8]) { s.withUnsafeBytes { appendJSONString($0, to: &out) } }
public func appendJSONString(_ s: Data, to out: inout [UInt8]) { s.withUnsafeBytes { appendJSONString($0, to: &out) } }
public func appendJSONString(_ s: String, to out: inout [UInt8]) {
    var s = s
    s.withUTF8 { appendJSONString(UnsafeRawBufferPointer($0), to: &out) }
}

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

/// Writes `status->rejected` (ABI 1.1) when the host's status struct has the field; false for a
/// 1.0 host, which cannot take a partial refusal.
public func setRejected(_ status: UnsafeMutablePointer<oisp_export_status>?, _ n: Int) -> Bool {
    guard let st = status, st.pointee.struct_size >= MemoryLayout<oisp_export_status>.offset(of: \.rejected)! + MemoryLayout<Int>.size else {
        return false
    }
    st.pointee.rejected = n
    return true
}

/// What an export returns to the host.
public enum ExportResult {
    case ok
    /// Delivered, except `rejected` records the backend refused for good (ABI 1.1: the host
    /// counts them as dropped, not exported).
    case okRejecting(rejected: Int, message: String)
    /// `rejected`: how many of the `accepted` records were refused for good (ABI 1.1).
    case retry(message: String, retryAfterMs: Int? = nil, accepted: Int = 0, rejected: Int = 0)
    case permanent(message: String)
}

/// Services of the host for one instance.
public final class PluginHost {
    let api: UnsafePointer<oisp_host_api>?
    public let instanceName: String
    init(api: UnsafePointer<oisp_host_api>?, instanceName: String) { self.api = api; self.instanceName = instanceName }
    public func log(_ level: oisp_log_level, _ s: String) {
        guard let api else { return }
        var m = s
        m.withUTF8 { b in b.withMemoryRebound(to: CChar.self) { api.pointee.callback_log(api.pointee.host_ctx, level, $0.baseAddress, $0.count) } }
    }
    public func info(_ s: String) { log(OISP_LOG_INFO, s) }
    public func warn(_ s: String) { log(OISP_LOG_WARN, s) }
    public func count(_ name: String, _ n: Int) {
        guard let api, n > 0 else { return }
        api.pointee.callback_counter_add(api.pointee.host_ctx, name, UInt64(n))
    }
}

/// An exporter implemented in Swift with ExporterKit.
public protocol Exporter: AnyObject {
    init(config: Config, host: PluginHost) throws
    /// `batchID`/`attempt` let an exporter resend only what failed on the previous attempt.
    func export(_ records: [Record], batchID: UInt64, attempt: Int) -> ExportResult
    func flush() -> ExportResult
    /// Called from `on_destroy`, after every other call: stop the threads the exporter started.
    func close()
}

extension Exporter {
    public func close() {}
}

/// Config error naming the key.
public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ key: String, _ message: String) { description = "key '\(key)': \(message)" }
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

/// The exporter's `[export.<name>]` table: flat entries (nested tables as `a.b`) and the JSON.
public struct Config {
    public let entries: [(String, String)]
    public let json: [String: Any]
    public func string(_ k: String) -> String? { entries.last { $0.0 == k }?.1 }
    public func string(_ k: String, default d: String) -> String { string(k) ?? d }
    /// true/false or On/Off (`parseBool`: the one rule of every exporter and of the host).
    public func bool(_ k: String, default d: Bool) throws -> Bool {
        guard let v = string(k) else { return d }
        return try parseBool(k, v)
    }
    /// One of `values` (e.g. `compressionValues`).
    public func choice(_ k: String, _ values: [String], default d: String) throws -> String {
        guard let v = string(k) else { return d }
        guard values.contains(v) else { throw ConfigError(k, "expected one of \(values.joined(separator: ", ")), got '\(v)'") }
        return v
    }
    public func int(_ k: String, default d: Int) throws -> Int {
        guard let v = string(k) else { return d }
        guard let i = Int(v) else { throw ConfigError(k, "expected an integer, got '\(v)'") }
        return i
    }
    /// Keys under a table, e.g. `prefix("header")` for `header.Authorization`.
    public func table(_ prefix: String) -> [(String, String)] {
        entries.filter { $0.0.hasPrefix(prefix + ".") }.map { (String($0.0.dropFirst(prefix.count + 1)), $0.1) }
    }
    /// Sizes like "100M", "5K", "1G" (Fluent Bit style).
    public func size(_ k: String, default d: Int) throws -> Int {
        guard var v = string(k)?.uppercased().trimmingCharacters(in: .whitespaces) else { return d }
        var mult = 1
        if v.hasSuffix("B") { v.removeLast() }
        switch v.last {
        case "K": mult = 1 << 10; v.removeLast()
        case "M": mult = 1 << 20; v.removeLast()
        case "G": mult = 1 << 30; v.removeLast()
        default: break
        }
        guard let n = Int(v), n > 0 else { throw ConfigError(k, "expected a size like 100M, got '\(string(k)!)'") }
        return n * mult
    }
    /// Durations like "1m", "30s", "500ms", "1h" (Fluent Bit style), in milliseconds.
    public func duration(_ k: String, defaultMs d: Int) throws -> Int {
        guard let v = string(k)?.lowercased().trimmingCharacters(in: .whitespaces) else { return d }
        let units: [(String, Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (u, m) in units where v.hasSuffix(u) {
            if let n = Double(v.dropLast(u.count)) { return Int(n * Double(m)) }
        }
        if let n = Int(v) { return n * 1000 }
        throw ConfigError(k, "expected a duration like 1m, 30s or 500ms, got '\(v)'")
    }
}

/// HTTP via libcurl (COISPHTTP), one connection cache per instance.
public final class HTTPClient {
    let h = oisp_http_new()
    public struct Options {
        public var timeoutMs = 30000
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
        public var verify = true
        public var userpwd: String?
        public var awsSigV4: String?
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
    deinit { oisp_http_free(h) }

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
                        return oisp_http_perform(h, &rq, &rs)
                    } }
                } } } } }
            }
        let hdrText = rs.headers.map { String(cString: $0) } ?? ""
        var hdrs: [(String, String)] = []
        for line in hdrText.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n") {
            guard let c = line.firstIndex(of: ":") else { continue }
            hdrs.append((String(line[..<c]), line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)))
        }
        let err: String? = rc == 0 ? nil : withUnsafeBytes(of: rs.error) { String(cString: Array($0.bindMemory(to: CChar.self)) + [0]) }
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

/// gzip with zlib.
public func gzipData(_ d: Data) -> Data { d.withUnsafeBytes { Data(gzip($0)) } }
/// gzip of a body built as bytes.
public func gzipData(_ b: [UInt8]) -> [UInt8] { b.withUnsafeBytes { gzip($0) } }

func gzip(_ input: UnsafeRawBufferPointer) -> [UInt8] {
    var strm = z_stream()
    deflateInit2_(&strm, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&strm) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&strm, UInt(input.count))) + 32)
    let n: Int = out.withUnsafeMutableBufferPointer { ob in
        strm.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        strm.avail_in = UInt32(input.count)
        strm.next_out = ob.baseAddress; strm.avail_out = UInt32(ob.count)
        _ = deflate(&strm, Z_FINISH)
        return ob.count - Int(strm.avail_out)
    }
    out.removeLast(out.count - n)
    return out
}

/// `<strftime(format) of the second>.<microseconds, six digits, truncated>` for nanosecond
/// timestamps, as the Fluent Bit outputs write dates. The calendar text is made once per
/// second: a batch's records mostly share theirs.
public struct SecondsClock {
    let format: String
    var second = Int64.min
    var text: [UInt8] = []
    public init(format: String) { self.format = format }

    /// The whole second `ns` falls in (rounded down, also before 1970).
    public static func second(_ ns: Int64) -> Int64 { ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000 }

    public mutating func append(_ ns: Int64, to out: inout [UInt8]) {
        let sec = SecondsClock.second(ns)
        if sec != second { second = sec; text = Array(strftimeUTC(format, Int(sec)).utf8) }
        out.append(contentsOf: text)
        out.append(UInt8(ascii: "."))
        appendSixDigits((ns - sec * 1_000_000_000) / 1000, to: &out)
    }
}

/// `v` (0…999999) as exactly six decimal digits.
public func appendSixDigits(_ v: Int64, to out: inout [UInt8]) {
    var d: Int64 = 100_000
    while d > 0 { out.append(UInt8(48 + (v / d) % 10)); d /= 10 }
}

/// strftime in UTC.
public func strftimeUTC(_ format: String, _ seconds: Int) -> String {
    var t = time_t(seconds)
    var tmv = tm()
    gmtime_r(&t, &tmv)
    var buf = [CChar](repeating: 0, count: 512)
    let n = strftime(&buf, buf.count, format, &tmv)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// JSON as plain Swift values (`[String: Any]` with String / Bool / Int64 / Double / arrays), read
/// with the SDK's parser: booleans and integers stay apart, no Foundation bridging.
public enum JSONAny {
    public static func object(_ d: Data) -> [String: Any]? {
        guard let v = try? JSONParser.parse(d), case .object(let o) = v else { return nil }
        return native(o)
    }

    static func native(_ o: JSONObject) -> [String: Any] {
        var out: [String: Any] = [:]
        out.reserveCapacity(o.count)
        for (k, v) in o where out[k] == nil { if let x = native(v) { out[k] = x } }
        return out
    }

    static func native(_ v: JSONValue) -> Any? {
        switch v {
        case .null: return nil
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map { native($0) as Any }
        case .object(let o): return native(o)
        }
    }
}

/// Base URL from Fluent Bit style host/port/tls keys.
public func baseURL(_ c: Config, defaultPort: Int) throws -> String {
    let host = c.string("host", default: "127.0.0.1")
    let port = try c.int("port", default: defaultPort)
    let tls = try c.bool("tls", default: false)
    return "\(tls ? "https" : "http")://\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):\(port)"
}

/// TLS and auth options shared by the HTTP-based outputs.
public func httpOptions(_ c: Config) throws -> HTTPClient.Options {
    var o = HTTPClient.Options()
    o.verify = try c.bool("tls_verify", default: true) && !(try c.bool("tls.verify", default: true) == false)
    o.caFile = c.string("ca_file") ?? c.string("tls.ca_file")
    o.certFile = c.string("crt_file") ?? c.string("tls.crt_file")
    o.keyFile = c.string("key_file") ?? c.string("tls.key_file")
    o.timeoutMs = try c.int("timeout_ms", default: 30000)
    if let u = c.string("http_user") { o.userpwd = "\(u):\(c.string("http_passwd") ?? "")" }
    return o
}
