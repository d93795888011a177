import Foundation
import Logging
import OISPEvent

/// What `oisp top` shows: per process (and pod) calls/s, tokens/s, cost, error rate, p50/p95
/// latency, providers and models, and the latest calls — from OISP events as they come.
public final class TopModel: @unchecked Sendable {
    public enum Sort: String, CaseIterable, Sendable { case calls, tokens, cost, errors, latency }

    struct Row {
        var process: String
        var pod: String?
        var namespace: String?
        var calls = 0, errors = 0
        var tokens: Int64 = 0
        var cost: [String: Double] = [:]
        var latencies: [Int64] = []
        var recent: [(at: Double, tokens: Int64)] = []   // for the rates (last `window` s)
        var models: [String: Set<String>] = [:]          // provider → models
    }

    public struct Call: Sendable {
        public var at: String
        public var process: String
        public var model: String
        public var input: Int64, output: Int64
        public var latencyMs: Int64?
        public var cost: Double?
        public var currency: String?
        public var error: String?
        public var prompt: String
    }

    let window = 10.0
    private let lock = NSLock()
    private var rows: [String: Row] = [:]
    private var latest: [Call] = []
    private var prompts: [String: String] = [:]
    private var promptOrder: [String] = []
    private let stage: GenAIStage
    public private(set) var events = 0
    /// Calls taken so far (the screen redraws soon after it changes).
    public var callCount: Int { lock.withLock { latestCount } }
    private var latestCount = 0
    public var processFilter: String?
    public var namespaceFilter: String?
    /// The `/` key's filter: rows whose process, namespace or pod contains it.
    public var textFilter: String? {
        get { lock.withLock { text } }
        set { lock.withLock { text = newValue?.isEmpty == true ? nil : newValue } }
    }
    private var text: String?

