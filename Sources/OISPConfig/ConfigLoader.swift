import Foundation
import OISPEvent
import TOMLKit

extension SensorConfig {
    /// The default config path when neither `-c` nor `OISP_CONFIG` is given.
    public static let defaultPath = "/etc/oisp/config.toml"

    /// A config file larger than this is refused before it is read (a real one is a few KiB).
    public static let maxFileBytes = 1 << 20

    /// Loads and validates a config file.
    /// - Parameters:
    ///   - path: the file to read.
    ///   - env: the environment used for `${VAR}` expansion.
    /// - Throws: `ConfigError` naming file, line, key and what was expected.
    public static func load(path: String, env: [String: String] = ProcessInfo.processInfo.environment) throws -> SensorConfig {
        var size = stat()
        if stat(path, &size) == 0, size.st_size > maxFileBytes {
            throw ConfigError(file: path, message: "config file is \(size.st_size) bytes; a sensor config is at most \(maxFileBytes / 1024) KiB (is this the right file?)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            var dir: ObjCBool = false
            let why = !FileManager.default.fileExists(atPath: path, isDirectory: &dir) ? "does not exist"
                : dir.boolValue ? "is a directory" : "cannot be read (permissions?)"
            throw ConfigError(file: path, message: "config file \(why)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, message: "config file is not valid UTF-8")
        }
        var c = try parse(text, file: path, env: env)
        // A literal secret in a file other users can read is a leak waiting to happen.
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & S_IROTH != 0 {
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                guard let eq = line.firstIndex(of: "=") else { continue }
                let key = line[..<eq].trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'{,"))
                    .split(separator: ".").last.map(String.init) ?? ""
                let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                if SensorConfig.isSecretKey(key), value.hasPrefix("\""), value.count > 2, !value.contains("${") {
                    c.warnings.append(ConfigWarning(file: path, line: i + 1, key: key,
                                                    message: "literal secret in a file readable by other users: use ${ENV_VAR} or chmod 600"))
                }
            }
        }
        return c
    }

    /// Resolves which file to read: an explicit path, else `OISP_CONFIG`, else the default path
    /// if it exists, else the embedded default configuration.
    public static func resolve(explicitPath: String?, env: [String: String] = ProcessInfo.processInfo.environment) throws -> SensorConfig {
        if let p = explicitPath, !p.isEmpty { return try load(path: p, env: env) }
        if let p = env["OISP_CONFIG"], !p.isEmpty { return try load(path: p, env: env) }
        if FileManager.default.fileExists(atPath: defaultPath) { return try load(path: defaultPath, env: env) }
        return try parse(embeddedDefault, file: "<embedded default>", env: env)
    }

    /// Parses and validates config text.
    public static func parse(_ text: String, file: String, env: [String: String] = ProcessInfo.processInfo.environment) throws -> SensorConfig {
        // TOML forbids raw control characters (tab aside); toml++ asserts on some of them, so
        // reject them here with the line and column.
        var line = 1, col = 0
        for u in text.unicodeScalars {
            col += 1
            if u == "\n" { line += 1; col = 0; continue }
            if (u.value < 0x20 && u != "\t" && u != "\r") || u.value == 0x7F {
                throw ConfigError(file: file, line: line, column: col,
                                  message: "TOML syntax error: control character U+\(String(format: "%04X", u.value)) is not allowed")
            }
        }
        let (normalized, keyLines, headerError) = TOMLNormalizer.normalize(text)
        if let h = headerError ?? TOMLNormalizer.checkValuePositions(normalized) {
            throw ConfigError(file: file, line: h.line, message: "TOML syntax error: \(h.message)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: normalized)
        } catch let e as TOMLParseError {
            throw ConfigError(file: file, line: e.source.begin.line, column: e.source.begin.column,
                              message: "TOML syntax error: \(e.description)")
        }
        var unset: [(String, String)] = []
        let root = convert(table, path: [], env: env, unset: &unset)
        var b = Builder(file: file, keyLines: keyLines, env: env)
        for (key, name) in unset {
            b.warn(key, "environment variable \(name) is not set; expanded to an empty string")
        }
        return try b.build(root)
    }

    static func convert(_ v: TOMLValueConvertible, path: [String], env: [String: String],
                                unset: inout [(String, String)]) -> JSONValue {
        switch v.type {
        case .table:
            let t = v.table!
            var o = JSONObject()
            for k in t.keys { if let c = t[k] { o.appendUnchecked(k, convert(c, path: path + [k], env: env, unset: &unset)) } }
            return .object(o)
        case .array:
            return .array(v.array!.map { convert($0, path: path, env: env, unset: &unset) })
        case .string:
            var missing: [String] = []
            let s = EnvExpansion.expand(v.string!, env: env, unset: &missing)
            for m in missing { unset.append((path.joined(separator: "."), m)) }
            return .string(s)
        case .int: return .int(Int64(v.int!))
        case .double: return .double(v.double!)
        case .bool: return .bool(v.bool!)
        default: return .string(v.debugDescription)
        }
    }
}

/// Walks the parsed document, fills `SensorConfig` and reports errors with lines.
private struct Builder {
    let file: String
    let keyLines: [String: Int]
    /// For defaults that depend on where the sensor runs (`[kubernetes]`).
    let env: [String: String]
    var warnings: [ConfigWarning] = []

    init(file: String, keyLines: [String: Int], env: [String: String]) { self.file = file; self.keyLines = keyLines; self.env = env }

    func line(_ key: String) -> Int? {
        var k = key
        while true {
            if let l = keyLines[k] { return l }
            guard let dot = k.lastIndex(of: ".") else { return nil }
            k = String(k[..<dot])
        }
    }
    mutating func warn(_ key: String, _ msg: String) {
        warnings.append(ConfigWarning(file: file, line: line(key), key: key, message: msg))
    }
    func fail(_ key: String, _ msg: String) -> ConfigError { ConfigError(file: file, line: line(key), key: key, message: msg) }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return "boolean \(b)"
        case .int(let i): return "integer \(i)"
        case .double(let d): return "float \(d)"
        case .string(let s): return "string \"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
        case .array: return "an array"
        case .object: return "a table"
        }
    }

