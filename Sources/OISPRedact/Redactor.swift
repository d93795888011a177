import Foundation
import OISPConfig
import OISPEvent

/// Applies `[redaction]` to events: `safe` replaces each finding with `[REDACTED:<type>]`,
/// `minimal` replaces every content field with a `$redacted` object (length, keyed hash,
/// findings), `full` keeps content. Sensitive header values in captured HTTP text are removed in
/// every mode. What was redacted is recorded in `ext["oisp.redaction"]`.
public final class Redactor: @unchecked Sendable {
    public let mode: SensorConfig.Redaction.Mode
    public let scanner: SecretScanner
    /// HMAC-SHA-256 under the redaction key (`hash_salt`, else the per-install random key).
    let keyedHash: KeyedHash
    /// Where that key came from (for the start-up log and `config check`).
    public let hashKey: RedactionKey
    let headerOnly: SecretScanner

    /// Keys whose string values are message content (replaced whole in `minimal` mode).
    static let contentKeys: Set<String> = ["content", "arguments", "text", "base64", "prompt", "input", "instructions", "partial_json"]
    /// Keys never scanned: identifiers and hashes the sensor itself made.
    static let skipKeys: Set<String> = ["request_id", "key_hash", "arguments_hash", "content_hash", "hash", "provider_request_id",
                                        "call_id", "triggered_by", "key_prefix", "endpoint", "ssl",
                                        // connection and process metadata, not content
                                        "dest", "src", "tls", "exe", "cwd", "model", "provider", "role", "finish_reason"]

    /// - Throws: `ConfigError`-style text when a custom pattern does not compile.
    public init(config: SensorConfig.Redaction) throws {
        mode = config.mode
        var t = SecretScanner.Toggles()
        t.apiKeys = config.isEnabled("redact_api_keys")
        t.emails = config.isEnabled("redact_emails")
        t.creditCards = config.isEnabled("redact_credit_cards")
        t.ssn = config.isEnabled("redact_ssn")
        t.phones = config.isEnabled("redact_phone_numbers")
        t.ips = config.isEnabled("redact_ip_addresses")
        t.jwt = config.isEnabled("redact_jwt")
        t.privateKeys = config.isEnabled("redact_private_keys")
        var custom: [(String, NSRegularExpression)] = []
        for p in config.customPatterns {
            do { custom.append((p.name, try NSRegularExpression(pattern: p.pattern))) } catch {
                throw RedactionConfigError(pattern: p.name, regex: p.pattern)
            }
        }
        scanner = SecretScanner(toggles: t, custom: custom)
        var none = SecretScanner.Toggles()
        none.apiKeys = false; none.emails = false; none.creditCards = false; none.ssn = false
        none.phones = false; none.ips = false; none.jwt = false; none.privateKeys = false
        headerOnly = SecretScanner(toggles: none)
        hashKey = RedactionKey.resolve(config)
        keyedHash = KeyedHash(key: hashKey.bytes)
    }

    public struct RedactionConfigError: Error, CustomStringConvertible {
        public let pattern: String
        public let regex: String
        public var description: String { "[redaction] custom pattern '\(pattern)' is not a valid regular expression: \(regex)" }
    }

    /// The keyed hash used in markers.
    public func hash(_ s: String) -> String { keyedHash.hash(s) }
    /// The same hash of bytes (a finding's text where it lies).
    public func hash(bytes: UnsafeBufferPointer<UInt8>) -> String { keyedHash.hash(bytes) }

    struct Tally {
        var counts: [String: Int] = [:]
        var fields: [JSONValue] = []
    }

    /// Redacts one event in place; returns whether anything was changed.
    @discardableResult
    public func redact(_ e: inout OISPEvent) -> Bool {
        var tally = Tally()
        let sc = mode == .full ? headerOnly : scanner
        // command lines carry secrets too (curl -H "Authorization: …", --api-key …)
        if var p = e.process, let cmd = p.cmdline, mode != .full {
            if let r = redactString(cmd, path: "process.cmdline", scanner: sc, content: false, tally: &tally) { p.cmdline = r.stringValue; e.process = p }
        }
        var changed = false
        let newData = walk(.object(e.data), key: "", path: "data", scanner: sc, tally: &tally, changed: &changed)
        if changed || !tally.counts.isEmpty {
            if let d = newData?.objectValue { e.data = d }
            var ext = e.ext ?? JSONObject()
            var info = JSONObject()
            info["mode"] = .string(mode.rawValue)
            info["findings"] = .array(tally.counts.sorted { $0.key < $1.key }.map { ["type": .string($0.key), "count": .int(Int64($0.value))] })
            info["fields"] = .array(tally.fields)
            ext["oisp.redaction"] = .object(info)
            e.ext = ext
            return true
        }
        return false
    }

