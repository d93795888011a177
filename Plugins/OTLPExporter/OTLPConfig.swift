import Foundation
import OISPExporterKit

/// `[export.otlp]` keys (the OpenTelemetry exporter's names where they exist), declared once in
/// `options`; the defaults below are read from it.
struct OTLPConfig {
    enum Proto: String { case grpc, httpProtobuf = "http/protobuf", httpJSON = "http/json" }
    var endpoint: String
    var proto: Proto
    /// Header lines as libcurl takes them (see `headerLine`).
    var headers: [String] = []
    var insecure: Bool
    var insecureSkipVerify: Bool
    var caFile: String?
    var certFile: String?
    var keyFile: String?
    var gzip: Bool
    var timeoutMs: Int
    var traces: Bool
    var logs: Bool
    var metrics: Bool
    /// How often the metrics signal sends its cumulative values (and at flush).
    var metricsIntervalMs: Int64
    var pairTimeoutMs: Int64
    var serviceName: String
    /// The GenAI conventions' opt-in content attributes on spans (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.system_instructions`), from the redacted events.
    var captureContent: Bool
    /// Each message part's text at most this many bytes on a span (a collector refuses a request
    /// over its limit — 4 MiB by default for gRPC — and a retry would not shrink it).
    var captureContentMaxBytes: Int

    struct Invalid: Error { let message: String }

    func bool(_ k: String, _ v: String) throws -> Bool {
        do { return try parseBool(k, v) } catch { throw Invalid(message: "\(error)") }
    }

    /// Every key, once: the plugin's `config_schema` and `oisp plugins describe otlp` are made from it.
    static let options = [
        Option("endpoint", .string, default: "http://localhost:4317", "Collector endpoint: host:port, http://host:port or https://host:port"),
        Option("protocol", .choice(["grpc", "http/protobuf", "http/json"]), default: "grpc", "OTLP transport"),
        Option("insecure", .bool, default: "false", "Plain-text gRPC to an https or bare host:port endpoint"),
        Option("insecure_skip_verify", .bool, default: "false", "Do not verify the server's certificate"),
        Option("tls_insecure_skip_verify", .bool, default: "false", "Same as insecure_skip_verify"),
        Option("tls_verify", .bool, default: "true", "Verify the server's certificate (the other exporters' spelling)"),
        Option("ca_file", .string, "CA bundle (PEM)"),
        Option("cert_file", .string, "Client certificate (PEM) for mutual TLS"),
        Option("key_file", .string, "Client private key (PEM) for mutual TLS"),
        compressionOption("compression", default: "gzip"),
        Option("timeout_ms", .int(min: 1), default: "10000", "Request timeout in milliseconds"),
        Option("signals", .list, default: "traces", "traces, logs and/or metrics"),
        Option("metrics_interval_ms", .int(min: 0), default: "10000", "How often the metrics signal sends its cumulative values (also at shutdown)"),
        Option("pair_timeout_ms", .int(min: 1), default: "300000", "How long a request waits for its response before it goes out as an error span"),
        Option("service_name", .string, default: "oisp-sensor", "service.name resource attribute"),
        Option("capture_content_max_bytes", .int(min: 16), default: "16384", "With capture_content: each message part's text is cut to this many bytes (marked with …)"),
        Option("capture_content", .bool, default: "false", "Put prompts and answers on spans as gen_ai.input.messages / gen_ai.output.messages / gen_ai.system_instructions (the GenAI conventions' opt-in content; already redacted by the sensor)"),
        Option("tls", .table([
            Option("insecure", .bool, default: "false", "As insecure"),
            Option("insecure_skip_verify", .bool, default: "false", "As insecure_skip_verify"),
            Option("verify", .bool, default: "true", "As tls_verify"),
            Option("ca_file", .string, "As ca_file"),
            Option("cert_file", .string, "As cert_file"),
            Option("key_file", .string, "As key_file"),
        ]), "The Collector's tls block"),
        Option("headers", .openTable, "Request headers (e.g. authorization = \"Bearer ${TOKEN}\")"),
    ]

    init(entries: [(String, String)]) throws {
        // the defaults: the option table's, nowhere else
        let d = Config(entries: [], json: [:], options: OTLPConfig.options)
        endpoint = try d.setting("endpoint")
        proto = Proto(rawValue: try d.choice("protocol")) ?? .grpc
        insecure = try d.bool("insecure")
        insecureSkipVerify = try d.bool("insecure_skip_verify")
        gzip = try d.choice("compression") == "gzip"
        timeoutMs = try d.int("timeout_ms")
        let signals = try d.setting("signals")
        traces = signals.contains("traces"); logs = signals.contains("logs"); metrics = signals.contains("metrics")
        metricsIntervalMs = Int64(try d.int("metrics_interval_ms"))
        pairTimeoutMs = Int64(try d.int("pair_timeout_ms"))
        serviceName = try d.setting("service_name")
        captureContent = try d.bool("capture_content")
        captureContentMaxBytes = try d.int("capture_content_max_bytes")
        for (k, v) in entries {
            switch k {
            case "endpoint": endpoint = v
            case "protocol":
                guard let p = Proto(rawValue: v) else { throw Invalid(message: "key 'protocol': expected grpc, http/protobuf or http/json, got '\(v)'") }
                proto = p
            // booleans by the kit's one rule (true/false, On/Off): "yes" is an error, not false
            case "insecure", "tls.insecure": insecure = try bool(k, v)
            case "insecure_skip_verify", "tls_insecure_skip_verify", "tls.insecure_skip_verify": insecureSkipVerify = try bool(k, v)
            case "tls_verify", "tls.verify": // the other exporters' spelling: false = do not verify
                insecureSkipVerify = try !bool(k, v)
            // the Collector's `tls:` block spells them tls.ca_file …
            case "ca_file", "tls.ca_file": caFile = v
            case "cert_file", "tls.cert_file": certFile = v
            case "key_file", "tls.key_file": keyFile = v
            case "compression":
                guard compressionValues.contains(v) else { throw Invalid(message: "key 'compression': expected one of \(compressionValues.joined(separator: ", ")), got '\(v)'") }
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
            case "pair_timeout_ms":
                guard let t = Int64(v), t > 0 else { throw Invalid(message: "key 'pair_timeout_ms': expected a positive integer, got '\(v)'") }
                pairTimeoutMs = t
            case "service_name": serviceName = v
            case "capture_content": captureContent = try bool(k, v)
            case "capture_content_max_bytes":
                guard let n = Int(v), n >= 16 else { throw Invalid(message: "key 'capture_content_max_bytes': expected an integer >= 16, got '\(v)'") }
                captureContentMaxBytes = n
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
