import Foundation
import OISPEvent
import Prometheus

/// The OpenTelemetry GenAI client metrics (semantic conventions v1.41: names, units, buckets),
/// named for Prometheus by the OTel→Prometheus rules (dots → `_`, unit `s` → `_seconds`,
/// `{token}` dropped), plus the sensor's cost counters:
/// - `gen_ai_client_token_usage` (histogram, `gen_ai_token_type` = input | output, and
///   cache_read | cache_write | reasoning where the provider reports them; input counts cached
///   tokens and output reasoning ones, as in the conventions, so do not sum across types)
/// - `gen_ai_client_operation_duration_seconds` (histogram; `error_type` on failed calls)
/// - `gen_ai_client_operation_time_to_first_chunk_seconds` (histogram, streamed answers)
/// - `oisp_genai_cost_total` (counter, by currency, provider, response model, namespace, workload)
/// - `oisp_genai_unpriced_responses_total` (counter, by provider and reason)
/// - `oisp_genai_label_overflow_total` (counter, by label: values folded into `other`)
/// Labels: `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`,
/// `gen_ai_response_model`, `server_address`, `server_port`, and `k8s_namespace_name`,
/// `k8s_workload_kind`, `k8s_workload_name`, `k8s_pod_name` when the event carries `ext["oisp.k8s"]`.
/// Cardinality guard: at most `maxModels` distinct values per model label and for `server_address` (a Host header chooses it) and `maxWorkloads`
/// per namespace/workload/pod label; later values are recorded as `other` and counted.
public final class GenAIMetrics: @unchecked Sendable {
    public static let tokenBuckets: [Double] = (0..<14).map { pow(4, Double($0)) }            // 1 … 67108864
    public static let durationBuckets: [Double] = (0..<14).map { 0.01 * pow(2, Double($0)) }  // 0.01 … 81.92

    public static let help: [String: String] = [
        "gen_ai_client_token_usage": "Tokens used per GenAI call, by token type (OTel gen_ai.client.token.usage; input includes cached, output includes reasoning).",
        "gen_ai_client_operation_duration_seconds": "Duration of GenAI client calls (OTel gen_ai.client.operation.duration); error_type is set on failed calls.",
        "gen_ai_client_operation_time_to_first_chunk_seconds": "Time from the end of the request to the first chunk of a streamed answer (OTel gen_ai.client.operation.time_to_first_chunk).",
        "oisp_genai_cost_total": "Money spent on GenAI calls, by currency, provider, response model, namespace and workload (from the price table).",
        "oisp_genai_unpriced_responses_total": "AI responses that got no cost, by provider and reason (unknown_model, no_usage, no_model).",
        "oisp_genai_label_overflow_total": "Calls whose label value was recorded as 'other' by the GenAI metrics' cardinality guard, by label.",
    ]

    let registry: PrometheusCollectorRegistry
    let maxModels: Int
    let maxWorkloads: Int
    private let lock = NSLock()
    private var seen: [String: Set<String>] = [:]

    public init(registry: PrometheusCollectorRegistry, maxModels: Int = 50, maxWorkloads: Int = 100) {
        self.registry = registry
        self.maxModels = maxModels
        self.maxWorkloads = maxWorkloads
        // zero series so a dashboard or alert has them before the first call
        for l in ["gen_ai_request_model", "gen_ai_response_model", "k8s_workload_name"] { _ = counter("oisp_genai_label_overflow_total", [("label", l)]) }
        // baselines without a model or workload: sum() and rate() over them are right from the start
        _ = counter("oisp_genai_cost_total", [("currency", "USD")])
        for r in [CallCost.unknownModel, CallCost.noUsage] { _ = counter("oisp_genai_unpriced_responses_total", [("reason", r)]) }
    }

    public struct Request: Sendable {
        public var model: String?
        public var serverAddress: String?
        public var serverPort: Int?
        public var operation: String
        public init(model: String?, serverAddress: String?, serverPort: Int?, operation: String) {
            self.model = model; self.serverAddress = serverAddress; self.serverPort = serverPort; self.operation = operation
        }
    }