    func bool(_ o: JSONObject, _ k: String, _ path: String) throws -> Bool? {
        guard let v = o[k] else { return nil }
        guard let b = v.boolValue else { throw fail("\(path).\(k)", "expected a boolean (true/false), got \(Builder.describe(v))") }
        return b
    }
    func string(_ o: JSONObject, _ k: String, _ path: String) throws -> String? {
        guard let v = o[k] else { return nil }
        guard let s = v.stringValue else { throw fail("\(path).\(k)", "expected a string, got \(Builder.describe(v))") }
        return s
    }
    func int(_ o: JSONObject, _ k: String, _ path: String, min: Int64 = 0) throws -> Int? {
        guard let v = o[k] else { return nil }
        guard case .int(let i) = v else { throw fail("\(path).\(k)", "expected an integer, got \(Builder.describe(v))") }
        guard i >= min else { throw fail("\(path).\(k)", "expected an integer >= \(min), got \(i)") }
        return Int(i)
    }
    func double(_ o: JSONObject, _ k: String, _ path: String) throws -> Double? {
        guard let v = o[k] else { return nil }
        guard let d = v.doubleValue else { throw fail("\(path).\(k)", "expected a number, got \(Builder.describe(v))") }
        return d
    }
    func oneOf(_ o: JSONObject, _ k: String, _ path: String, _ allowed: [String]) throws -> String? {
        guard let s = try string(o, k, path) else { return nil }
        guard allowed.contains(s.lowercased()) else {
            throw fail("\(path).\(k)", "expected one of \(allowed.joined(separator: ", ")), got \"\(s)\"")
        }
        return s.lowercased()
    }
    func stringArray(_ o: JSONObject, _ k: String, _ path: String, allowSingle: Bool = false) throws -> [String]? {
        guard let v = o[k] else { return nil }
        if allowSingle, let s = v.stringValue { return [s] }
        guard let a = v.arrayValue else { throw fail("\(path).\(k)", "expected an array of strings, got \(Builder.describe(v))") }
        return try a.map {
            guard let s = $0.stringValue else { throw fail("\(path).\(k)", "expected an array of strings, found \(Builder.describe($0))") }
            return s
        }
    }
    func table(_ o: JSONObject, _ k: String, _ path: String) throws -> JSONObject? {
        guard let v = o[k] else { return nil }
        guard let t = v.objectValue else { throw fail(path.isEmpty ? k : "\(path).\(k)", "expected a table, got \(Builder.describe(v))") }
        return t
    }
    mutating func unknown(_ o: JSONObject, _ path: String, known: Set<String>) {
        for k in o.keys where !known.contains(k) {
            warn(path.isEmpty ? k : "\(path).\(k)", "unknown key (ignored)")
        }
    }

