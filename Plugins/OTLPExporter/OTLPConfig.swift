import Foundation
import OISPExporterKit

/// `[export.otlp]` keys (the OpenTelemetry exporter's names where they exist).
struct OTLPConfig {
    enum Proto: String { case grpc, httpProtobuf = "http/protobuf", httpJSON = "http/json" }
    var endpoint = "http://localhost:4317"
    var proto = Proto.grpc
    /// Header lines as libcurl takes them (see `headerLine`).
    var headers: [String] = []
    var insecure = false
    var insecureSkipVerify = false
    var caFile: String?
    var certFile: String?
    var keyFile: String?
    var gzip = true
    var timeoutMs = 10000
    var traces = true
    var logs = false
    var metrics = false
    /// How often the metrics signal sends its cumulative values (and at flush).
    var metricsIntervalMs: Int64 = 10000
    var pairTimeoutMs: Int64 = 300_000
    var serviceName = "oisp-sensor"

    struct Invalid: Error { let message: String }

    init(entries: [(String, String)]) throws {
        for (k, v) in entries {
            switch k {
            case "endpoint": endpoint = v
            case "protocol":
                guard let p = Proto(rawValue: v) else { throw Invalid(message: "key 'protocol': expected grpc, http/protobuf or http/json, got '\(v)'") }
                proto = p
            case "insecure", "tls.insecure": insecure = v == "true"
            case "insecure_skip_verify", "tls_insecure_skip_verify", "tls.insecure_skip_verify": insecureSkipVerify = v == "true"
            case "tls_verify", "tls.verify": // the other exporters' spelling: false = do not verify
                guard v == "true" || v == "false" else { throw Invalid(message: "key '\(k)': expected true or false, got '\(v)'") }
                insecureSkipVerify = v == "false"
            // the Collector's `tls:` block spells them tls.ca_file …
            case "ca_file", "tls.ca_file": caFile = v
            case "cert_file", "tls.cert_file": certFile = v
            case "key_file", "tls.key_file": keyFile = v
            case "compression":
                guard v == "gzip" || v == "none" else { throw Invalid(message: "key 'compression': expected gzip or none, got '\(v)'") }
                gzip = v == "gzip"
            case "timeout_ms":
                guard let t = Int(v), t > 0 else { throw Invalid(message: "key 'timeout_ms': expected a positive integer") }
                timeoutMs = t
            case "signals":
                let s = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                for x in s where !["traces", "logs", "metrics"].contains(x) {
                    throw Invalid(message: "key 'signals': expected traces, logs and/or metrics, got '\(x)'")
                }
                traces = s.contains("traces"); logs = s.contains("logs"); metrics = s.contains("metrics")
            case "metrics_interval_ms":
                guard let t = Int64(v), t >= 0 else { throw Invalid(message: "key 'metrics_interval_ms': expected an integer >= 0, got '\(v)'") }
                metricsIntervalMs = t
            case "pair_timeout_ms": pairTimeoutMs = Int64(v) ?? pairTimeoutMs
            case "service_name": serviceName = v
            default:
                if k.hasPrefix("headers.") {
                    let name = String(k.dropFirst(8))
                    do { headers.append(try headerLine(key: k, name: name, value: v)) } catch { throw Invalid(message: "\(error)") }
                }
            }
        }
        if !endpoint.contains("://") && !endpoint.isEmpty {
            // `host:port` as the Collector's OTLP exporter takes it: TLS unless insecure = true
            endpoint = (insecure ? "http://" : "https://") + endpoint
        }
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw Invalid(message: "key 'endpoint': expected host:port, http://host:port or https://host:port, got '\(endpoint)'")
        }
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        if insecure && endpoint.hasPrefix("https://") && proto == .grpc { endpoint = "http://" + endpoint.dropFirst(8) }
    }
}
