import Foundation
import OISPConfig
import OISPEvent

/// The tokens of one call, split the way prices are: every provider's `usage` read into the same
/// meaning (the decoder keeps each provider's own: OpenAI and Gemini count cached tokens inside
/// `prompt_tokens`, Anthropic and Bedrock do not; OpenAI counts reasoning inside
/// `completion_tokens`, Gemini does not).
public struct TokenUsage: Equatable, Sendable {
    /// All input tokens, cached ones included (the conventions' `gen_ai.usage.input_tokens`).
    public var input: Int64
    /// Input tokens read from the provider's prompt cache.
    public var cacheRead: Int64
    /// Input tokens written to the prompt cache (Anthropic, Bedrock), when reported.
    public var cacheWrite: Int64
    /// All output tokens, reasoning included (`gen_ai.usage.output_tokens`).
    public var output: Int64
    public var reasoning: Int64
    /// Which of the counts the provider reported (a 0 that was reported is not a 0 that was not).
    public var reportedCacheRead: Bool
    public var reportedCacheWrite: Bool
    public var reportedReasoning: Bool

    public var uncachedInput: Int64 { max(0, input - cacheRead - cacheWrite) }
    public var plainOutput: Int64 { max(0, output - reasoning) }

    /// Whether a provider's prompt count leaves out cached tokens (Anthropic's API, also through
    /// Bedrock and Vertex AI).
    static func inputExcludesCache(provider: String, model: String) -> Bool {
        provider == "anthropic" || provider == "aws_bedrock" || model.hasPrefix("claude") || model.utf8Contains("anthropic.claude")
    }

    /// Whether a provider's completion count leaves out reasoning ("thoughts") tokens: Gemini.
    static func outputExcludesReasoning(provider: String, model: String) -> Bool {
        provider == "google" || (provider == "vertex_ai" && model.hasPrefix("gemini"))
    }

    /// The usage of an `ai.response` (`data.usage`), nil when it has none.
    public init?(response data: JSONObject, provider: String, model: String) {
        guard let u = data["usage"]?.objectValue else { return nil }
        let prompt = u["prompt_tokens"]?.intValue, completion = u["completion_tokens"]?.intValue
        guard prompt != nil || completion != nil else { return nil }
        let cached = u["cached_tokens"]?.intValue
        let write = u["cache_creation_tokens"]?.intValue ?? u["cache_write_tokens"]?.intValue
        let reasoning = u["reasoning_tokens"]?.intValue
        cacheRead = max(0, cached ?? 0); cacheWrite = max(0, write ?? 0); self.reasoning = max(0, reasoning ?? 0)
        reportedCacheRead = cached != nil; reportedCacheWrite = write != nil; reportedReasoning = reasoning != nil
        let p = max(0, prompt ?? 0), c = max(0, completion ?? 0)
        input = TokenUsage.inputExcludesCache(provider: provider, model: model) ? p + cacheRead + cacheWrite : p
        output = TokenUsage.outputExcludesReasoning(provider: provider, model: model) ? c + self.reasoning : c
    }

    public init(input: Int64, cacheRead: Int64 = 0, cacheWrite: Int64 = 0, output: Int64, reasoning: Int64 = 0) {
        self.input = input; self.cacheRead = cacheRead; self.cacheWrite = cacheWrite; self.output = output; self.reasoning = reasoning
        reportedCacheRead = cacheRead > 0; reportedCacheWrite = cacheWrite > 0; reportedReasoning = reasoning > 0
    }
}

/// What one call cost, or why it has no cost.
public enum CallCost: Equatable, Sendable {
    case priced(Priced)
    case unpriced(reason: String)

    public struct Priced: Equatable, Sendable {
        public var currency: String
        public var input: Double
        public var output: Double
        public var total: Double { CallCost.round(input + output) }
        public var entry: PriceEntry
        /// The tier applied (its `above`), when the call's input passed one.
        public var tierAbove: Int64?
    }