    mutating func policy(_ o: JSONObject, _ path: String, base: ExportPolicy) throws -> ExportPolicy {
        var p = base
        if let v = try int(o, "batch_size", path, min: 1) { p.batchSize = v }
        if let v = try int(o, "flush_interval_ms", path, min: 1) { p.flushIntervalMs = v }
        if let v = try int(o, "queue_size", path, min: 1) { p.queueSize = v }
        if let v = try int(o, "timeout_ms", path, min: 1) { p.timeoutMs = v }
        if let v = try int(o, "max_in_flight", path, min: 1) { p.maxInFlight = min(v, 64) }
        if let v = try int(o, "queue_max_bytes", path, min: 1024) { p.queueMaxBytes = v }
        if let v = try bool(o, "write_ahead", path) { p.writeAhead = v }
        if let r = try table(o, "retry_on_failure", path) {
            let rp = "\(path).retry_on_failure"
            if let v = try bool(r, "enabled", rp) { p.retry.enabled = v }
            if let v = try int(r, "initial_interval_ms", rp, min: 1) { p.retry.initialIntervalMs = v }
            if let v = try int(r, "max_interval_ms", rp, min: 1) { p.retry.maxIntervalMs = v }
            if let v = try int(r, "max_elapsed_ms", rp) { p.retry.maxElapsedMs = v }
            if let v = try double(r, "multiplier", rp) {
                guard v >= 1 else { throw fail("\(rp).multiplier", "expected a number >= 1, got \(v)") }
                p.retry.multiplier = v
            }
            if let v = try double(r, "randomization_factor", rp) {
                guard (0...1).contains(v) else { throw fail("\(rp).randomization_factor", "expected a number in 0...1, got \(v)") }
                p.retry.randomizationFactor = v
            }
            unknown(r, rp, known: ["enabled", "initial_interval_ms", "max_interval_ms", "max_elapsed_ms", "multiplier", "randomization_factor"])
        }
        return p
    }

