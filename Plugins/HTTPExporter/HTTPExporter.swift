// [export.http] — Fluent Bit's `http` output, key for key:
// host, port, uri, tls, tls_verify, ca_file, format (json | json_lines | json_stream),
// header (table or array of "Name Value"), http_user/http_passwd, compress (gzip),
// json_date_key (default "date"; "false" disables), json_date_format (double | epoch | iso8601 |
// java_sql_timestamp).
import COISPExporterABI
import Foundation
import OISPExporterKit

final class HTTPOutput: Exporter {
    let http = HTTPClient()
    let url: String
    let format: String
    var headers: [String] = []
    let gzip: Bool
    let dateKey: String?
    let dateFormat: String
    let host: PluginHost

    init(config c: Config, host: PluginHost) throws {
        self.host = host
        url = try baseURL(c, defaultPort: 80) + c.string("uri", default: "/")
        format = c.string("format", default: "json")
        guard ["json", "json_lines", "json_stream"].contains(format) else {
            throw ConfigError("format", "expected json, json_lines or json_stream, got '\(format)'")
        }
        http.options = try httpOptions(c)
        if let compress = c.string("compress"), compress != "gzip", compress != "none", !compress.isEmpty {
            throw ConfigError("compress", "expected gzip, got '\(compress)'")
        }
        gzip = c.string("compress") == "gzip"
        let dk = c.string("json_date_key", default: "date")
        dateKey = ["false", "off", ""].contains(dk.lowercased()) ? nil : dk
        dateFormat = c.string("json_date_format", default: "double")
        guard ["double", "epoch", "iso8601", "java_sql_timestamp", "epoch_ms"].contains(dateFormat) else {
            throw ConfigError("json_date_format", "expected double, epoch, iso8601 or java_sql_timestamp, got '\(dateFormat)'")
        }
        for (k, v) in c.table("header") { headers.append(try headerLine(key: "header.\(k)", name: k, value: v)) }
        if let arr = c.json["header"] as? [Any] {
            for h in arr.compactMap({ $0 as? String }) {
                let parts = h.split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { throw ConfigError("header", "expected \"Name Value\", got '\(h)'") }
                headers.append(try headerLine(key: "header", name: String(parts[0]), value: String(parts[1])))
            }
        }
        headers.append(format == "json" ? "Content-Type: application/json" : "Content-Type: application/x-ndjson")
        if gzip { headers.append("Content-Encoding: gzip") }
        headers.append("User-Agent: oisp-sensor/0.1")
        host.info("http output → \(url) (\(format))")
    }

    func dateValue(_ ns: Int64) -> String {
        let secs = Double(ns) / 1e9
        switch dateFormat {
        case "epoch": return String(Int64(secs))
        case "epoch_ms": return String(ns / 1_000_000)
        case "iso8601": return "\"" + strftimeUTC("%Y-%m-%dT%H:%M:%S", Int(ns / 1_000_000_000)) + String(format: ".%06dZ", Int((ns / 1000) % 1_000_000)) + "\""
        case "java_sql_timestamp": return "\"" + strftimeUTC("%Y-%m-%d %H:%M:%S", Int(ns / 1_000_000_000)) + String(format: ".%06d", Int((ns / 1000) % 1_000_000)) + "\""
        default: return String(format: "%.6f", secs)
        }
    }

    /// The record with the date key added first (Fluent Bit puts it in every record).
    func line(_ r: Record) -> Data {
        guard let dk = dateKey, r.json.first == UInt8(ascii: "{") else { return r.json }
        var d = Data("{\"\(dk)\":\(dateValue(r.timestampNs))".utf8)
        if r.json.count > 2 { d.append(UInt8(ascii: ",")) }
        d.append(r.json.dropFirst())
        return d
    }

    /// One batch. A 413 (the server's body limit, e.g. nginx's `client_max_body_size`) is not the
    /// batch's fault but its size's: the batch is sent again in halves, down to single records,
    /// and only a record too large on its own is refused (counted as rejected, ABI 1.1) — instead
    /// of the whole batch being dropped.
    func export(_ records: [Record], batchID: UInt64, attempt: Int) -> ExportResult {
        var refused: [Record] = []
        var settled = 0 // leading records delivered or refused
        let result = send(records[...], batchID: batchID, settled: &settled, refused: &refused)
        let why = refused.isEmpty ? "" :
            "\(refused.count) record(s) larger than the server takes (HTTP 413) refused for good: " +
            refused.prefix(3).map { "\($0.eventID) (\($0.json.count) bytes)" }.joined(separator: ", ")
        switch result {
        case .ok:
            return refused.isEmpty ? .ok : .okRejecting(rejected: refused.count, message: why)
        case .retry(let m, let after, _, _) where settled > 0:
            return .retry(message: m, retryAfterMs: after, accepted: settled, rejected: refused.count)
        case .permanent(let m) where settled > 0:
            // what was settled stays settled; the host retries the rest, which fails on its own
            return .retry(message: m, accepted: settled, rejected: refused.count)
        default:
            return result
        }
    }

    func send(_ records: ArraySlice<Record>, batchID: UInt64, settled: inout Int, refused: inout [Record]) -> ExportResult {
        let resp = http.request("POST", url, headers: headers + ["X-OISP-Batch-Id: \(batchID)"], body: body(records))
        if resp.status == 413 {
            if records.count == 1 { refused.append(records.first!); settled += 1; return .ok }
            let mid = records.startIndex + records.count / 2
            let first = send(records[..<mid], batchID: batchID, settled: &settled, refused: &refused)
            guard case .ok = first else { return first }
            return send(records[mid...], batchID: batchID, settled: &settled, refused: &refused)
        }
        let result = HTTPClient.classify(resp, what: "POST \(url)")
        if case .ok = result { host.count("http_events", records.count); settled += records.count }
        return result
    }

    func body(_ records: ArraySlice<Record>) -> Data {
        var body = Data()
        switch format {
        case "json":
            body.append(UInt8(ascii: "["))
            for (i, r) in records.enumerated() { if i > 0 { body.append(UInt8(ascii: ",")) }; body.append(line(r)) }
            body.append(UInt8(ascii: "]"))
        case "json_lines":
            for r in records { body.append(line(r)); body.append(10) }
        default:
            for r in records { body.append(line(r)) }
        }
        return gzip ? gzipData(body) : body
    }

    func flush() -> ExportResult { .ok }
}

@_cdecl("oisp_exporter_entry")
public func oispHTTPEntry(_ major: UInt32, _ minor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    guard major == UInt32(OISP_EXPORTER_ABI_MAJOR) else { return nil }
    return makePluginTable(name: "http", version: "0.1.0", description: "HTTP output (Fluent Bit http options): json, json_lines, json_stream",
                           schema: nil) { try HTTPOutput(config: $0, host: $1) }
}
