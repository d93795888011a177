// [export.http] — Fluent Bit's `http` output, key for key. Its options: `httpOptionTable` below
// (`oisp plugins describe http`).
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
        url = try baseURL(c) + c.setting("uri")
        format = try c.choice("format")
        http.options = try httpOptions(c)
        gzip = try c.choice("compress") == "gzip"
        let dk = try c.setting("json_date_key")
        dateKey = ["false", "off", ""].contains(dk.lowercased()) ? nil : dk
        dateFormat = try c.choice("json_date_format")
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

    /// The date value as Fluent Bit writes it, appended as bytes.
    struct DateText {
        let format: String
        var clock: SecondsClock

        init(format: String) {
            self.format = format
            clock = SecondsClock(format: format == "java_sql_timestamp" ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%dT%H:%M:%S")
        }

        mutating func append(_ ns: Int64, to out: inout [UInt8]) {
            switch format {
            case "epoch": out.append(contentsOf: String(ns / 1_000_000_000).utf8)
            case "epoch_ms": out.append(contentsOf: String(ns / 1_000_000).utf8)
            case "iso8601", "java_sql_timestamp":
                out.append(UInt8(ascii: "\""))
                clock.append(ns, to: &out)
                if format == "iso8601" { out.append(UInt8(ascii: "Z")) }
                out.append(UInt8(ascii: "\""))
            default: // double: seconds with six decimals, rounded as "%.6f" rounds but without
                     // a Double, which has no room for a nanosecond clock's 19 digits
                guard ns >= 0 else { out.append(contentsOf: String(format: "%.6f", Double(ns) / 1e9).utf8); return }
                let us = (ns + 500) / 1000
                out.append(contentsOf: String(us / 1_000_000).utf8)
                out.append(UInt8(ascii: "."))
                appendSixDigits(us % 1_000_000, to: &out)
            }
        }
    }

    /// `{"<date key>":` — what every record starts with when the date key is on.
    lazy var datePrefix: [UInt8] = {
        guard let dk = dateKey else { return [] }
        var out: [UInt8] = [UInt8(ascii: "{")]
        appendJSONString(dk, to: &out)
        out.append(UInt8(ascii: ":"))
        return out
    }()

    /// The record with the date key added first (Fluent Bit puts it in every record).
    func appendLine(_ r: Record, to out: inout [UInt8], date: inout DateText, prefix: [UInt8]) {
        r.withJSON { j in
            guard !prefix.isEmpty, j.first == UInt8(ascii: "{") else { out.append(contentsOf: j); return }
            out.append(contentsOf: prefix)
            date.append(r.timestampNs, to: &out)
            if j.count > 2 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: j[1...]))
        }
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
            refused.prefix(3).map { "\($0.eventID) (\($0.jsonCount) bytes)" }.joined(separator: ", ")
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

    func body(_ records: ArraySlice<Record>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(records.reduce(2) { $0 + $1.jsonCount + 40 })
        var date = DateText(format: dateFormat)
        let prefix = datePrefix
        switch format {
        case "json":
            out.append(UInt8(ascii: "["))
            for (i, r) in records.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendLine(r, to: &out, date: &date, prefix: prefix)
            }
            out.append(UInt8(ascii: "]"))
        case "json_lines":
            for r in records { appendLine(r, to: &out, date: &date, prefix: prefix); out.append(10) }
        default:
            for r in records { appendLine(r, to: &out, date: &date, prefix: prefix) }
        }
        return gzip ? gzipData(out) : out
    }

    func flush() -> ExportResult { .ok }
}

@_cdecl("oisp_exporter_entry")
public func oispHTTPEntry(_ major: UInt32, _ minor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    guard major == UInt32(OISP_EXPORTER_ABI_MAJOR) else { return nil }
    return makePluginTable(name: "http", version: "0.1.0", description: "HTTP output (Fluent Bit http options): json, json_lines, json_stream",
                           options: httpOptionTable) { try HTTPOutput(config: $0, host: $1) }
}

let httpOptionTable = httpConnectionOptions(defaultPort: 80) + [
    Option("uri", .string, default: "/", "Request path"),
    Option("format", .choice(["json", "json_lines", "json_stream"]), default: "json", "Body format: one JSON array, or one event per line"),
    compressionOption(),
    Option("json_date_key", .string, default: "date", "Key of the date added to each event; false disables it"),
    Option("json_date_format", .choice(["double", "epoch", "epoch_ms", "iso8601", "java_sql_timestamp"]), default: "double", "Format of the date"),
    Option("header", .openTableOrList, "Extra request headers: a table, or a list of \"Name Value\""),
]