    public init(prices: PriceTable = PriceTable()) {
        stage = GenAIStage(prices: prices, metrics: nil, logger: Logger(label: "top", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// The first line of the last user message of a request (redacted as the sensor exported it).
    static func promptLine(_ d: JSONObject) -> String {
        let msgs = d["messages"]?.arrayValue ?? []
        let m = msgs.last { $0["role"]?.stringValue == "user" } ?? msgs.last
        var text: String
        switch m?["content"] {
        case .string(let s)?: text = s
        case .object(let o)? where o["$redacted"] != nil: text = "[redacted]"
        case let v?: text = v.jsonString()
        case nil: text = ""
        }
        text = String(text.split(separator: "\n", omittingEmptySubsequences: true).first ?? "")
        return text.count > 60 ? String(text.prefix(59)) + "…" : text
    }

    /// Takes one event; returns the call it completed (an `ai.response`), if any.
    @discardableResult
    public func add(_ event: OISPEvent, now: Double = Date().timeIntervalSince1970) -> Call? {
        var e = event
        lock.lock(); defer { lock.unlock() }
        events += 1
        switch e.eventType {
        case "ai.request":
            _ = stage.process(&e)
            if let id = e.data["request_id"]?.stringValue {
                prompts[id] = TopModel.promptLine(e.data)
                promptOrder.append(id)
                if promptOrder.count > 2048 { prompts[promptOrder.removeFirst()] = nil }
            }
            return nil
        case "ai.response":
            if e.ext?[GenAIStage.extKey] == nil { _ = stage.process(&e) }
        default:
            return nil
        }
        let d = e.data
        let provider = d["provider"]?["name"]?.stringValue ?? "?"
        let model = d["model"]?["id"]?.stringValue ?? "?"
        let u = TokenUsage(response: d, provider: provider, model: model)
        let name = e.process.map { "\($0.name ?? $0.exe ?? "?")[\($0.pid)]" } ?? "?"
        let k8s = e.ext?["oisp.k8s"]
        let pod = k8s?["pod_name"]?.stringValue, ns = k8s?["namespace"]?.stringValue
        var r = rows[name] ?? Row(process: name, pod: pod, namespace: ns)
        r.calls += 1
        let failed = d["success"]?.boolValue == false
        if failed { r.errors += 1 }
        let tokens = (u?.input ?? 0) + (u?.output ?? 0)
        r.tokens += tokens
        let c = e.ext?[GenAIStage.extKey]
        let cost = c?["status"]?.stringValue == "priced" ? c?["amount"]?.doubleValue : nil
        let currency = c?["currency"]?.stringValue
        if let cost, let currency { r.cost[currency, default: 0] += cost }
        if let l = d["latency_ms"]?.intValue { r.latencies.append(l); if r.latencies.count > 500 { r.latencies.removeFirst() } }
        r.recent.append((now, tokens))
        r.recent.removeAll { now - $0.at > window }
        r.models[provider, default: []].insert(model)
        rows[name] = r
        var err: String?
        if failed { err = d["error"]?["type"]?.stringValue ?? "http \(d["status_code"]?.intValue ?? 0)" }
        let call = Call(at: String(e.ts.rfc3339.dropFirst(11).prefix(8)), process: name, model: model, input: u?.input ?? 0, output: u?.output ?? 0,
                        latencyMs: d["latency_ms"]?.intValue, cost: cost, currency: currency, error: err,
                        prompt: d["request_id"]?.stringValue.flatMap { prompts.removeValue(forKey: $0) } ?? "")
        latest.append(call)
        latestCount += 1
        if latest.count > 200 { latest.removeFirst(latest.count - 200) }
        return call
    }

    /// One line for a call (the plain output when not on a terminal, and the latest-calls list).
    public static func line(_ c: Call) -> String {
        let cost = c.cost.map { String(format: " %.6f %@", $0, c.currency ?? "") } ?? ""
        let lat = c.latencyMs.map { "\($0) ms" } ?? "-"
        return "\(c.at)  \(c.process)  \(c.model)  \(c.input)/\(c.output) tok  \(lat)\(cost)\(c.error.map { "  ERROR \($0)" } ?? "")"
            + (c.prompt.isEmpty ? "" : "  \"\(c.prompt)\"")
    }

    /// The screen: a header, one row per process, then the latest calls, cut to `width` × `height`.
    public func screen(width: Int, height: Int, sort: Sort, paused: Bool, source: String, now: Double = Date().timeIntervalSince1970) -> [String] {
        lock.lock(); defer { lock.unlock() }
        var visible = rows.values.filter { r in
            (processFilter.map { r.process.hasPrefix($0 + "[") || r.process == $0 } ?? true) && (namespaceFilter.map { r.namespace == $0 } ?? true)
                && (text.map { t in r.process.contains(t) || (r.namespace?.contains(t) ?? false) || (r.pod?.contains(t) ?? false) } ?? true)
        }
        func p(_ xs: [Int64], _ q: Double) -> Int64? {
            guard !xs.isEmpty else { return nil }
            let s = xs.sorted()
            return s[max(0, min(s.count - 1, Int((Double(s.count) * q).rounded(.up)) - 1))]
        }
        func rate(_ r: Row) -> (Double, Double) {
            let recent = r.recent.filter { now - $0.at <= window }
            return (Double(recent.count) / window, Double(recent.reduce(0) { $0 + $1.tokens }) / window)
        }
        func key(_ r: Row) -> Double {
            switch sort {
            case .calls: return Double(r.calls)
            case .tokens: return Double(r.tokens)
            case .cost: return r.cost.values.reduce(0, +)
            case .errors: return Double(r.errors)
            case .latency: return Double(p(r.latencies, 0.95) ?? 0)
            }
        }
        visible.sort { key($0) != key($1) ? key($0) > key($1) : $0.process < $1.process } // stable between redraws
        let totalCalls = rows.values.reduce(0) { $0 + $1.calls }
        var totalCost: [String: Double] = [:]
        for r in rows.values { for (k, v) in r.cost { totalCost[k, default: 0] += v } }
        let costText = totalCost.isEmpty ? "no cost" : totalCost.sorted { $0.key < $1.key }.map { String(format: "%.6f %@", $0.value, $0.key) }.joined(separator: " + ")
        var out: [String] = []
        let clock = String(Timestamp.now().rfc3339.dropFirst(11).prefix(8))
        out.append("oisp top — \(source) — \(rows.count) processes, \(totalCalls) calls, \(costText) — \(clock)\(paused ? "  [PAUSED]" : "")")
        out.append("sort: \(sort.rawValue)   keys: s sort, / filter, p pause, q quit" + (processFilter.map { "   process=\($0)" } ?? "")
                   + (namespaceFilter.map { "   namespace=\($0)" } ?? "") + (text.map { "   filter=\($0)" } ?? ""))
        out.append("")
        func col(_ s: String, _ w: Int, right: Bool = false) -> String {
            let t = s.count > w ? String(s.prefix(w - 1)) + "…" : s
            let pad = String(repeating: " ", count: max(0, w - t.count))
            return right ? pad + t : t + pad
        }
        out.append(col("PROCESS", 22) + " " + col("POD", 24) + " " + col("CALLS", 6, right: true) + " " + col("CALL/S", 7, right: true) + " "
                   + col("TOK/S", 8, right: true) + " " + col("COST", 10, right: true) + " " + col("ERR%", 5, right: true) + " "
                   + col("P50ms", 6, right: true) + " " + col("P95ms", 6, right: true) + "  PROVIDERS: MODELS")
        let maxRows = max(1, (height - 6) / 2)
        for r in visible.prefix(maxRows) {
            let (cps, tps) = rate(r)
            let cost = r.cost.isEmpty ? "-" : String(format: "%.6f", r.cost.values.reduce(0, +))
            let err = r.calls == 0 ? 0 : Double(r.errors) * 100 / Double(r.calls)
            let models = r.models.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.sorted().joined(separator: ","))" }.joined(separator: "; ")
            let pod = r.pod.map { "\(r.namespace ?? "?")/\($0)" } ?? "-"
            out.append(col(r.process, 22) + " " + col(pod, 24) + " " + col("\(r.calls)", 6, right: true) + " " + col(String(format: "%.1f", cps), 7, right: true) + " "
                       + col(String(format: "%.0f", tps), 8, right: true) + " " + col(cost, 10, right: true) + " " + col(String(format: "%.0f", err), 5, right: true) + " "
                       + col(p(r.latencies, 0.5).map { "\($0)" } ?? "-", 6, right: true) + " " + col(p(r.latencies, 0.95).map { "\($0)" } ?? "-", 6, right: true)
                       + "  " + models)
        }
        out.append("")
        out.append("LATEST CALLS")
        let room = max(0, height - out.count)
        let shown = latest.filter { c in visible.contains { $0.process == c.process } }.suffix(room).reversed()
        for c in shown { out.append(TopModel.line(c)) }
        return out.map { $0.count > width ? String($0.prefix(width)) : $0 }
    }
}