    /// The conventions' `gen_ai.provider.name` for the decoder's provider names.
    public static func providerName(_ p: String) -> String {
        switch p {
        case "google": return "gcp.gemini"
        case "vertex_ai": return "gcp.vertex_ai"
        case "aws_bedrock": return "aws.bedrock"
        case "azure_openai": return "azure.ai.openai"
        case "mistral": return "mistral_ai"
        case "xai": return "x_ai"
        default: return p
        }
    }

    private func guarded(_ kind: String, _ label: String, _ value: String) -> String {
        let cap = kind == "model" ? maxModels : maxWorkloads
        let admitted = lock.withLock { () -> Bool in
            var s = seen[label] ?? []
            if s.contains(value) { return true }
            guard s.count < cap else { return false }
            s.insert(value)
            seen[label] = s
            return true
        }
        if admitted { return value }
        counter("oisp_genai_label_overflow_total", [("label", label)]).increment()
        return "other"
    }

    /// The series already made, by name and labels: the registry's own look-up (label sorting,
    /// key building, its lock) was a twentieth of `record`'s CPU per streamed call. Bounded by the
    /// cardinality guard (models and workloads beyond the caps are `other`).
    private let handleLock = NSLock()
    private var counters: [String: Counter] = [:]
    private var histograms: [String: ValueHistogram] = [:]

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        var k = name
        // sized once: appended in pieces, the key was made three or four times over
        k.reserveCapacity(labels.reduce(name.utf8.count) { $0 + 2 + $1.0.utf8.count + $1.1.utf8.count })
        for (a, b) in labels { k += "\u{1}"; k += a; k += "\u{2}"; k += b }
        return k
    }

    private func counter(_ name: String, _ labels: [(String, String)]) -> Counter {
        let k = GenAIMetrics.key(name, labels)
        if let c = handleLock.withLock({ counters[k] }) { return c }
        let c = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: GenAIMetrics.help[name] ?? name), labels: labels)
        handleLock.withLock { counters[k] = c }
        return c
    }

    private func histogram(_ name: String, _ labels: [(String, String)], _ buckets: [Double]) -> ValueHistogram {
        let k = GenAIMetrics.key(name, labels)
        if let h = handleLock.withLock({ histograms[k] }) { return h }
        let h = registry.makeValueHistogram(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: GenAIMetrics.help[name] ?? name),
                                            labels: labels, buckets: buckets)
        handleLock.withLock { histograms[k] = h }
        return h
    }

    /// The attributes every GenAI metric of a call carries.
    func attributes(_ e: OISPEvent, request: Request?, operation: String) -> [(String, String)] {
        var l: [(String, String)] = [("gen_ai_operation_name", request?.operation ?? operation)]
        l.append(("gen_ai_provider_name", GenAIMetrics.providerName(e.data["provider"]?["name"]?.stringValue ?? "unknown")))
        if let m = request?.model { l.append(("gen_ai_request_model", guarded("model", "gen_ai_request_model", m))) }
        if let m = e.data["model"]?["id"]?.stringValue { l.append(("gen_ai_response_model", guarded("model", "gen_ai_response_model", m))) }
        if let a = request?.serverAddress { l.append(("server_address", guarded("model", "server_address", a))) }
        if let p = request?.serverPort { l.append(("server_port", String(p))) }
        l += k8s(e)
        return l
    }

    func k8s(_ e: OISPEvent) -> [(String, String)] {
        guard let k = e.ext?["oisp.k8s"]?.objectValue else { return [] }
        var l: [(String, String)] = []
        if let v = k["namespace"]?.stringValue { l.append(("k8s_namespace_name", guarded("workload", "k8s_namespace_name", v))) }
        if let v = k["workload_kind"]?.stringValue { l.append(("k8s_workload_kind", v)) }
        if let v = k["workload_name"]?.stringValue { l.append(("k8s_workload_name", guarded("workload", "k8s_workload_name", v))) }
        if let v = k["pod_name"]?.stringValue { l.append(("k8s_pod_name", guarded("workload", "k8s_pod_name", v))) }
        return l
    }

    /// The series of one label set (a call's attributes), made once: a call looked each of its
    /// four or five series up by a key built from every label (a twentieth of `record`'s CPU per
    /// short call). Bounded as the series are, by the cardinality guard.
    private final class CallSeries {
        var tokens: [String: ValueHistogram] = [:]
        var duration: ValueHistogram?
        var firstChunk: ValueHistogram?
        var cost: [String: Counter] = [:]
    }
    private var calls: [String: CallSeries] = [:]

    private func series(_ attrs: [(String, String)]) -> CallSeries {
        let k = GenAIMetrics.key("", attrs)
        return handleLock.withLock {
            if let s = calls[k] { return s }
            let s = CallSeries()
            calls[k] = s
            return s
        }
    }

    private static let costLabels: Set<String> = ["gen_ai_provider_name", "gen_ai_response_model", "k8s_namespace_name", "k8s_workload_kind", "k8s_workload_name"]

    public func recordResponse(_ e: OISPEvent, request: Request?, usage: TokenUsage?, cost: CallCost?) {
        let attrs = attributes(e, request: request, operation: "chat")
        let s = series(attrs)
        func cached<T>(_ get: (CallSeries) -> T?, _ set: (CallSeries, T) -> Void, _ make: () -> T) -> T {
            if let h = handleLock.withLock({ get(s) }) { return h }
            let h = make()
            handleLock.withLock { set(s, h) }
            return h
        }
        if let u = usage {
            func record(_ t: String, _ n: Int64) {
                cached({ $0.tokens[t] }, { $0.tokens[t] = $1 }) {
                    histogram("gen_ai_client_token_usage", attrs + [("gen_ai_token_type", t)], GenAIMetrics.tokenBuckets)
                }.record(Double(n))
            }
            record("input", u.input)
            record("output", u.output)
            if u.reportedCacheRead { record("cache_read", u.cacheRead) }
            if u.reportedCacheWrite { record("cache_write", u.cacheWrite) }
            if u.reportedReasoning { record("reasoning", u.reasoning) }
        }
        if let ms = e.data["latency_ms"]?.intValue {
            if e.data["success"]?.boolValue == false {
                let t = e.data["error"]?["type"]?.stringValue ?? e.data["status_code"]?.intValue.map { String($0) } ?? "_OTHER"
                let l = attrs + [("error_type", guarded("model", "error_type", t))]
                histogram("gen_ai_client_operation_duration_seconds", l, GenAIMetrics.durationBuckets).record(Double(ms) / 1000)
            } else {
                cached({ $0.duration }, { $0.duration = $1 }) {
                    histogram("gen_ai_client_operation_duration_seconds", attrs, GenAIMetrics.durationBuckets)
                }.record(Double(ms) / 1000)
            }
        }
        if let ms = e.data["time_to_first_token_ms"]?.intValue {
            cached({ $0.firstChunk }, { $0.firstChunk = $1 }) {
                histogram("gen_ai_client_operation_time_to_first_chunk_seconds", attrs, GenAIMetrics.durationBuckets)
            }.record(Double(ms) / 1000)
        }
        if case .priced(let p)? = cost {
            cached({ $0.cost[p.currency] }, { $0.cost[p.currency] = $1 }) {
                counter("oisp_genai_cost_total", [("currency", p.currency)] + attrs.filter { GenAIMetrics.costLabels.contains($0.0) })
            }.increment(by: p.total)
        }
    }

    public func recordEmbedding(_ e: OISPEvent, request: Request?) {
        let attrs = attributes(e, request: request, operation: "embeddings")
        if let n = e.data["total_tokens"]?.intValue {
            histogram("gen_ai_client_token_usage", attrs + [("gen_ai_token_type", "input")], GenAIMetrics.tokenBuckets).record(Double(n))
        }
        if let ms = e.data["latency_ms"]?.intValue {
            var l = attrs
            if e.data["success"]?.boolValue == false {
                l.append(("error_type", e.data["status_code"]?.intValue.map { String($0) } ?? "_OTHER"))
            }
            histogram("gen_ai_client_operation_duration_seconds", l, GenAIMetrics.durationBuckets).record(Double(ms) / 1000)
        }
    }

    public func countUnpriced(provider: String, reason: String) {
        counter("oisp_genai_unpriced_responses_total", [("gen_ai_provider_name", GenAIMetrics.providerName(provider)), ("reason", reason)]).increment()
    }
}