    /// `[kubernetes]`, with the defaults of a sensor running in a pod: on when
    /// `KUBERNETES_SERVICE_HOST` is set, the kubelet of `NODE_NAME`, the service account's token and CA.
    mutating func kubernetes(_ root: JSONObject) throws -> SensorConfig.Kubernetes {
        var k = SensorConfig.Kubernetes()
        let p = "kubernetes"
        k.enabled = !(env["KUBERNETES_SERVICE_HOST"] ?? "").isEmpty
        let node = env["NODE_NAME"] ?? ""
        k.kubeletURL = "https://\(node.isEmpty ? "localhost" : node):10250"
        let s = try table(root, p, "")
        if let s {
            if let v = try bool(s, "enabled", p) { k.enabled = v }
            if let v = try oneOf(s, "source", p, SensorConfig.Kubernetes.Source.allCases.map(\.rawValue)) {
                guard v == "kubelet" else {
                    throw fail("\(p).source", "source = \"apiserver\" is not implemented yet; use \"kubelet\" (the kubelet's /pods, RBAC nodes/proxy get)")
                }
                k.source = .kubelet
            }
            if let v = try string(s, "kubelet_url", p) {
                guard let scheme = v.split(separator: ":").first?.lowercased(), scheme == "https" || scheme == "http", v.contains("://") else {
                    throw fail("\(p).kubelet_url", "expected an http(s) URL such as https://${NODE_NAME}:10250, got \"\(v)\"")
                }
                if (URL(string: v)?.host ?? "").isEmpty {
                    warn("\(p).kubelet_url", "\"\(v)\" names no host (is the variable it names set?)")
                }
                k.kubeletURL = v.hasSuffix("/") ? String(v.dropLast()) : v
            }
            if let v = try string(s, "token_file", p) { k.tokenFile = v }
            if let v = try string(s, "ca_file", p) { k.caFile = v.isEmpty ? nil : v }
            if let v = try bool(s, "tls_verify", p) { k.tlsVerify = v }
            if let v = try stringArray(s, "labels", p, allowSingle: true) {
                for l in v where l.isEmpty || l.count > 317 || l.contains(where: { $0.isWhitespace }) {
                    throw fail("\(p).labels", "\"\(l)\" is not a Kubernetes label key")
                }
                k.labels = v
            }
            if let v = try int(s, "refresh_ms", p, min: 100) { k.refreshMs = v }
            unknown(s, p, known: ["enabled", "source", "kubelet_url", "token_file", "ca_file", "tls_verify", "labels", "refresh_ms"])
        }
        if k.enabled && node.isEmpty && s?["kubelet_url"] == nil {
            warn(p, "NODE_NAME is not set, so the kubelet is looked for at \(k.kubeletURL): give the sensor NODE_NAME from the downward API (spec.nodeName) or set kubelet_url")
        }
        return k
    }

