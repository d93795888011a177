import Foundation
import Logging
import OISPEvent

/// `oisp analyze`: what a recording of OISP events says about the AI traffic in it — inventory
/// (providers, models, processes, workloads), usage and cost totals, the slowest and the failed
/// calls. A response that carries no cost (recorded with cost off, or by another sensor) is
/// priced the way the sensor would price it (`GenAIStage`).
public final class Analysis {
    public struct Call: Sendable {
        public var ts: String
        public var process: String
        public var pid: Int64?
        public var workload: String?
        public var provider: String
        public var model: String
        public var latencyMs: Int64?
        public var ttftMs: Int64?
        public var input: Int64
        public var output: Int64
        public var cost: Double?
        public var currency: String?
        public var status: Int64?
        public var error: String?
    }

    public struct Group: Sendable {
        public var calls = 0, failed = 0
        public var input: Int64 = 0, output: Int64 = 0
        public var cost: [String: Double] = [:]
        public var latencyMs: [Int64] = []
    }

    let stage: GenAIStage
    public private(set) var events = 0
    public private(set) var calls: [Call] = []
    public private(set) var providers: [String: Group] = [:]
    public private(set) var models: [String: Group] = [:]
    public private(set) var processes: [String: Group] = [:]
    public private(set) var workloads: [String: Group] = [:]
    public private(set) var unpriced: [String: Int] = [:]        // reason → calls
    public private(set) var unpricedModels: [String: Int] = [:]  // provider/model → calls
    public private(set) var totals = Group()
    public private(set) var cacheRead: Int64 = 0, reasoning: Int64 = 0
    public private(set) var first: String?, last: String?

