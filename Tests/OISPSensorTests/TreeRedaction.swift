import OISPConfig
import OISPEvent
@testable import OISPRedact

/// The reference the redacting writer is checked against: redaction as a walk over the event's
/// tree that copies what it changes (the sensor's implementation until 12-07), then the plain
/// writer. Kept here only, as the independent statement of what redaction must give.
struct TreeRedaction {
    let redactor: Redactor
    var mode: SensorConfig.Redaction.Mode { redactor.mode }

    /// The event redacted on its tree, then written.
    func bytes(_ e: OISPEvent) -> [UInt8] {
        var e = e
        redact(&e)
        return e.jsonBytes()
    }

    struct Tally {
        var counts: [String: Int] = [:]
        var fields: [JSONValue] = []
    }

    /// Redacts one event in place; returns whether anything was changed.
    @discardableResult
    func redact(_ e: inout OISPEvent) -> Bool {
        var tally = Tally()
        let sc = mode == .full ? redactor.headerOnly : redactor.scanner
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
        tally.fields.append(["path": .string("\(path).\(name)"), "part": "key", "original_length": .int(Int64(k.count)), "hash": .string(redactor.hash(k))])
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
            r["hash"] = .string(redactor.hash(s))
            r["findings"] = .array(counts.sorted { $0.key < $1.key }.map { ["type": .string($0.key), "count": .int(Int64($0.value))] })
            tally.fields.append(["path": .string(path), "original_length": .int(Int64(s.count)), "hash": r["hash"]!])
            return ["$redacted": .object(r)]
        }
        guard !findings.isEmpty else { return nil }
        let out = replacing(Array(s.utf8), findings, tally: &tally)
        tally.fields.append(["path": .string(path), "original_length": .int(Int64(s.count)), "hash": .string(redactor.hash(s))])
        return .string(String(decoding: out, as: UTF8.self))
    }
}