    mutating func build(_ rootValue: JSONValue) throws -> SensorConfig {
        guard let root = rootValue.objectValue else { throw ConfigError(file: file, message: "expected a TOML document") }
        var c = SensorConfig(file: file)
        c.resolved = root
        unknown(root, "", known: ["sensor", "capture", "redaction", "plugins", "pipeline", "metrics", "export", "decode", "kubernetes", "cost"])

        if let s = try table(root, "sensor", "") {
            c.sensor.name = try string(s, "name", "sensor")
            c.sensor.hostname = try string(s, "hostname", "sensor")
            if let l = try oneOf(s, "log_level", "sensor", ["trace", "debug", "info", "notice", "warn", "warning", "error", "critical"]) {
                c.sensor.logLevel = l
            }
            if let v = try string(s, "events_socket", "sensor"), !v.isEmpty { c.sensor.eventsSocket = v }
            unknown(s, "sensor", known: ["name", "log_level", "hostname", "events_socket"])
        }
        if let s = try table(root, "capture", "") {
            let p = "capture"
            if let v = try bool(s, "ssl", p) { c.capture.ssl = v }
            if let v = try bool(s, "process", p) { c.capture.process = v }
            if let v = try bool(s, "network", p) { c.capture.network = v }
            if let v = try bool(s, "file", p) { c.capture.file = v }
            if let v = try stringArray(s, "process_filter", p, allowSingle: true) { c.capture.processFilter = v }
            if let v = s["pid_filter"] {
                guard let a = v.arrayValue, a.allSatisfy({ if case .int = $0 { return true }; return false }) else {
                    throw fail("capture.pid_filter", "expected an array of integers, got \(Builder.describe(v))")
                }
                c.capture.pidFilter = a.compactMap(\.intValue)
            }
            if let v = try stringArray(s, "ssl_binary_paths", p) { c.capture.sslBinaryPaths = v }
            if let v = try bool(s, "plain_http", p) { c.capture.plainHTTP = v }
            if let v = try bool(s, "probe_before_exec", p) { c.capture.probeBeforeExec = v }
            if let v = try int(s, "probe_before_exec_timeout_ms", p, min: 1) {
                guard v <= 60000 else { throw fail("capture.probe_before_exec_timeout_ms", "expected at most 60000 (a minute), got \(v)") }
                c.capture.probeBeforeExecTimeoutMs = v
            }
            if let v = s["plain_http_ports"] {
                guard let a = v.arrayValue, a.count <= 32, a.allSatisfy({ if case .int(let n) = $0 { return n > 0 && n < 65536 }; return false }) else {
                    throw fail("capture.plain_http_ports", "expected an array of up to 32 TCP ports (1-65535), got \(Builder.describe(v))")
                }
                c.capture.plainHTTPPorts = a.compactMap(\.intValue).map { UInt16($0) }
            }
            if let v = try int(s, "max_capture_bytes", p, min: 256) { c.capture.maxCaptureBytes = v }
            if let v = try int(s, "ring_buffer_bytes", p, min: 262144) {
                guard v & (v - 1) == 0 else { throw fail("capture.ring_buffer_bytes", "expected a power of two (e.g. 4194304), got \(v)") }
                c.capture.ringBufferBytes = v
            }
            unknown(s, p, known: ["ssl", "process", "network", "file", "process_filter", "pid_filter", "ssl_binary_paths", "max_capture_bytes", "ring_buffer_bytes",
                                  "plain_http", "plain_http_ports", "probe_before_exec",
                                  "probe_before_exec_timeout_ms"])
        }
        if let s = try table(root, "redaction", "") {
            let p = "redaction"
            if let m = try oneOf(s, "mode", p, SensorConfig.Redaction.Mode.allCases.map(\.rawValue)) {
                c.redaction.mode = SensorConfig.Redaction.Mode(rawValue: m)!
            }
            c.redaction.hashSalt = try string(s, "hash_salt", p)
            if let f = try string(s, "key_file", p) { c.redaction.keyFile = f }
            if let v = s["custom_patterns"] {
                guard let a = v.arrayValue else { throw fail("redaction.custom_patterns", "expected an array of regexes or {name, pattern} tables") }
                for (i, e) in a.enumerated() {
                    if let str = e.stringValue {
                        c.redaction.customPatterns.append(.init(name: "custom_\(i + 1)", pattern: str))
                    } else if let t = e.objectValue, let pat = t["pattern"]?.stringValue {
                        c.redaction.customPatterns.append(.init(name: t["name"]?.stringValue ?? "custom_\(i + 1)", pattern: pat))
                    } else {
                        throw fail("redaction.custom_patterns", "entry \(i + 1): expected a regex string or a {name, pattern} table")
                    }
                }
                for cp in c.redaction.customPatterns {
                    do { _ = try NSRegularExpression(pattern: cp.pattern) } catch {
                        throw fail("redaction.custom_patterns", "pattern '\(cp.name)' is not a valid regular expression: \(cp.pattern)")
                    }
                }
            }
            let toggles = ["redact_api_keys", "redact_emails", "redact_credit_cards", "redact_ssn",
                           "redact_phone_numbers", "redact_ip_addresses", "redact_jwt", "redact_private_keys"]
            for t in toggles { if let v = try bool(s, t, p) { c.redaction.toggles[t] = v } }
            unknown(s, p, known: Set(["mode", "hash_salt", "key_file", "custom_patterns"] + toggles))
        }
        if let s = try table(root, "plugins", "") {
            var dirs: [String] = []
            if let v = try stringArray(s, "dir", "plugins", allowSingle: true) { dirs += v }
            if let v = try stringArray(s, "dirs", "plugins", allowSingle: true) { dirs += v }
            c.plugins.dirs = dirs
            c.plugins.stateDir = try string(s, "state_dir", "plugins")
            if let v = try int(s, "crash_limit", "plugins", min: 0) { c.plugins.crashLimit = v }
            unknown(s, "plugins", known: ["dir", "dirs", "state_dir", "crash_limit"])
        }
        if let s = try table(root, "pipeline", "") {
            c.pipeline.defaults = try policy(s, "pipeline", base: ExportPolicy())
            c.pipeline.spoolDir = try string(s, "spool_dir", "pipeline")
            if let v = try int(s, "spool_max_bytes", "pipeline", min: 4096) { c.pipeline.spoolMaxBytes = Int64(v) }
            c.pipeline.defaults.spoolMaxBytes = c.pipeline.spoolMaxBytes
            if let v = try oneOf(s, "spool_overflow", "pipeline", ["drop_oldest", "drop_newest", "block"]) { c.pipeline.defaults.spoolOverflow = v }
            if let v = try int(s, "shutdown_timeout_ms", "pipeline", min: 0) {
                guard v <= 3_600_000 else { throw fail("pipeline.shutdown_timeout_ms", "expected an integer <= 3600000 (one hour), got \(v)") }
                c.pipeline.shutdownTimeoutMs = v
            }
            unknown(s, "pipeline", known: ["batch_size", "flush_interval_ms", "queue_size", "queue_max_bytes", "timeout_ms", "max_in_flight", "retry_on_failure",
                                           "spool_dir", "spool_max_bytes", "spool_overflow", "shutdown_timeout_ms", "write_ahead"])
        }
        if let s = try table(root, "metrics", "") {
            if let v = try bool(s, "enabled", "metrics") { c.metrics.enabled = v }
            if let v = try string(s, "addr", "metrics") ?? string(s, "listen", "metrics") { c.metrics.addr = v }
            if let v = try int(s, "genai_max_models", "metrics", min: 1) { c.metrics.genaiMaxModels = v }
            if let v = try int(s, "genai_max_workloads", "metrics", min: 1) { c.metrics.genaiMaxWorkloads = v }
            unknown(s, "metrics", known: ["enabled", "addr", "listen", "genai_max_models", "genai_max_workloads"])
        }
        if let s = try table(root, "cost", "") {
            if let v = try bool(s, "enabled", "cost") { c.cost.enabled = v }
            if let v = try string(s, "prices_file", "cost"), !v.isEmpty {
                c.cost.pricesFile = v
                // read now: a bad prices file is a config error (file, line, key), like a bad config
                c.cost.prices = try PricesFile.load(path: v)
            }
            unknown(s, "cost", known: ["enabled", "prices_file"])
        }
        if let s = try table(root, "decode", "") {
            if let v = try bool(s, "streaming_chunks", "decode") { c.decode.streamingChunks = v }
            if let v = try int(s, "max_body_bytes", "decode", min: 1024) { c.decode.maxBodyBytes = v }
            if let v = try int(s, "threads", "decode", min: 0) {
                guard v <= 64 else { throw fail("decode.threads", "expected 0 (one per 8 cores, at most 4) to 64, got \(v)") }
                c.decode.threads = v
            }
            if let v = s["providers"] {
                guard let a = v.arrayValue, a.allSatisfy({ $0.objectValue?["name"]?.stringValue != nil }) else {
                    throw fail("decode.providers", "expected [[decode.providers]] tables, each with a name")
                }
                c.decode.providers = a.compactMap(\.objectValue)
            }
            unknown(s, "decode", known: ["streaming_chunks", "max_body_bytes", "providers", "threads"])
        }
        c.kubernetes = try kubernetes(root)
        if let e = try table(root, "export", "") {
            for (name, v) in e {
                let p = "export.\(name)"
                guard let t = v.objectValue else { throw fail(p, "expected a table [export.\(name)], got \(Builder.describe(v))") }
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }), !name.isEmpty else {
                    throw fail(p, "exporter names may contain only letters, digits, '_' and '-'")
                }
                let enabled = try bool(t, "enabled", p) ?? false
                let plugin = try string(t, "plugin", p)
                var pol = try policy(t, p, base: c.pipeline.defaults)
                if let dir = c.pipeline.spoolDir, try bool(t, "spool", p) ?? true {
                    pol.spoolDir = (dir as NSString).appendingPathComponent(name)
                }
                if pol.writeAhead && pol.spoolDir == nil {
                    warn("\(p).write_ahead", "needs a spool ([pipeline] spool_dir, and not spool = false): ignored")
                    pol.writeAhead = false
                }
                var settings = t
                for k in ["enabled", "plugin", "queue_size", "queue_max_bytes", "max_in_flight", "retry_on_failure", "spool", "write_ahead"] { settings[k] = nil }
                var x = ExportConfig(name: name, enabled: enabled, plugin: plugin, settings: settings, policy: pol, line: line(p))
                for (k, l) in keyLines where k.hasPrefix(p + ".") { x.keyLines[String(k.dropFirst(p.count + 1))] = l }
                c.exports.append(x)
            }
        }
        c.warnings = warnings
        return c
    }
}
