import OISPConfig
import OISPEvent

/// The values of an `[export.<name>]` section checked against the types its plugin declares in
/// `config_schema` (Fluent Bit's config_map idea, carried in the ABI's JSON Schema): a wrong type
/// or value is an error naming file:line, the key, what was expected and what was given — at
/// `config check`, at start and on reload (the exporter is then not started; the others run).
///
/// The JSON Schema subset read, per property (anything else passes):
/// - `"type": "boolean"`: a TOML boolean, or the text true/false/on/off (any case; Fluent Bit's
///   On/Off). Anything else (`"yes"`, `"1"`) is an error, never a silent false.
/// - `"type": "integer"` (with optional `minimum`/`maximum`): a TOML integer or its text.
/// - `"type": "number"`: an integer or a float.
/// - `"type": "string"`: a string. `"enum": [...]`: the value's text is one of those.
/// - `"format": "size"`: `100M`, `5K`, `1G`, `512` (bytes, optional B) or an integer.
/// - `"format": "duration"`: `500ms`, `30s`, `1m`, `1h`, or an integer (seconds).
/// - `"type": "object"` with `properties`: a table, its members checked the same way.
public enum SettingsTypes {
    /// One value that does not fit its declared type.
    public struct Mismatch: Equatable, Sendable {
        public var key: String
        public var expected: String
        public var got: String
    }

    /// Every value of `settings` that does not fit `schema`'s declared types.
    public static func mismatches(_ settings: JSONObject, schema: String) -> [Mismatch] {
        guard let s = try? JSONParser.parse(schema) else { return [] }
        var out: [Mismatch] = []
        walk(settings, s, prefix: "", &out)
        return out.sorted { $0.key < $1.key }
    }

    static func walk(_ o: JSONObject, _ schema: JSONValue, prefix: String, _ out: inout [Mismatch]) {
        guard let props = schema["properties"]?.objectValue else { return }
        for (k, v) in o {
            guard let p = props[k] else { continue }
            // a secret's value never reaches a message (config check output, logs)
            if let why = check(v, p) {
                out.append(Mismatch(key: prefix + k, expected: why, got: SensorConfig.isSecretKey(k) ? "a value not shown (secret key)" : shown(SensorConfig.masked(v, key: k))))
            }
            else if case .object(let sub) = v { walk(sub, p, prefix: prefix + k + ".", &out) }
        }
    }

