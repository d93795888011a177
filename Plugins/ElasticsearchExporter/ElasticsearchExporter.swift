// [export.elasticsearch] — Fluent Bit's `es` output. Its options: `esOptionTable` below
// (`oisp plugins describe elasticsearch`).
// `_bulk` NDJSON with `_id` = event_id (a retried batch is idempotent). Per-item results: items
// that failed with 429/5xx are the only ones sent again on the retry; items rejected for good
// (mapping errors, 400) are reported to the host as rejected (ABI 1.1): dropped and counted alone.
import COISPExporterABI
import Foundation
import OISPExporterKit

final class ElasticsearchOutput: Exporter {
    let http = HTTPClient()
    let url: String
    let index: String
    let logstash: Bool
    let prefix: String
    let dateFormat: String
    let timeKey: String
    let suppressType: Bool
    let gzip: Bool
    var headers = ["Content-Type: application/x-ndjson"]
    let host: PluginHost
    /// Items of the current batch still to send (after a partial failure), by batch id.
    var pending: (batch: UInt64, records: [Record], refused: Int)?

    init(config c: Config, host: PluginHost) throws {
        self.host = host
        var base = try baseURL(c)
        if let cloud = c.string("cloud_id"), let decoded = ElasticsearchOutput.cloudHost(cloud) { base = "https://\(decoded):443" }
        url = try base + c.setting("path") + "/_bulk"
        index = try c.setting("index")
        logstash = try c.bool("logstash_format")
        prefix = try c.setting("logstash_prefix")
        dateFormat = try c.setting("logstash_dateformat")
        timeKey = try c.setting("time_key")
        suppressType = try c.bool("suppress_type_name")
        gzip = try c.choice("compress") == "gzip"
        http.options = try httpOptions(c)
        if let key = c.string("http_api_key") ?? c.string("api_key") { headers.append("Authorization: ApiKey \(key)") }
        if gzip { headers.append("Content-Encoding: gzip") }
        host.info("elasticsearch output → \(url) (index \(logstash ? prefix + "-" + dateFormat : index))")
    }

    /// cloud_id = "name:base64(host$es_uuid$kibana_uuid)" → "<es_uuid>.<host>".
    static func cloudHost(_ id: String) -> String? {
        guard let b64 = id.split(separator: ":", maxSplits: 1).last, let d = Data(base64Encoded: String(b64)),
              let s = String(data: d, encoding: .utf8) else { return nil }
        let parts = s.split(separator: "$")
        return parts.count >= 2 ? "\(parts[1]).\(parts[0])" : nil
    }

    func indexName(_ r: Record) -> String {
        logstash ? "\(prefix)-\(strftimeUTC(dateFormat, Int(r.timestampNs / 1_000_000_000)))" : index
    }

