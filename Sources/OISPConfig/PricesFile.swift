import Foundation
import OISPEvent
import TOMLKit

/// The price of one model at one provider, per 1M tokens, in `currency`.
/// Missing optional prices fall back: cached input and cache writes at the input price,
/// reasoning at the output price.
public struct PriceEntry: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var currency: String
    public var input: Double
    public var output: Double
    public var cacheRead: Double?
    public var cacheWrite: Double?
    public var reasoning: Double?
    /// Prices that apply instead when a call's input (cached included) is above `above` tokens.
    public var tiers: [Tier]
    /// When these prices were published or took effect (YYYY-MM-DD).
    public var date: String?
    /// Where the entry comes from: `litellm 1.110.2` or `<prices file>:<line>`.
    public var source: String

    public struct Tier: Sendable, Equatable {
        public var above: Int64
        public var input: Double?
        public var output: Double?
        public var cacheRead: Double?
        public var cacheWrite: Double?
        public init(above: Int64, input: Double? = nil, output: Double? = nil, cacheRead: Double? = nil, cacheWrite: Double? = nil) {
            self.above = above; self.input = input; self.output = output; self.cacheRead = cacheRead; self.cacheWrite = cacheWrite
        }
    }

    public init(provider: String, model: String, currency: String = "USD", input: Double, output: Double,
                cacheRead: Double? = nil, cacheWrite: Double? = nil, reasoning: Double? = nil,
                tiers: [Tier] = [], date: String? = nil, source: String) {
        self.provider = provider; self.model = model; self.currency = currency; self.input = input; self.output = output
        self.cacheRead = cacheRead; self.cacheWrite = cacheWrite; self.reasoning = reasoning; self.tiers = tiers
        self.date = date; self.source = source
    }
}

/// `[cost] prices_file`: a TOML file of prices per 1M tokens that override or add to the
/// built-in table, one table per provider and model:
///
///     currency = "USD"           # default for the entries below (optional, default USD)
///     date = "2026-11-01"        # when they took effect (optional)
///     [openai."gpt-4o"]
///     input = 2.00
///     output = 8.00
///     cached_input = 1.00        # optional (default: the input price)
///     cache_write = 2.50         # optional (default: the input price)
///     reasoning = 8.00           # optional (default: the output price)
///
/// Prices decide money, so a mistake here is an error (file, line, key, what was expected),
/// unknown keys included.
public enum PricesFile {
    public static let entryKeys = ["input", "output", "cached_input", "cache_read", "cache_write", "reasoning", "currency", "date"]

    public static func load(path: String) throws -> [PriceEntry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot be read (permissions?)" : "does not exist"
            throw ConfigError(file: path, message: "prices file \(why)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, message: "prices file is not valid UTF-8")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> [PriceEntry] {
        let (normalized, keyLines, headerError) = TOMLNormalizer.normalize(text)
        if let h = headerError ?? TOMLNormalizer.checkValuePositions(normalized) {
            throw ConfigError(file: file, line: h.line, message: "TOML syntax error: \(h.message)")
        }
        for (i, u) in text.unicodeScalars.enumerated() where (u.value < 0x20 && u != "\t" && u != "\r" && u != "\n") || u.value == 0x7F {
            let line = text.unicodeScalars.prefix(i).filter { $0 == "\n" }.count + 1
            throw ConfigError(file: file, line: line, message: "TOML syntax error: control character U+\(String(format: "%04X", u.value)) is not allowed")
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: normalized) } catch let e as TOMLParseError {
            throw ConfigError(file: file, line: e.source.begin.line, column: e.source.begin.column, message: "TOML syntax error: \(e.description)")
        }
        var unset: [(String, String)] = []
        guard let root = SensorConfig.convert(table, path: [], env: [:], unset: &unset).objectValue else {
            throw ConfigError(file: file, message: "expected a TOML document")
        }
        func line(_ parts: [String]) -> Int? {
            var p = parts
            while !p.isEmpty {
                if let l = keyLines[p.joined(separator: ".")] { return l }
                p.removeLast()
            }
            return nil
        }
        func shown(_ parts: [String]) -> String {
            parts.map { $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } ? $0 : "\"\($0)\"" }.joined(separator: ".")
        }
        func fail(_ parts: [String], _ msg: String) -> ConfigError {
            ConfigError(file: file, line: line(parts), key: shown(parts), message: msg)
        }
        func describe(_ v: JSONValue) -> String {
            switch v {
            case .string(let s): return "string \"\(s.prefix(40))\""
            case .int(let i): return "integer \(i)"
            case .double(let d): return "float \(d)"
            case .bool(let b): return "boolean \(b)"
            case .array: return "an array"
            case .object: return "a table"
            case .null: return "null"
            }
        }
        func currency(_ v: JSONValue, _ at: [String]) throws -> String {
            guard let s = v.stringValue, s.count == 3, s.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                throw fail(at, "expected a three-letter ISO 4217 currency code such as \"USD\", got \(describe(v))")
            }
            return s
        }
        func date(_ v: JSONValue, _ at: [String]) throws -> String {
            let ok = v.stringValue.map { s in
                s.count == 10 && s.enumerated().allSatisfy { i, c in i == 4 || i == 7 ? c == "-" : c.isASCII && c.isNumber }
            } ?? false
            guard ok, let s = v.stringValue else { throw fail(at, "expected a date \"YYYY-MM-DD\", got \(describe(v))") }
            return s
        }
        let defaultCurrency = try root["currency"].map { try currency($0, ["currency"]) } ?? "USD"
        let defaultDate = try root["date"].map { try date($0, ["date"]) }
        var out: [PriceEntry] = []
        for (provider, pv) in root where provider != "currency" && provider != "date" {
            guard let models = pv.objectValue else {
                throw fail([provider], "expected a table of models ([\(shown([provider, "<model>"]))]) or one of currency, date; got \(describe(pv))")
            }
            for (model, mv) in models {
                let at = [provider, model]
                guard let m = mv.objectValue else {
                    throw fail(at, "expected a table of prices per 1M tokens (input, output, ...), got \(describe(mv))")
                }
                for k in m.keys where !entryKeys.contains(k) {
                    throw fail(at + [k], "unknown key; expected one of \(entryKeys.joined(separator: ", "))")
                }
                func price(_ k: String) throws -> Double? {
                    guard let v = m[k] else { return nil }
                    guard let d = v.doubleValue, d >= 0, d.isFinite else {
                        throw fail(at + [k], "expected a price per 1M tokens (a number >= 0), got \(describe(v))")
                    }
                    return d
                }
                guard let input = try price("input") else { throw fail(at, "missing key 'input' (price per 1M input tokens)") }
                guard let output = try price("output") else { throw fail(at, "missing key 'output' (price per 1M output tokens)") }
                if m["cached_input"] != nil && m["cache_read"] != nil {
                    throw fail(at + ["cache_read"], "give cached_input or cache_read (the same price), not both")
                }
                out.append(PriceEntry(provider: provider, model: model,
                                      currency: try m["currency"].map { try currency($0, at + ["currency"]) } ?? defaultCurrency,
                                      input: input, output: output,
                                      cacheRead: try price("cached_input") ?? price("cache_read"), cacheWrite: try price("cache_write"),
                                      reasoning: try price("reasoning"),
                                      date: try m["date"].map { try date($0, at + ["date"]) } ?? defaultDate,
                                      source: "\(file):\(line(at) ?? 0)"))
            }
        }
        return out
    }
}
