import OISPConfig
import OISPEvent

/// Keys of an `[export.<name>]` section that its plugin does not take. A plugin lists its keys
/// in its table's `config_schema` (JSON Schema: `properties`, closed by
/// `"additionalProperties": false`, table members the same way); a misspelt key would otherwise be
/// ignored without a word, as Fluent Bit and the OpenTelemetry Collector never let one pass.
public enum SettingsCheck {
    /// Keys any exporter section may hold: the host's own batching keys, which it passes on too.
    static let hostKeys: Set<String> = ["batch_size", "flush_interval_ms", "timeout_ms"]
    /// Every key the host itself reads in an exporter section: candidates for "did you mean".
    static let allHostKeys = hostKeys.sorted() + ["enabled", "plugin", "queue_size", "queue_max_bytes", "max_in_flight",
                                                  "retry_on_failure", "spool"]

    /// The unknown keys (paths inside the section) with the closest declared key, when one is close.
    public static func unknownKeys(_ settings: JSONObject, schema: String) -> [(key: String, suggestion: String?)] {
        guard let s = try? JSONParser.parse(schema) else { return [] }
        var out: [(String, String?)] = []
        walk(settings, s, prefix: "", &out)
        return out.sorted { $0.0 < $1.0 }
    }

    static func walk(_ o: JSONObject, _ schema: JSONValue, prefix: String, _ out: inout [(String, String?)]) {
        guard schema["additionalProperties"]?.boolValue == false, let props = schema["properties"]?.objectValue else { return }
        let declared = props.keys
        for (k, v) in o {
            if prefix.isEmpty && hostKeys.contains(k) { continue }
            guard let sub = props[k] else {
                out.append((prefix + k, closest(k, declared.map { $0 } + (prefix.isEmpty ? allHostKeys : []))))
                continue
            }
            if let table = v.objectValue { walk(table, sub, prefix: prefix + k + ".", &out) }
        }
    }

    /// The declared key `k` most likely meant: within one edit (two for longer keys; a swap of
    /// neighbours is one), or the start of a declared key (`linger` for `linger_ms`).
    static func closest(_ k: String, _ names: [String]) -> String? {
        if let best = names.map({ ($0, distance(Array(k.utf8), Array($0.utf8))) }).min(by: { $0.1 < $1.1 }),
           best.1 <= (k.count <= 3 ? 1 : 2) { return best.0 }
        if k.count >= 4, let p = names.filter({ $0.hasPrefix(k) }).min(by: { $0.count < $1.count }) { return p }
        return nil
    }

    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var before = Array(0...b.count), prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] { cur[j] = min(cur[j], before[j - 2] + 1) }
            }
            before = prev
            prev = cur
        }
        return prev[b.count]
    }

    /// The line of a key (a path inside the section): its own, else its table's (members of an
    /// inline table share its line), else the section header's.
    static func line(of key: String, in export: ExportConfig) -> Int? {
        var line = export.keyLines[key], k = key
        while line == nil, let dot = k.lastIndex(of: ".") { k = String(k[..<dot]); line = export.keyLines[k] }
        return line ?? export.line
    }

    /// The warnings for one exporter section, worded and placed as the config loader's own.
    public static func warnings(_ export: ExportConfig, plugin: String, schema: String?, file: String) -> [ConfigWarning] {
        guard let schema else { return [] }
        return unknownKeys(export.settings, schema: schema).map { u in
            ConfigWarning(file: file, line: line(of: u.key, in: export), key: "export.\(export.name).\(u.key)",
                          message: "unknown key for the \(plugin) exporter (ignored)" + (u.suggestion.map { "; did you mean '\($0)'?" } ?? ""))
        }
    }
}
