import Foundation
import Logging
import OISPConfig
import OISPEvent
import OISPPipeline

/// The pipeline stage between decode and redaction that turns AI calls into money and metrics:
/// each `ai.response` gets a cost (`ext["oisp.cost"]`, and the spec's `usage.*_cost_usd` when the
/// price is in USD), and every call is recorded in the GenAI metrics (`GenAIMetrics`).
/// A model missing from the price table is counted and named once in the log, never guessed.
public final class GenAIStage: EventStage, @unchecked Sendable {
    public static let extKey = "oisp.cost"

    /// nil: `[cost] enabled = false`.
    public let prices: PriceTable?
    public let metrics: GenAIMetrics?
    private let logger: Logger
    private let lock = NSLock()
    /// What a response needs from its request (request model, server address, operation),
    /// by request_id; bounded, oldest first out.
    private var requests: [String: RequestInfo] = [:]
    private var requestOrder: [String] = []
    /// Endpoints already parsed into server address and port.
    private var endpoints: [String: (String?, Int?)] = [:]
    private var requestHead = 0
    static let maxPendingRequests = 4096
    /// Unknown models already named in the log (bounded).
    private var loggedUnknown: Set<String> = []
    private(set) public var stats = Stats()

    public struct Stats: Sendable, Equatable {
        public var priced: UInt64 = 0
        public var unpriced: [String: UInt64] = [:]
    }

    struct RequestInfo {
        var model: String?
        var serverAddress: String?
        var serverPort: Int?
        var operation: String
    }

    public init(prices: PriceTable?, metrics: GenAIMetrics?, logger: Logger) {
        self.prices = prices
        self.metrics = metrics
        self.logger = logger
    }

    /// From `[cost]` and `[metrics]`; `metrics` nil: no GenAI metrics.
    public convenience init(config: SensorConfig, metrics: GenAIMetrics?, logger: Logger) {
        let table = config.cost.enabled ? PriceTable(overrides: config.cost.prices) : nil
        self.init(prices: table, metrics: metrics, logger: logger)
        if let table {
            logger.debug("cost: price table loaded", metadata: ["models": "\(table.count)", "builtin": "\(table.builtinSource) \(table.builtinDate)",
                                                                "prices_file": "\(config.cost.pricesFile ?? "none")", "overrides": "\(config.cost.prices.count)"])
        }
    }

    /// The conventions' operation name for an OISP request type.
    static func operation(requestType: String?) -> String {
        switch requestType {
        case "completion": return "text_completion"
        case "embedding": return "embeddings"
        default: return "chat"
        }
    }

    public func process(_ event: inout OISPEvent) -> Bool {
        switch event.eventType {
        case "ai.request": remember(event)
        case "ai.response": response(&event)
        case "ai.embedding": embedding(event)
        default: break
        }
        return true
    }

    private func remember(_ e: OISPEvent) {
        guard let id = e.data["request_id"]?.stringValue else { return }
        var host: String?, port: Int?
        if let ep = e.data["provider"]?["endpoint"]?.stringValue {
            // an endpoint repeats call after call: parsed once (URLComponents is dear)
            if let known = lock.withLock({ endpoints[ep] }) {
                (host, port) = known
            } else {
                if let u = URLComponents(string: ep) {
                    host = u.host
                    port = u.port ?? (u.scheme == "https" ? 443 : u.scheme == "http" ? 80 : nil)
                }
                lock.withLock {
                    if endpoints.count >= 1024 { endpoints.removeAll(keepingCapacity: true) }
                    endpoints[ep] = (host, port)
                }
            }
        }
        let info = RequestInfo(model: e.data["model"]?["id"]?.stringValue, serverAddress: host, serverPort: port,
                               operation: GenAIStage.operation(requestType: e.data["request_type"]?.stringValue))
        lock.withLock {
            if requests[id] == nil { requestOrder.append(id) }
            requests[id] = info
            while requests.count > GenAIStage.maxPendingRequests, requestHead < requestOrder.count {
                requests[requestOrder[requestHead]] = nil
                requestHead += 1
            }
            if requestHead > 4096 { requestOrder.removeFirst(requestHead); requestHead = 0 }
        }
    }

    private func takeRequest(_ id: String?) -> RequestInfo? {
        guard let id else { return nil }
        return lock.withLock { requests.removeValue(forKey: id) }
    }

    private func response(_ event: inout OISPEvent) {
        let provider = event.data["provider"]?["name"]?.stringValue ?? "unknown"
        let model = event.data["model"]?["id"]?.stringValue
        let request = takeRequest(event.data["request_id"]?.stringValue)
        let usage = TokenUsage(response: event.data, provider: provider, model: model ?? "")
        var cost: CallCost?
        if let prices {
            let c: CallCost
            if usage == nil { c = .unpriced(reason: CallCost.noUsage) }
            else if model == nil { c = .unpriced(reason: CallCost.noModel) }
            else if let entry = prices.lookup(provider: provider, model: model!) { c = .priced(CallCost.compute(usage!, entry: entry)) }
            else { c = .unpriced(reason: CallCost.unknownModel) }
            cost = c
            annotate(&event, c, usage: usage, provider: provider, model: model)
            account(c, provider: provider, model: model)
        }
        metrics?.recordResponse(event, request: request.map { .init(model: $0.model, serverAddress: $0.serverAddress, serverPort: $0.serverPort, operation: $0.operation) },
                                usage: usage, cost: cost)
    }

    private func embedding(_ event: OISPEvent) {
        let request = takeRequest(event.data["request_id"]?.stringValue)
        metrics?.recordEmbedding(event, request: request.map { .init(model: $0.model, serverAddress: $0.serverAddress, serverPort: $0.serverPort, operation: $0.operation) })
    }

    private func annotate(_ event: inout OISPEvent, _ c: CallCost, usage: TokenUsage?, provider: String, model: String?) {
        var ext = event.ext ?? JSONObject()
        ext[GenAIStage.extKey] = .object(c.extObject(usage: usage, provider: provider, model: model))
        event.ext = ext
        // the spec's own fields, for the USD case
        if case .priced(let p) = c, p.currency == "USD", var u = event.data["usage"]?.objectValue {
            u["input_cost_usd"] = .double(p.input)
            u["output_cost_usd"] = .double(p.output)
            u["total_cost_usd"] = .double(p.total)
            event.data["usage"] = .object(u)
        }
    }

    private func account(_ c: CallCost, provider: String, model: String?) {
        switch c {
        case .priced:
            lock.withLock { stats.priced += 1 }
        case .unpriced(let reason):
            let first = lock.withLock { () -> Bool in
                stats.unpriced[reason, default: 0] += 1
                guard reason == CallCost.unknownModel, let model else { return false }
                let key = provider + "/" + model
                guard loggedUnknown.count < 1000, !loggedUnknown.contains(key) else { return false }
                loggedUnknown.insert(key)
                return true
            }
            metrics?.countUnpriced(provider: provider, reason: reason)
            if first, let model {
                logger.warning("cost: model not in the price table; its calls are counted (oisp_genai_unpriced_responses_total), not priced — add it to [cost] prices_file",
                               metadata: ["provider": "\(provider)", "model": "\(model)"])
            }
        }
    }
}
