import Foundation
import OISPConfig
import OISPEvent

/// Prices per provider and model: the built-in table (generated from LiteLLM's price list, see
/// `regenerate-prices.py`) with the entries of `[cost] prices_file` over it.
/// A model is found by its exact name (a Gemini `models/` prefix aside); nothing is guessed
/// from a similar name.
public final class PriceTable: @unchecked Sendable {
    /// provider → model → entry
    public let entries: [String: [String: PriceEntry]]
    /// Where the built-in entries come from (`litellm 1.110.2`) and their date.
    public let builtinSource: String
    public let builtinDate: String

    public var count: Int { entries.values.reduce(0) { $0 + $1.count } }

    /// - Parameters:
    ///   - builtin: start from the built-in table.
    ///   - overrides: entries that replace a built-in one of the same provider and model, or add one.
    public init(builtin: Bool = true, overrides: [PriceEntry] = []) {
        var e: [String: [String: PriceEntry]] = [:]
        let b = PriceTable.builtinTable
        if builtin { e = b.entries }
        for o in overrides { e[o.provider, default: [:]][o.model] = o }
        entries = e
        builtinSource = b.source
        builtinDate = b.date
    }

    public func lookup(provider: String, model: String) -> PriceEntry? {
        guard let byModel = entries[provider] else { return nil }
        if let e = byModel[model] { return e }
        if model.hasPrefix("models/") { return byModel[String(model.dropFirst(7))] } // Gemini's resource name
        return nil
    }

    /// The generated table, parsed once.
    static let builtinTable: (entries: [String: [String: PriceEntry]], source: String, date: String) = {
        guard let doc = try? JSONParser.parse(Array(builtinPricesJSON.utf8)).objectValue else {
            preconditionFailure("BuiltinPrices.swift does not hold a JSON object (regenerate it)")
        }
        let source = doc["source_version"]?.stringValue ?? "built-in"
        let date = doc["date"]?.stringValue ?? ""
        let currency = doc["currency"]?.stringValue ?? "USD"
        var out: [String: [String: PriceEntry]] = [:]
        for (provider, models) in doc["prices"]?.objectValue ?? JSONObject() {
            var m: [String: PriceEntry] = [:]
            for (model, v) in models.objectValue ?? JSONObject() {
                guard let input = v["input"]?.doubleValue, let output = v["output"]?.doubleValue else { continue }
                let tiers = (v["tiers"]?.arrayValue ?? []).compactMap { t -> PriceEntry.Tier? in
                    guard let above = t["above"]?.intValue else { return nil }
                    return .init(above: above, input: t["input"]?.doubleValue, output: t["output"]?.doubleValue,
                                 cacheRead: t["cache_read"]?.doubleValue, cacheWrite: t["cache_write"]?.doubleValue)
                }
                m[model] = PriceEntry(provider: provider, model: model, currency: currency, input: input, output: output,
                                      cacheRead: v["cache_read"]?.doubleValue, cacheWrite: v["cache_write"]?.doubleValue,
                                      reasoning: v["reasoning"]?.doubleValue, tiers: tiers, date: date, source: source)
            }
            out[provider] = m
        }
        return (out, source, date)
    }()
}