    static func shown(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return "'\(s)'"
        case .object: return "a table"
        case .array: return "an array"
        default: return v.jsonString()
        }
    }

    static func text(_ v: JSONValue) -> String? {
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    /// Fluent Bit's booleans: true/false, On/Off (any case).
    public static func boolValue(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "on": return true
        case "false", "off": return false
        default: return nil
        }
    }

    /// What `v` should have been, or nil when it fits `p`.
    static func check(_ v: JSONValue, _ p: JSONValue) -> String? {
        let types: [String] = p["type"]?.stringValue.map { [$0] } ?? p["type"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if let e = p["enum"]?.arrayValue {
            let allowed = e.compactMap(text)
            guard let t = text(v), allowed.contains(t) else { return "one of " + allowed.joined(separator: ", ") }
            return nil
        }
        switch p["format"]?.stringValue {
        case "size":
            if case .int(let i) = v, i >= 0 { return nil }
            guard case .string(let s) = v, sizeBytes(s) != nil else { return "a size like 100M, 512K, 1G or a byte count" }
            return nil
        case "duration":
            if case .int(let i) = v, i >= 0 { return nil }
            guard case .string(let s) = v, durationMs(s) != nil else { return "a duration like 500ms, 30s, 1m or 1h" }
            return nil
        default: break
        }
        guard !types.isEmpty else { return nil }
        for t in types {
            switch (t, v) {
            case ("boolean", .bool): return nil
            case ("boolean", .string(let s)) where boolValue(s) != nil: return nil
            case ("integer", .int(let i)), ("number", .int(let i)):
                if let lo = p["minimum"]?.intValue, i < lo { return "an integer of at least \(lo)" }
                if let hi = p["maximum"]?.intValue, i > hi { return "an integer of at most \(hi)" }
                return nil
            case ("integer", .string(let s)) where Int64(s) != nil:
                return check(.int(Int64(s)!), p)
            case ("number", .double): return nil
            case ("string", .string): return nil
            case ("array", .array), ("array", .string): return nil
            case ("object", .object): return nil
            default: continue
            }
        }
        let names = types.map { t -> String in
            switch t {
            case "boolean": return "a boolean (true/false or On/Off)"
            case "integer": return "an integer"
            case "number": return "a number"
            case "string": return "a string"
            case "array": return "a list"
            case "object": return "a table"
            default: return t
            }
        }
        return names.joined(separator: " or ")
    }

    /// `100M`, `5K`, `1G`, `512`, `512B` (any case) in bytes.
    public static func sizeBytes(_ s: String) -> Int? {
        var v = s.uppercased().trimmingCharacters(in: .whitespaces)
        if v.hasSuffix("B") { v.removeLast() }
        var mult = 1
        switch v.last {
        case "K": mult = 1 << 10; v.removeLast()
        case "M": mult = 1 << 20; v.removeLast()
        case "G": mult = 1 << 30; v.removeLast()
        default: break
        }
        guard let n = Int(v), n >= 0 else { return nil }
        return n * mult
    }

    /// `500ms`, `30s`, `1m`, `1h`, `1.5s`, or a bare number (seconds), in milliseconds.
    public static func durationMs(_ s: String) -> Int? {
        let v = s.lowercased().trimmingCharacters(in: .whitespaces)
        for (u, m) in [("ms", 1.0), ("s", 1000.0), ("m", 60_000.0), ("h", 3_600_000.0)] where v.hasSuffix(u) {
            if let n = Double(v.dropLast(u.count)), n >= 0 { return Int(n * m) }
            return nil
        }
        if let n = Int(v), n >= 0 { return n * 1000 }
        return nil
    }

    /// The errors for one exporter section, worded and placed as the config loader's own.
    public static func errors(_ export: ExportConfig, plugin: String, schema: String?, file: String) -> [ConfigWarning] {
        guard let schema else { return [] }
        return mismatches(export.settings, schema: schema).map { m in
            ConfigWarning(file: file, line: SettingsCheck.line(of: m.key, in: export), key: "export.\(export.name).\(m.key)",
                          message: "the \(plugin) exporter expects \(m.expected), got \(m.got)")
        }
    }
}

/// An exporter whose settings do not fit the types its plugin declares: not started.
public struct PluginSettingsError: Error, CustomStringConvertible {
    public let errors: [ConfigWarning]
    public var description: String { errors.map(\.description).joined(separator: "; ") }
}

/// One documented option of a plugin, as `oisp plugins describe` prints it: read from the
/// plugin's `config_schema` (`type`/`format`/`enum`, `default`, `description`).
public struct PluginOption: Equatable, Sendable {
    public var key: String
    /// bool, int, number, size, duration, string, list, table, "bool or table", or "one of a, b, c".
    public var type: String
    public var defaultValue: String?
    public var help: String?

    /// Every option in `schema`, in its order; a table's declared members as `table.member`.
    public static func options(schema: String?) -> [PluginOption] {
        guard let schema, let s = try? JSONParser.parse(schema) else { return [] }
        var out: [PluginOption] = []
        collect(s, prefix: "", &out)
        return out
    }

    static func collect(_ schema: JSONValue, prefix: String, _ out: inout [PluginOption]) {
        guard let props = schema["properties"]?.objectValue else { return }
        let required = Set(schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for (k, p) in props {
            let members = p["properties"]?.objectValue
            var help = p["description"]?.stringValue
            if required.contains(k) { help = "required" + (help.map { ". " + $0 } ?? "") }
            out.append(PluginOption(key: prefix + k, type: kind(p), defaultValue: p["default"].flatMap(SettingsTypes.text), help: help))
            if let members, !members.isEmpty { collect(p, prefix: prefix + k + ".", &out) }
        }
    }

    static func kind(_ p: JSONValue) -> String {
        if let e = p["enum"]?.arrayValue { return "one of " + e.compactMap(SettingsTypes.text).joined(separator: ", ") }
        if let f = p["format"]?.stringValue, f == "size" || f == "duration" { return f }
        let types = p["type"]?.stringValue.map { [$0] } ?? p["type"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let names = types.map { t -> String in
            switch t {
            case "boolean": return "bool"
            case "integer": return "int"
            case "array": return "list"
            case "object": return "table"
            default: return t
            }
        }
        return names.isEmpty ? "any" : names.joined(separator: " or ")
    }
}