    /// Returns the redacted value, or nil when nothing in it changed (no copies on the hot path).
    private func walk(_ v: JSONValue, key: String, path: @autoclosure () -> String, scanner sc: SecretScanner, tally: inout Tally, changed: inout Bool) -> JSONValue? {
        switch v {
        case .object(let o):
            var out: JSONObject?
            // set once a member name is redacted: the object is rebuilt member by member
            var rebuilt: [(String, JSONValue)]?
            var i = 0
            for (k, x) in o {
                defer { i += 1 }
                if Redactor.skipKeys.contains(k) { rebuilt?.append((k, x)); continue }
                // member names are scanned like values (header maps, caches keyed by token)
                var name = k
                if mode != .full, let rk = redactKey(k, in: o, renamed: rebuilt, path: path(), scanner: sc, tally: &tally) {
                    name = rk
                    changed = true
                    if rebuilt == nil { rebuilt = Array(o.entries.prefix(i)) }
                }
                let r = walk(x, key: k, path: "\(path()).\(name)", scanner: sc, tally: &tally, changed: &changed)
                if rebuilt != nil {
                    rebuilt!.append((name, r ?? x))
                } else if let r {
                    if out == nil { out = o }
                    out![k] = r
                }
            }
            if let rebuilt { return .object(JSONObject(rebuilt)) }
            return out.map { .object($0) }
        case .array(let a):
            var out: [JSONValue]?
            for (i, x) in a.enumerated() {
                if let r = walk(x, key: key, path: "\(path())[\(i)]", scanner: sc, tally: &tally, changed: &changed) {
                    if out == nil { out = a }
                    out![i] = r
                }
            }
            return out.map { .array($0) }
        case .string(let s):
            if let r = redactString(s, path: path(), scanner: sc, content: Redactor.contentKeys.contains(key), tally: &tally) {
                changed = true
                return r
            }
            return nil
        default:
            return nil
        }
    }

    /// The redacted form of a member name holding a finding, or nil. A name that redacts to one
    /// the object already has gets a suffix (`#2`, `#3`, …), so the object stays valid and no
    /// member is lost. The finding is recorded at the member's (redacted) path.
    func redactKey(_ k: String, in o: JSONObject, renamed: [(String, JSONValue)]?, path: String, scanner sc: SecretScanner, tally: inout Tally) -> String? {
        guard !k.isEmpty else { return nil }
        let findings = sc.scan(k)
        guard !findings.isEmpty else { return nil }
        let base = String(decoding: replacing(Array(k.utf8), findings, tally: &tally), as: UTF8.self)
        func taken(_ n: String) -> Bool { o[n] != nil || (renamed?.contains { $0.0 == n } ?? false) }
        var name = base
        var n = 2
        while taken(name) { name = "\(base)#\(n)"; n += 1 }
        tally.fields.append(["path": .string("\(path).\(name)"), "part": "key", "original_length": .int(Int64(k.count)), "hash": .string(hash(k))])
        return name
    }

    /// `bytes` with each finding replaced by `[REDACTED:<type>]`, counted in `tally`.
    func replacing(_ bytes: [UInt8], _ findings: [Finding], tally: inout Tally) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var pos = 0
        for f in findings {
            out += bytes[pos..<f.start]
            out += Array("[REDACTED:\(f.type)]".utf8)
            pos = f.end
            tally.counts[f.type, default: 0] += 1
        }
        out += bytes[pos...]
        return out
    }

    /// The replacement for one string, or nil when it stays as it is.
    func redactString(_ s: String, path: String, scanner sc: SecretScanner, content: Bool, tally: inout Tally) -> JSONValue? {
        if s.isEmpty { return nil }
        let findings = sc.scan(s)
        if mode == .minimal && content {
            var counts: [String: Int] = [:]
            for f in findings { counts[f.type, default: 0] += 1; tally.counts[f.type, default: 0] += 1 }
            var r = JSONObject()
            r["reason"] = "minimal_mode"
            r["detector"] = .string(findings.isEmpty ? "content" : "secrets")
            r["original_length"] = .int(Int64(s.count))
            r["hash"] = .string(hash(s))
            r["findings"] = .array(counts.sorted { $0.key < $1.key }.map { ["type": .string($0.key), "count": .int(Int64($0.value))] })
            tally.fields.append(["path": .string(path), "original_length": .int(Int64(s.count)), "hash": r["hash"]!])
            return ["$redacted": .object(r)]
        }
        guard !findings.isEmpty else { return nil }
        let out = replacing(Array(s.utf8), findings, tally: &tally)
        tally.fields.append(["path": .string(path), "original_length": .int(Int64(s.count)), "hash": .string(hash(s))])
        return .string(String(decoding: out, as: UTF8.self))
    }
}
