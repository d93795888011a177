import COISPExporterABI
import Foundation
import OISPExporterKit
import OISPJSON

typealias MetricsRequest = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest
typealias Metric = Opentelemetry_Proto_Metrics_V1_Metric

/// The `metrics` signal: the GenAI client metrics of the OpenTelemetry semantic conventions
/// (v1.41), aggregated in the exporter from the events it receives and sent as cumulative
/// OTLP metrics: `gen_ai.client.token.usage` (histogram, `{token}`, by `gen_ai.token.type`),
/// `gen_ai.client.operation.duration` (histogram, `s`, `error.type` on failed calls),
/// `gen_ai.client.operation.time_to_first_chunk` (histogram, `s`, streamed answers) and
/// `oisp.genai.cost` (monotonic sum, by `oisp.cost.currency`). Attributes: operation, provider,
/// request/response model, `server.address`/`server.port`; the pod, namespace and workload are
/// the resource, as for spans. Tokens come from the sensor's `ext["oisp.cost"].tokens` (one
/// meaning for every provider: input includes cached tokens, output reasoning ones), else from
/// `usage`. At most `maxModels` distinct models per attribute; the rest are `other`.
final class MetricsBuilder {
    static let tokenBuckets: [Double] = (0..<14).map { pow(4, Double($0)) }
    static let durationBuckets: [Double] = (0..<14).map { 0.01 * pow(2, Double($0)) }
    static let maxModels = 50

    struct Series: Hashable {
        var name: String
        var resource: [KV]
        var attrs: [KV]
    }
    struct Hist {
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0
        var min = Double.infinity, max = -Double.infinity
    }

    private let lock = NSLock()
    let startNs = UInt64(Date().timeIntervalSince1970 * 1e9)
    private var hists: [Series: Hist] = [:]
    private var sums: [Series: Double] = [:]
    private var order: [Series] = []
    private var requests: [String: (model: String?, address: String?, port: Int64?, op: String)] = [:]
    private var requestOrder: [String] = []
    private var batches: Set<UInt64> = []
    private var batchOrder: [UInt64] = []
    private var models: [String: Set<String>] = [:]
    /// Observations since the last snapshot.
    private(set) var dirty = false
    /// One metrics send at a time, and when the last one went out.
    let sendLock = NSLock()
    var lastSentNs: UInt64 = 0

    private func model(_ attr: String, _ m: String) -> String {
        var s = models[attr] ?? []
        if s.contains(m) { return m }
        guard s.count < MetricsBuilder.maxModels else { return "other" }
        s.insert(m); models[attr] = s
        return m
    }

    static func providerName(_ p: String) -> String {
        ["google": "gcp.gemini", "vertex_ai": "gcp.vertex_ai", "aws_bedrock": "aws.bedrock", "azure_openai": "azure.ai.openai",
         "mistral": "mistral_ai", "xai": "x_ai"][p] ?? p
    }

    /// Takes a batch's events once (a retried batch is not counted again).
    func consume(batch id: UInt64, events: [OTLPEvent]) {
        lock.lock(); defer { lock.unlock() }
        guard batches.insert(id).inserted else { return }
        batchOrder.append(id)
        if batchOrder.count > 4096 { batches.remove(batchOrder.removeFirst()) }
        for e in events {
            switch e.f.eventType {
            case "ai.request": remember(e.f)
            case "ai.response", "ai.embedding": observe(e.f)
            default: break
            }
        }
    }

    private func remember(_ d: CallFacts) {
        guard let rid = d.requestID else { return }
        var address: String?, port: Int64?
        if let ep = d.endpoint, let u = URLComponents(string: ep) {
            address = u.host
            port = u.port.map(Int64.init) ?? (u.scheme == "https" ? 443 : 80)
        }
        let op = SpanBuilder.operation(d.requestType)
        if requests[rid] == nil { requestOrder.append(rid) }
        requests[rid] = (d.model, address, port, op)
        if requestOrder.count > 4096 { requests[requestOrder.removeFirst()] = nil }
    }

