import OISPEvent

extension SensorConfig {
    /// Key names whose values are secrets (matched case-insensitively, as substrings).
    static let secretKeyMarkers = ["password", "passwd", "secret", "token", "api_key", "apikey", "api-key",
                                   "authorization", "cookie", "credential", "private_key", "hash_salt", "sasl"]

    /// Whether a key names a secret.
    public static func isSecretKey(_ key: String) -> Bool {
        let k = key.lowercased()
        if k.hasSuffix("mechanism") || k.hasSuffix("protocol") { return false } // sasl_mechanism = "PLAIN" names a method
        if k.hasSuffix("_file") { return false } // token_file = "/var/run/…/token" names where the secret is
        return secretKeyMarkers.contains { k.contains($0) } || k == "key" || k.hasSuffix("_key") && !k.hasSuffix("partition_key")
            && !k.hasSuffix("time_key") && !k.hasSuffix("date_key") && !k.hasSuffix("message_key") && !k.hasSuffix("file_key")
            && k != "s3_key_format"
    }

    /// A value with every secret replaced by "***" (keys matched by name; strings that look like
    /// `Bearer …` / `Basic …` credentials too).
    public static func masked(_ v: JSONValue, key: String = "") -> JSONValue {
        switch v {
        case .object(let o):
            var r = JSONObject()
            for (k, x) in o { r.appendUnchecked(k, masked(x, key: k)) }
            return .object(r)
        case .array(let a):
            return .array(a.map { masked($0, key: key) })
        case .string(let s):
            if isSecretKey(key) && !s.isEmpty { return .string("***") }
            let l = s.lowercased()
            if l.hasPrefix("bearer ") || l.hasPrefix("basic ") || l.hasPrefix("authorization ") {
                return .string(String(s.prefix { $0 != " " }) + " ***")
            }
            return v
        default:
            return v
        }
    }

    /// The resolved configuration as TOML, with secrets masked — what `oisp config check` prints.
    public func maskedTOML() -> String {
        var out = "# resolved configuration from \(file) (secrets masked)\n"
        func render(_ v: JSONValue) -> String {
            switch v {
            case .object(let o):
                return "{ " + o.map { "\(quoteKey($0.key)) = \(render($0.value))" }.joined(separator: ", ") + " }"
            case .array(let a): return "[" + a.map(render).joined(separator: ", ") + "]"
            case .string(let s): return JSONValue.string(s).jsonString()
            default: return v.jsonString()
            }
        }
        func quoteKey(_ k: String) -> String {
            k.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) ? k : JSONValue.string(k).jsonString()
        }
        func section(_ path: String, _ o: JSONObject) {
            let scalars = o.filter { $0.value.objectValue == nil }
            let tables = o.filter { $0.value.objectValue != nil }
            // Small tables inside exporter sections (headers, retry_on_failure) stay inline.
            let inlineTables = path.hasPrefix("export.")
            if !scalars.isEmpty || tables.isEmpty || inlineTables {
                out += "\n[\(path)]\n"
                for (k, v) in scalars { out += "\(quoteKey(k)) = \(render(v))\n" }
            }
            for (k, v) in tables {
                if inlineTables { out += "\(quoteKey(k)) = \(render(v))\n" }
                else { section("\(path).\(quoteKey(k))", v.objectValue!) }
            }
        }
        guard case .object(let root) = SensorConfig.masked(.object(resolved)) else { return out }
        for (k, v) in root {
            if let o = v.objectValue { section(quoteKey(k), o) } else { out += "\(quoteKey(k)) = \(render(v))\n" }
        }
        return out
    }
}
