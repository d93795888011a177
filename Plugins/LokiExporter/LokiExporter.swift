// [export.loki] — Fluent Bit's `loki` output. Its options: `lokiOptionTable` below
// (`oisp plugins describe loki`).
// Streams are grouped by label set with entries sorted by time; 429/5xx retry, 400 is permanent.
import COISPExporterABI
import Foundation
import OISPExporterKit

final class LokiOutput: Exporter {
    enum Label { case fixed(String, String); case field(String, [String]) }
    let http = HTTPClient()
    let url: String
    var labels: [Label] = []
    let lineFormat: String
    var headers = ["Content-Type: application/json"]
    let host: PluginHost

    init(config c: Config, host: PluginHost) throws {
        self.host = host
        url = try baseURL(c) + c.setting("uri")
        lineFormat = try c.choice("line_format")
        http.options = try httpOptions(c)
        if let t = c.string("tenant_id") { headers.append("X-Scope-OrgID: \(t)") }
        if try c.choice("compress") == "gzip" { headers.append("Content-Encoding: gzip") }
        let spec = try c.setting("labels")
        for raw in spec.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !raw.isEmpty {
            if let eq = raw.firstIndex(of: "="), !raw.hasPrefix("$") {
                let k = String(raw[..<eq]).trimmingCharacters(in: .whitespaces)
                let v = String(raw[raw.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
                try LokiOutput.checkName(k)
                if v.hasPrefix("$") { labels.append(.field(k, try LokiOutput.accessor(v))) } else { labels.append(.fixed(k, v)) }
            } else if raw.hasPrefix("$") {
                let path = try LokiOutput.accessor(raw)
                labels.append(.field(path.last!.replacingOccurrences(of: ".", with: "_"), path))
            } else {
                try LokiOutput.checkName(raw.replacingOccurrences(of: ".", with: "_"))
                labels.append(.field(raw.replacingOccurrences(of: ".", with: "_"), [raw]))
            }
        }
        host.info("loki output → \(url)")
    }

    static func checkName(_ n: String) throws {
        guard let f = n.first, f.isLetter || f == "_", n.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw ConfigError("labels", "invalid label name '\(n)' (expected [a-zA-Z_][a-zA-Z0-9_]*)")
        }
    }

    /// `$process['name']` → ["process", "name"]
    static func accessor(_ s: String) throws -> [String] {
        var parts: [String] = []
        var rest = s.dropFirst()
        let head = rest.prefix { $0 != "[" }
        parts.append(String(head)); rest = rest.dropFirst(head.count)
        while rest.hasPrefix("['") {
            rest = rest.dropFirst(2)
            guard let end = rest.range(of: "']") else { throw ConfigError("labels", "malformed record accessor '\(s)'") }
            parts.append(String(rest[..<end.lowerBound])); rest = rest[end.upperBound...]
        }
        guard rest.isEmpty, !parts[0].isEmpty else { throw ConfigError("labels", "malformed record accessor '\(s)'") }
        // `$k8s['namespace']`: the pod's metadata, `ext["oisp.k8s"]`
        if parts[0] == "k8s" { parts = ["ext", "oisp.k8s"] + parts.dropFirst() }
        return parts
    }

    func value(_ obj: [String: Any], _ path: [String]) -> String? {
        var cur: Any? = obj
        for p in path { cur = (cur as? [String: Any])?[p] }
        switch cur {
        case let s as String: return s
        case let i as Int64: return String(i)
        case let b as Bool: return String(b)
        default: return nil
        }
    }

    func line(_ r: Record, _ obj: [String: Any]?) -> Data {
        if lineFormat == "json" { return r.json }
        let o = obj ?? r.object
        return Data(o.keys.sorted().compactMap { k -> String? in
            guard let v = o[k] else { return nil }
            if let s = v as? String { return "\(k)=\(s)" }
            if let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]) { return "\(k)=\(String(decoding: d, as: UTF8.self))" }
            return nil
        }.joined(separator: " ").utf8)
    }

    /// Label paths whose value the host hands over as a record field (ABI 1.3), whatever the
    /// event type: a record without the field has no value there either.
    static let fieldOf: [[String]: String] = [
        ["host", "hostname"]: "host.name", ["process", "pid"]: "process.pid", ["process", "name"]: "process.executable.name",
        ["process", "container_id"]: "container.id", ["ext", "oisp.k8s", "namespace"]: "k8s.namespace.name",
        ["ext", "oisp.k8s", "pod_name"]: "k8s.pod.name"]

    /// The value of a label, from the envelope fields the host hands over when it can (no parse).
    func labelValue(_ r: Record, _ path: [String], _ obj: inout [String: Any]?) -> String? {
        if path.count == 1 {
            switch path[0] {
            case "event_type": return r.eventType
            case "event_id": return r.eventID
            default: break
            }
        }
        // envelope fields the host hands over beside the JSON (ABI 1.3): same value, no parse
        if r.hasFields, let f = LokiOutput.fieldOf[path] { return r.field(f) }
        if obj == nil { obj = r.object }
        return value(obj!, path)
    }

    func export(_ records: [Record], batchID: UInt64, attempt: Int) -> ExportResult {
        // streams by label set; a record's key is its field labels' values (fixed labels are the
        // same for every record), so the label list itself is built once per stream
        var streamOf: [String: Int] = [:]
        var streams: [(labels: [(String, String)], entries: [(ts: Int64, record: Int, line: Data?)])] = []
        for (idx, r) in records.enumerated() {
            var obj: [String: Any]?
            var key = ""
            for case .field(_, let path) in labels {
                if let v = labelValue(r, path, &obj) { key += v; key += "\u{1}" } else { key += "\u{0}\u{1}" }
            }
            let s: Int
            if let known = streamOf[key] { s = known } else {
                var ls: [(String, String)] = []
                for l in labels {
                    switch l {
                    case .fixed(let k, let v): ls.append((k, v))
                    case .field(let k, let path): if let v = labelValue(r, path, &obj) { ls.append((k, v)) }
                    }
                }
                ls.sort { $0.0 < $1.0 }
                s = streams.count
                streamOf[key] = s
                streams.append((ls, []))
            }
            streams[s].entries.append((r.timestampNs, idx, lineFormat == "json" ? nil : line(r, obj)))
        }
        var body = [UInt8]()
        body.reserveCapacity(records.reduce(64) { $0 + $1.jsonCount * 5 / 4 + 48 })
        body += Array("{\"streams\":[".utf8)
        for (i, s) in streams.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += Array("{\"stream\":{".utf8)
            for (j, l) in s.labels.enumerated() {
                if j > 0 { body.append(UInt8(ascii: ",")) }
                appendJSONString(l.0, to: &body); body.append(UInt8(ascii: ":")); appendJSONString(l.1, to: &body)
            }
            body += Array("},\"values\":[".utf8)
            // in time order within the stream (Loki refuses older entries), stable for equal times
            for (j, e) in s.entries.sorted(by: { ($0.ts, $0.record) < ($1.ts, $1.record) }).enumerated() {
                if j > 0 { body.append(UInt8(ascii: ",")) }
                body.append(contentsOf: "[\"\(e.ts)\",".utf8)
                if let l = e.line { appendJSONString(l, to: &body) } else { records[e.record].withJSON { appendJSONString($0, to: &body) } }
                body.append(UInt8(ascii: "]"))
            }
            body += Array("]}".utf8)
        }
        body += Array("]}".utf8)
        if headers.contains("Content-Encoding: gzip") { body = gzipData(body) }
        let result = HTTPClient.classify(http.request("POST", url, headers: headers, body: body), what: "POST \(url)")
        if case .ok = result { host.count("loki_entries", records.count) }
        return result
    }

    func flush() -> ExportResult { .ok }
}

@_cdecl("oisp_exporter_entry")
public func oispLokiEntry(_ major: UInt32, _ minor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    guard major == UInt32(OISP_EXPORTER_ABI_MAJOR) else { return nil }
    return makePluginTable(name: "loki", version: "0.1.0", description: "Grafana Loki push output (Fluent Bit loki options)",
                           options: lokiOptionTable, recordFields: true) { try LokiOutput(config: $0, host: $1) }
}

let lokiOptionTable = httpConnectionOptions(defaultPort: 3100) + [
    Option("uri", .string, default: "/loki/api/v1/push", "Push API path"),
    Option("labels", .string, default: "job=oisp-sensor",
           "Stream labels: key=value, event field names, $process['name'], $k8s['namespace'] (comma-separated)"),
    Option("line_format", .choice(["json", "key_value"]), default: "json", "Log line format"),
    Option("tenant_id", .string, "X-Scope-OrgID tenant"),
    compressionOption(),
]