    private func observe(_ d: CallFacts) {
        let embedding = d.eventType == "ai.embedding"
        let req = d.requestID.flatMap { requests.removeValue(forKey: $0) }
        var attrs: [KV] = [kv("gen_ai.operation.name", req?.op ?? (embedding ? "embeddings" : "chat"))!,
                           kv("gen_ai.provider.name", MetricsBuilder.providerName(d.provider ?? "unknown"))!]
        if let m = req?.model { attrs.append(kv("gen_ai.request.model", model("request", m))!) }
        if let m = d.model { attrs.append(kv("gen_ai.response.model", model("response", m))!) }
        if let a = req?.address { attrs.append(kv("server.address", a)!) }
        if let p = req?.port { attrs.append(kv("server.port", CallFacts.Number.int(p))!) }
        let resource = eventResource(d)
        // tokens
        var types: [(String, Int64)] = []
        if d.hasCostTokens {
            let read = d.costCacheRead?.int64, write = d.costCacheWrite?.int64, reasoning = d.costReasoning?.int64
            types = [("input", (d.costInput?.int64 ?? 0) + (read ?? 0) + (write ?? 0)), ("output", (d.costOutput?.int64 ?? 0) + (reasoning ?? 0))]
            if let read { types.append(("cache_read", read)) }
            if let write { types.append(("cache_write", write)) }
            if let reasoning { types.append(("reasoning", reasoning)) }
        } else if embedding, let n = d.embeddingTokens?.int64 {
            types = [("input", n)]
        } else if d.inputTokens != nil || d.outputTokens != nil {
            if let p = d.inputTokens?.int64 { types.append(("input", p)) }
            if let c = d.outputTokens?.int64 { types.append(("output", c)) }
        }
        for (t, n) in types {
            record("gen_ai.client.token.usage", resource, attrs + [kv("gen_ai.token.type", t)!], Double(n), MetricsBuilder.tokenBuckets)
        }
        if let ms = d.latency?.int64 {
            var a = attrs
            if d.success == false {
                a.append(kv("error.type", d.errorType ?? d.statusCode.map { String($0.int64) } ?? "_OTHER")!)
            }
            record("gen_ai.client.operation.duration", resource, a, Double(ms) / 1000, MetricsBuilder.durationBuckets)
        }
        if let ms = d.timeToFirstToken?.int64 {
            record("gen_ai.client.operation.time_to_first_chunk", resource, attrs, Double(ms) / 1000, MetricsBuilder.durationBuckets)
        }
        if d.costStatus == "priced", let amount = d.costAmount?.double, let currency = d.costCurrency {
            let keep: Set<String> = ["gen_ai.provider.name", "gen_ai.response.model"]
            let s = Series(name: "oisp.genai.cost", resource: resource, attrs: attrs.filter { keep.contains($0.key) } + [kv("oisp.cost.currency", currency)!])
            if sums[s] == nil { order.append(s) }
            sums[s, default: 0] += amount
            dirty = true
        }
    }

    private func record(_ name: String, _ resource: [KV], _ attrs: [KV], _ v: Double, _ bounds: [Double]) {
        let s = Series(name: name, resource: resource, attrs: attrs)
        var h = hists[s] ?? { order.append(s); return Hist(counts: Array(repeating: 0, count: bounds.count + 1)) }()
        h.counts[bounds.firstIndex { v <= $0 } ?? bounds.count] += 1
        h.sum += v; h.count += 1
        h.min = Swift.min(h.min, v); h.max = Swift.max(h.max, v)
        hists[s] = h
        dirty = true
    }

    static let units = ["gen_ai.client.token.usage": "{token}", "gen_ai.client.operation.duration": "s",
                        "gen_ai.client.operation.time_to_first_chunk": "s", "oisp.genai.cost": "{currency}"]
    static let descriptions = [
        "gen_ai.client.token.usage": "Number of input and output tokens used.",
        "gen_ai.client.operation.duration": "GenAI operation duration.",
        "gen_ai.client.operation.time_to_first_chunk": "Time to receive the first chunk of a streamed answer.",
        "oisp.genai.cost": "Money spent on GenAI calls, from the sensor's price table (currency in oisp.cost.currency).",
    ]