    public init(prices: PriceTable) {
        stage = GenAIStage(prices: prices, metrics: nil, logger: Logger(label: "analyze", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Takes one event (in file order).
    public func add(_ event: OISPEvent) {
        events += 1
        var e = event
        let ts = e.ts.rfc3339
        if first == nil || ts < first! { first = ts }
        if last == nil || ts > last! { last = ts }
        switch e.eventType {
        case "ai.request": _ = stage.process(&e)
        case "ai.response":
            if e.ext?[GenAIStage.extKey] == nil { _ = stage.process(&e) }
            call(e)
        default: break
        }
    }

    private func call(_ e: OISPEvent) {
        let d = e.data
        let provider = d["provider"]?["name"]?.stringValue ?? "unknown"
        let model = d["model"]?["id"]?.stringValue ?? "unknown"
        let c = e.ext?[GenAIStage.extKey]
        let u = TokenUsage(response: d, provider: provider, model: model)
        var call = Call(ts: e.ts.rfc3339, process: e.process?.name ?? e.process?.exe ?? "?", pid: e.process?.pid,
                        provider: provider, model: model, latencyMs: d["latency_ms"]?.intValue, ttftMs: d["time_to_first_token_ms"]?.intValue,
                        input: u?.input ?? 0, output: u?.output ?? 0, status: d["status_code"]?.intValue)
        if let k = e.ext?["oisp.k8s"] {
            let ns = k["namespace"]?.stringValue ?? "?"
            call.workload = k["workload_name"]?.stringValue.map { "\(ns)/\(k["workload_kind"]?.stringValue ?? "?")/\($0)" } ?? "\(ns)/pod/\(k["pod_name"]?.stringValue ?? "?")"
        }
        if c?["status"]?.stringValue == "priced" {
            call.cost = c?["amount"]?.doubleValue
            call.currency = c?["currency"]?.stringValue
        } else if let reason = c?["reason"]?.stringValue {
            unpriced[reason, default: 0] += 1
            if reason == CallCost.unknownModel { unpricedModels["\(provider)/\(model)", default: 0] += 1 }
        }
        let failed = d["success"]?.boolValue == false
        if failed {
            call.error = d["error"]?["type"]?.stringValue ?? d["error"]?["code"]?.stringValue ?? "http_\(call.status ?? 0)"
            if let m = d["error"]?["message"]?.stringValue { call.error! += ": " + String(m.prefix(80)) }
        }
        cacheRead += u?.cacheRead ?? 0
        reasoning += u?.reasoning ?? 0
        calls.append(call)
        func add(_ g: inout Group) {
            g.calls += 1
            if failed { g.failed += 1 }
            g.input += call.input; g.output += call.output
            if let v = call.cost, let cur = call.currency { g.cost[cur, default: 0] += v }
            if let l = call.latencyMs { g.latencyMs.append(l) }
        }
        add(&totals)
        add(&providers[provider, default: Group()])
        add(&models["\(provider)/\(model)", default: Group()])
        add(&processes[call.process, default: Group()])
        if let w = call.workload { add(&workloads[w, default: Group()]) }
    }

    static func percentile(_ xs: [Int64], _ p: Double) -> Int64? {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        let rank = Int((Double(s.count) * p).rounded(.up)) // nearest rank
        return s[max(0, min(s.count - 1, rank - 1))]
    }

    static func money(_ cost: [String: Double]) -> String {
        cost.isEmpty ? "-" : cost.sorted { $0.key < $1.key }.map { String(format: "%.6f %@", $0.value, $0.key) }.joined(separator: " + ")
    }

    public func slowest(_ n: Int) -> [Call] { Array(calls.filter { $0.latencyMs != nil }.sorted { $0.latencyMs! > $1.latencyMs! }.prefix(n)) }
    public func failed(_ n: Int) -> [Call] { Array(calls.filter { $0.error != nil }.prefix(n)) }

    // MARK: output

    func groupJSON(_ g: Group) -> JSONValue {
        var o = JSONObject()
        o["calls"] = .int(Int64(g.calls)); o["failed"] = .int(Int64(g.failed))
        o["input_tokens"] = .int(g.input); o["output_tokens"] = .int(g.output)
        var c = JSONObject()
        for (k, v) in g.cost.sorted(by: { $0.key < $1.key }) { c[k] = .double(CallCost.round(v)) }
        o["cost"] = .object(c)
        o.set("latency_p50_ms", Analysis.percentile(g.latencyMs, 0.5).map(JSONValue.int))
        o.set("latency_p95_ms", Analysis.percentile(g.latencyMs, 0.95).map(JSONValue.int))
        return .object(o)
    }

    func callJSON(_ c: Call) -> JSONValue {
        var o = JSONObject()
        o["ts"] = .string(c.ts); o["process"] = .string(c.process); o.set("pid", c.pid.map(JSONValue.int))
        o.set("workload", c.workload.map(JSONValue.string))
        o["provider"] = .string(c.provider); o["model"] = .string(c.model)
        o.set("latency_ms", c.latencyMs.map(JSONValue.int)); o.set("time_to_first_token_ms", c.ttftMs.map(JSONValue.int))
        o["input_tokens"] = .int(c.input); o["output_tokens"] = .int(c.output)
        if let v = c.cost, let cur = c.currency { o["cost"] = .double(v); o["currency"] = .string(cur) }
        o.set("status_code", c.status.map(JSONValue.int)); o.set("error", c.error.map(JSONValue.string))
        return .object(o)
    }

    public func json(top: Int) -> JSONValue {
        func groups(_ d: [String: Group]) -> JSONValue {
            var o = JSONObject()
            for (k, g) in d.sorted(by: { $0.value.calls != $1.value.calls ? $0.value.calls > $1.value.calls : $0.key < $1.key }) { o[k] = groupJSON(g) }
            return .object(o)
        }
        var o = JSONObject()
        o["events"] = .int(Int64(events))
        o.set("from", first.map(JSONValue.string)); o.set("to", last.map(JSONValue.string))
        var t = groupJSON(totals).objectValue!
        t["cache_read_tokens"] = .int(cacheRead); t["reasoning_tokens"] = .int(reasoning)
        o["totals"] = .object(t)
        var un = JSONObject()
        for (k, v) in unpriced.sorted(by: { $0.key < $1.key }) { un[k] = .int(Int64(v)) }
        o["unpriced"] = .object(un)
        var um = JSONObject()
        for (k, v) in unpricedModels.sorted(by: { $0.key < $1.key }) { um[k] = .int(Int64(v)) }
        o["unpriced_models"] = .object(um)
        o["providers"] = groups(providers); o["models"] = groups(models)
        o["processes"] = groups(processes); o["workloads"] = groups(workloads)
        o["slowest"] = .array(slowest(top).map(callJSON))
        o["failed"] = .array(failed(top).map(callJSON))
        return .object(o)
    }

    /// Plain-text tables.
    public func table(top: Int) -> String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        func render(_ header: [String], _ rows: [[String]]) {
            let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
            func row(_ r: [String]) -> String {
                r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            }
            func trimmed(_ s: String) -> String { var s = s; while s.last == " " { s.removeLast() }; return s }
            line(trimmed(row(header)))
            for r in rows { line(trimmed(row(r))) }
        }
        func groups(_ title: String, _ d: [String: Group]) {
            guard !d.isEmpty else { return }
            line()
            let rows = d.sorted { $0.value.calls != $1.value.calls ? $0.value.calls > $1.value.calls : $0.key < $1.key }.map { k, g in
                [k, "\(g.calls)", "\(g.failed)", "\(g.input)", "\(g.output)",
                 Analysis.percentile(g.latencyMs, 0.5).map { "\($0)" } ?? "-", Analysis.percentile(g.latencyMs, 0.95).map { "\($0)" } ?? "-",
                 Analysis.money(g.cost)]
            }
            render([title, "calls", "failed", "input_tok", "output_tok", "p50_ms", "p95_ms", "cost"], rows)
        }
        line("\(events) events, \(totals.calls) AI calls (\(totals.failed) failed), \(first ?? "-") .. \(last ?? "-")")
        line("tokens: input \(totals.input) (cache read \(cacheRead)), output \(totals.output) (reasoning \(reasoning))")
        line("cost: \(Analysis.money(totals.cost))" + (unpriced.isEmpty ? "" : "; not priced: " +
             unpriced.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")))
        if !unpricedModels.isEmpty {
            line("models not in the price table: " + unpricedModels.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", "))
        }
        groups("provider", providers)
        groups("model", models)
        groups("process", processes)
        groups("workload", workloads)
        func calls(_ title: String, _ cs: [Call]) {
            guard !cs.isEmpty else { return }
            line()
            line(title)
            render(["ts", "process", "provider", "model", "latency_ms", "tokens", "status", "error"], cs.map { c in
                [c.ts, c.process + (c.pid.map { "[\($0)]" } ?? ""), c.provider, c.model, c.latencyMs.map { "\($0)" } ?? "-",
                 "\(c.input)/\(c.output)", c.status.map { "\($0)" } ?? "-", c.error ?? ""]
            })
        }
        calls("slowest calls", slowest(top))
        calls("failed calls", failed(top))
        return out
    }
}