    /// Reasons no cost applied.
    public static let noUsage = "no_usage", noModel = "no_model", unknownModel = "unknown_model"

    /// Money rounded to 1e-12 (sums of per-token prices otherwise show float noise).
    static func round(_ x: Double) -> Double { (x * 1e12).rounded() / 1e12 }

    /// The cost of `usage` at `entry`'s prices (per 1M tokens): uncached input at the input price,
    /// cache reads and writes at theirs (default: the input price), output at the output price
    /// and reasoning at the reasoning price (default: the output price). A tier applies when the
    /// input (cached included) is above its threshold.
    public static func compute(_ usage: TokenUsage, entry: PriceEntry) -> Priced {
        let tier = entry.tiers.filter { usage.input > $0.above }.max { $0.above < $1.above }
        let inRate = tier?.input ?? entry.input
        let outRate = tier?.output ?? entry.output
        let readRate = tier?.cacheRead ?? entry.cacheRead ?? inRate
        let writeRate = tier?.cacheWrite ?? entry.cacheWrite ?? inRate
        let reasoningRate = entry.reasoning ?? outRate
        let input = (Double(usage.uncachedInput) * inRate + Double(usage.cacheRead) * readRate + Double(usage.cacheWrite) * writeRate) / 1e6
        let output = (Double(usage.plainOutput) * outRate + Double(usage.reasoning) * reasoningRate) / 1e6
        return Priced(currency: entry.currency, input: round(input), output: round(output), entry: entry, tierAbove: tier?.above)
    }
}

extension CallCost {
    /// The `ext["oisp.cost"]` object: currency, amount, the split and the tokens it was computed
    /// from, the price entry used (provider, model, source, date, prices) — or why none applied.
    public func extObject(usage: TokenUsage?, provider: String, model: String?) -> JSONObject {
        var o = JSONObject()
        switch self {
        case .priced(let p):
            o["status"] = "priced"
            o["currency"] = .string(p.currency)
            o["amount"] = .double(p.total)
            o["input_amount"] = .double(p.input)
            o["output_amount"] = .double(p.output)
            if let u = usage { o["tokens"] = .object(CallCost.tokens(u)) }
            var e = JSONObject()
            e["provider"] = .string(p.entry.provider)
            e["model"] = .string(p.entry.model)
            e["source"] = .string(p.entry.source)
            e.set("date", p.entry.date.map(JSONValue.string))
            e["unit"] = "per 1M tokens"
            e["input"] = .double(p.entry.input)
            e["output"] = .double(p.entry.output)
            e.set("cache_read", p.entry.cacheRead.map(JSONValue.double))
            e.set("cache_write", p.entry.cacheWrite.map(JSONValue.double))
            e.set("reasoning", p.entry.reasoning.map(JSONValue.double))
            if let t = p.tierAbove { e["tier_above_tokens"] = .int(t) }
            o["price"] = .object(e)
        case .unpriced(let reason):
            o["status"] = "unpriced"
            o["reason"] = .string(reason)
            o["provider"] = .string(provider)
            o.set("model", model.map(JSONValue.string))
            if let u = usage { o["tokens"] = .object(CallCost.tokens(u)) }
        }
        return o
    }

    /// The tokens in the form prices apply to (one meaning for every provider; the OTLP
    /// exporter's metrics read them): uncached input, cache reads and writes, output without
    /// reasoning, reasoning. Cache and reasoning counts appear when the provider reported them.
    static func tokens(_ u: TokenUsage) -> JSONObject {
        var t = JSONObject()
        t["input"] = .int(u.uncachedInput)
        if u.reportedCacheRead { t["cache_read"] = .int(u.cacheRead) }
        if u.reportedCacheWrite { t["cache_write"] = .int(u.cacheWrite) }
        t["output"] = .int(u.plainOutput)
        if u.reportedReasoning { t["reasoning"] = .int(u.reasoning) }
        return t
    }
}