    /// Everything observed so far (cumulative since `startNs`), grouped by resource; nil when
    /// nothing changed since the last snapshot (`force`: even then).
    func snapshot(force: Bool = false, resource: ([KV]) -> Opentelemetry_Proto_Resource_V1_Resource,
                  scope: Opentelemetry_Proto_Common_V1_InstrumentationScope) -> (MetricsRequest, points: Int)? {
        lock.lock(); defer { lock.unlock() }
        guard (dirty || force) && !order.isEmpty else { return nil }
        dirty = false
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        var req = MetricsRequest()
        var points = 0
        for g in OTLPInstance.byResource(order, \.resource) {
            var byName: [String: Metric] = [:]
            var names: [String] = []
            for s in g.items {
                var m = byName[s.name] ?? {
                    names.append(s.name)
                    var m = Metric()
                    m.name = s.name
                    m.unit = MetricsBuilder.units[s.name] ?? ""
                    m.description_p = MetricsBuilder.descriptions[s.name] ?? ""
                    return m
                }()
                if let h = hists[s] {
                    var p = Opentelemetry_Proto_Metrics_V1_HistogramDataPoint()
                    p.attributes = s.attrs
                    p.startTimeUnixNano = startNs
                    p.timeUnixNano = now
                    p.count = h.count
                    p.sum = h.sum
                    p.min = h.min
                    p.max = h.max
                    p.explicitBounds = s.name == "gen_ai.client.token.usage" ? MetricsBuilder.tokenBuckets : MetricsBuilder.durationBuckets
                    p.bucketCounts = h.counts
                    var hist = m.histogram
                    hist.aggregationTemporality = .cumulative
                    hist.dataPoints.append(p)
                    m.histogram = hist
                } else if let v = sums[s] {
                    var p = Opentelemetry_Proto_Metrics_V1_NumberDataPoint()
                    p.attributes = s.attrs
                    p.startTimeUnixNano = startNs
                    p.timeUnixNano = now
                    p.asDouble = v
                    var sum = m.sum
                    sum.aggregationTemporality = .cumulative
                    sum.isMonotonic = true
                    sum.dataPoints.append(p)
                    m.sum = sum
                }
                points += 1
                byName[s.name] = m
            }
            var rm = Opentelemetry_Proto_Metrics_V1_ResourceMetrics()
            rm.resource = resource(g.resource)
            var sm = Opentelemetry_Proto_Metrics_V1_ScopeMetrics()
            sm.scope = scope
            sm.metrics = names.compactMap { byName[$0] }
            rm.scopeMetrics = [sm]
            req.resourceMetrics.append(rm)
        }
        return (req, points)
    }

    /// A failed send: the next snapshot goes out even without new observations.
    func markDirty() { lock.lock(); dirty = true; lock.unlock() }
}

extension OTLPInstance {
    /// Sends the cumulative metrics when `[export.otlp] metrics_interval_ms` has passed since the
    /// last send (`force`: now, at flush). A failure is logged and counted, and the values go
    /// out with the next send: metrics never make the host retry a batch of events.
    func sendMetrics(force: Bool) {
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        metrics.sendLock.lock(); defer { metrics.sendLock.unlock() }
        guard force || now >= metrics.lastSentNs + UInt64(config.metricsIntervalMs) * 1_000_000 else { return }
        guard let (req, points) = metrics.snapshot(force: false, resource: resource, scope: scope()) else { return }
        metrics.lastSentNs = now
        switch send(signal: "metrics", message: req) {
        case .ok, .rejected: count("otlp_metric_points", points)
        case .retry, .permanent:
            metrics.markDirty()
            count("otlp_metrics_failed", 1)
            log(OISP_LOG_WARN, "otlp exporter: sending metrics failed (they go out with the next send): \(failure("unknown"))")
        }
    }
}