    /// The `_bulk` body: an action line (`_id` = event id) and the document with the time key
    /// first, per record, written as bytes. The calendar text (time key, logstash index) is made
    /// once per second the batch's records fall in.
    func body(_ records: [Record]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(records.reduce(0) { $0 + $1.jsonCount + 160 })
        var clock = SecondsClock(format: "%Y-%m-%dT%H:%M:%S")
        var indexSecond = Int64.min, indexText: [UInt8] = []
        var timeKeyText: [UInt8] = [UInt8(ascii: "{")]
        appendJSONString(timeKey, to: &timeKeyText)
        timeKeyText.append(UInt8(ascii: ":"))
        for r in records {
            if SecondsClock.second(r.timestampNs) != indexSecond {
                indexSecond = SecondsClock.second(r.timestampNs)
                indexText = []; appendJSONString(indexName(r), to: &indexText)
            }
            out.append(contentsOf: #"{"index":{"_index":"#.utf8)
            out.append(contentsOf: indexText)
            if !suppressType { out.append(contentsOf: #","_type":"_doc""#.utf8) }
            out.append(contentsOf: #","_id":"#.utf8)
            appendJSONString(r.eventID, to: &out)
            out.append(contentsOf: "}}\n".utf8)
            out.append(contentsOf: timeKeyText)
            out.append(UInt8(ascii: "\""))
            clock.append(r.timestampNs, to: &out)
            out.append(contentsOf: "Z\"".utf8)
            r.withJSON { j in
                if j.count > 2 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: j[1...]))
            }
            out.append(10)
        }
        return out
    }

    func export(_ batch: [Record], batchID: UInt64, attempt: Int) -> ExportResult {
        var records = batch
        var refusedBefore = 0 // items of this batch refused for good on an earlier attempt
        if let p = pending, p.batch == batchID, attempt > 1 { records = p.records; refusedBefore = p.refused } // resend only failed items
        pending = nil
        let resp = http.request("POST", url, headers: headers, body: gzip ? gzipData(body(records)) : body(records))
        let overall = HTTPClient.classify(resp, what: "POST \(url)")
        guard case .ok = overall else { return overall }
        // `{"took":…,"errors":false,…}`: Elasticsearch and OpenSearch put `errors` up front, so
        // a batch without failures needs no parse of its thousand item results
        let clean = String(decoding: resp.body.prefix(128), as: UTF8.self).contains("\"errors\":false")
        let parsed = clean ? nil : JSONAny.object(resp.body)
        if !clean && parsed == nil { return .retry(message: "unreadable _bulk response") }
        guard let obj = parsed, obj["errors"] as? Bool == true else {
            host.count("es_documents", records.count)
            return refusedBefore > 0 ? .okRejecting(rejected: refusedBefore, message: "\(refusedBefore) documents refused for good on an earlier attempt") : .ok
        }
        let items = obj["items"] as? [[String: Any]] ?? []
        var retry: [Record] = [], rejected: [String] = []
        for (i, item) in items.enumerated() where i < records.count {
            let result = (item["index"] ?? item["create"]) as? [String: Any] ?? [:]
            let status = Int((result["status"] as? Int64) ?? 200)
            if status == 429 || status >= 500 { retry.append(records[i]) }
            else if status >= 300 && status != 409 {
                let err = result["error"] as? [String: Any]
                rejected.append("\(records[i].eventID): \(status) \(err?["type"] as? String ?? "") \(err?["reason"] as? String ?? "")")
            }
        }
        host.count("es_documents", records.count - retry.count - rejected.count)
        if !rejected.isEmpty { host.count("es_rejected_documents", rejected.count) }
        if !retry.isEmpty {
            // the host names the refusals when the batch settles; say now why these are not resent
            if !rejected.isEmpty { host.warn("elasticsearch refused \(rejected.count) documents for good: \(rejected.prefix(3).joined(separator: "; "))") }
            pending = (batchID, retry.map { $0.owned() }, refusedBefore + rejected.count) // kept past the call: copies
            return .retry(message: "\(retry.count) of \(records.count) bulk items failed with 429/5xx")
        }
        let refused = refusedBefore + rejected.count
        if refused > 0 {
            // the host counts these as dropped (reason "rejected"), the rest of the batch as exported
            return .okRejecting(rejected: refused, message: "elasticsearch refused \(refused) documents for good: \(rejected.prefix(3).joined(separator: "; "))")
        }
        return .ok
    }

    func flush() -> ExportResult { .ok }
}

@_cdecl("oisp_exporter_entry")
public func oispESEntry(_ major: UInt32, _ minor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    guard major == UInt32(OISP_EXPORTER_ABI_MAJOR) else { return nil }
    return makePluginTable(name: "elasticsearch", version: "0.1.0", description: "Elasticsearch/OpenSearch _bulk output (Fluent Bit es options)",
                           options: esOptionTable) { try ElasticsearchOutput(config: $0, host: $1) }
}

let esOptionTable = httpConnectionOptions(defaultPort: 9200) + [
    Option("index", .string, default: "oisp-events", "Index to write to (without logstash_format)"),
    Option("path", .string, default: "", "Path prefix before /_bulk (a proxy's sub-path)"),
    Option("http_api_key", .string, "API key (Authorization: ApiKey); use ${ENV}"),
    Option("api_key", .string, "Same as http_api_key"),
    Option("cloud_id", .string, "Elastic Cloud id; sets host, port and TLS"),
    compressionOption(),
    Option("logstash_format", .bool, default: "false", "Write to a daily index logstash_prefix-logstash_dateformat"),
    Option("logstash_prefix", .string, default: "logstash", "Index prefix with logstash_format"),
    Option("logstash_dateformat", .string, default: "%Y.%m.%d", "strftime format of the index date"),
    Option("suppress_type_name", .bool, default: "true", "Leave _type out of the action line (Elasticsearch 8)"),
    Option("time_key", .string, default: "@timestamp", "Key of the timestamp added first to each document"),
]
