import Foundation
import OISPEvent

/// What one redacting write found.
public struct RedactionReport: Sendable {
    /// Findings by type, sorted by type (what `ext["oisp.redaction"].findings` says).
    public var findings: [(type: String, count: Int)] = []
    /// Whether anything was rewritten (a finding, or a `minimal`-mode content field), so the
    /// event carries a new `ext["oisp.redaction"]`.
    public var rewrote = false
    public init() {}
}

extension Redactor {
    /// Writes `event` as its compact JSON (the form `OISPEvent.write(to:)` gives) with this
    /// redactor's rules applied as each string is written: a string's UTF-8 is scanned where it
    /// lies and written as it is, or with its findings replaced (`safe`), or as a `$redacted`
    /// object (`minimal` content fields); member names are scanned like values; a finding's path
    /// and keyed hash are made only when there is a finding; `ext["oisp.redaction"]` is written
    /// in its place in the member order. The one implementation of redaction: `record`, `replay`,
    /// `redact` and `demo` all write through it.
    @discardableResult
    public func write(_ event: OISPEvent, into w: inout JSONWriter) -> RedactionReport {
        var filter = RedactingContent(self)
        event.write(to: &w, filter: &filter)
        var report = RedactionReport()
        report.rewrote = filter.rewrote
        report.findings = filter.counts.sorted { $0.type < $1.type }
        return report
    }

    /// The event's redacted JSON bytes (no newline).
    public func jsonBytes(_ event: OISPEvent) -> (bytes: [UInt8], report: RedactionReport) {
        var w = JSONWriter(capacity: 2048)
        let r = write(event, into: &w)
        return (w.bytes, r)
    }

    /// Redacts one event in place (written through `write(_:into:)` and read back when anything
    /// changed); returns whether anything was changed. For callers that need the event itself;
    /// the data path writes bytes instead.
    @discardableResult
    public func redact(_ e: inout OISPEvent) -> Bool {
        let (bytes, report) = jsonBytes(e)
        guard report.rewrote else { return false }
        guard let back = try? OISPEvent(jsonBytes: bytes) else {
            // never hand back content that was to be redacted: fail closed
            e.data = ["$redacted": ["reason": "unreadable_after_redaction"]]
            if var p = e.process { p.cmdline = nil; e.process = p }
            return true
        }
        e = back
        return true
    }
}

/// The redacting `EventWriteFilter`: walks `data` (and `process.cmdline`) writing each value,
/// redacted, straight into the output.
struct RedactingContent: EventWriteFilter {
    let r: Redactor
    let sc: SecretScanner
    let minimal: Bool
    let scanNames: Bool
    /// Findings by type (few types: a short array beats a dictionary).
    var counts: [(type: String, count: Int)] = []
    /// `ext["oisp.redaction"].fields`, in the order written.
    var fields: [JSONValue] = []
    var rewrote = false
    /// Where the value being written lies: `root`, then a chain of keys and indexes kept on the
    /// stack (each level's node lives in its caller's frame); spelled out only for a finding.
    var pathRoot = "data"

    struct PathNode {
        let parent: UnsafePointer<PathNode>?
        let key: String?
        let index: Int
    }

    static let contentNames = NameSet(Redactor.contentKeys)
    static let skipNames = NameSet(Redactor.skipKeys)

    init(_ r: Redactor) {
        self.r = r
        sc = r.mode == .full ? r.headerOnly : r.scanner
        minimal = r.mode == .minimal
        scanNames = r.mode != .full
    }

    func pathString(_ at: UnsafePointer<PathNode>?) -> String {
        var parts: [String] = []
        var n = at
        while let p = n {
            parts.append(p.pointee.key.map { "." + $0 } ?? "[\(p.pointee.index)]")
            n = p.pointee.parent
        }
        return pathRoot + parts.reversed().joined()
    }

    mutating func count(_ type: String, _ n: Int = 1) {
        if let i = counts.firstIndex(where: { $0.type == type }) { counts[i].count += n } else { counts.append((type, n)) }
    }

    mutating func writeCmdline(_ s: String, into w: inout JSONWriter) {
        guard scanNames else { w.string(s); return }
        // a process's command line is written with each of its events: scanned once while clean
        if r.cleanCmdlines.contains(s) { w.string(s); return }
        let before = fields.count
        pathRoot = "process.cmdline"
        string(s, content: false, at: nil, into: &w)
        pathRoot = "data"
        if fields.count == before && s.utf8.count <= 4096 { r.cleanCmdlines.insert(s) }
    }

    mutating func writeData(_ d: JSONObject, into w: inout JSONWriter) {
        object(d, at: nil, into: &w)
    }

    mutating func extMember() -> (key: String, value: JSONValue)? {
        guard rewrote || !counts.isEmpty else { return nil }
        rewrote = true
        var info = JSONObject()
        info["mode"] = .string(r.mode.rawValue)
        info["findings"] = .array(counts.sorted { $0.type < $1.type }.map { ["type": .string($0.type), "count": .int(Int64($0.count))] })
        info["fields"] = .array(fields)
        return ("oisp.redaction", .object(info))
    }

    mutating func value(_ v: JSONValue, key: String, at: UnsafePointer<PathNode>?, into w: inout JSONWriter) {
        switch v {
        case .object(let o): object(o, at: at, into: &w)
        case .array(let a):
            w.bytes.append(UInt8(ascii: "["))
            for (i, x) in a.enumerated() {
                if i > 0 { w.bytes.append(UInt8(ascii: ",")) }
                withUnsafePointer(to: PathNode(parent: at, key: nil, index: i)) { value(x, key: key, at: $0, into: &w) }
            }
            w.bytes.append(UInt8(ascii: "]"))
        case .string(let s): string(s, content: RedactingContent.contentNames.contains(key), at: at, into: &w)
        default: w.value(v)
        }
    }

    mutating func object(_ o: JSONObject, at: UnsafePointer<PathNode>?, into w: inout JSONWriter) {
        w.bytes.append(UInt8(ascii: "{"))
        // names given to members whose own names held a finding (a new name must not collide)
        var renamed: [String] = []
        var first = true
        for (k, x) in o {
            if !first { w.bytes.append(UInt8(ascii: ",")) }
            first = false
            if RedactingContent.skipNames.contains(k) {
                w.string(k); w.bytes.append(UInt8(ascii: ":")); w.value(x)
                continue
            }
            var name = k
            if scanNames, !r.cleanNames.contains(k), let n = redactedName(k, in: o, renamed: renamed, at: at) {
                name = n
                renamed.append(n)
            }
            w.string(name)
            w.bytes.append(UInt8(ascii: ":"))
            withUnsafePointer(to: PathNode(parent: at, key: name, index: 0)) { value(x, key: k, at: $0, into: &w) }
        }
        w.bytes.append(UInt8(ascii: "}"))
    }

    /// The redacted form of a member name holding a finding, or nil. A name that redacts to one
    /// the object already has gets a suffix (`#2`, `#3`, …), so the object stays valid and no
    /// member is lost. The finding is recorded at the member's (redacted) path.
    mutating func redactedName(_ k: String, in o: JSONObject, renamed: [String], at: UnsafePointer<PathNode>?) -> String? {
        guard !k.isEmpty else { return nil }
        let findings = sc.scan(k)
        guard !findings.isEmpty else { return nil }
        let base = String(decoding: replacing(Array(k.utf8), findings), as: UTF8.self)
        var name = base
        var n = 2
        while o[name] != nil || renamed.contains(name) { name = "\(base)#\(n)"; n += 1 }
        let path = withUnsafePointer(to: PathNode(parent: at, key: name, index: 0)) { pathString($0) }
        fields.append(["path": .string(path), "part": "key", "original_length": .int(Int64(k.count)), "hash": .string(r.hash(k))])
        rewrote = true
        return name
    }

    /// `bytes` with each finding replaced by `[REDACTED:<type>]`, counted.
    mutating func replacing(_ bytes: [UInt8], _ findings: [Finding]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var pos = 0
        for f in findings {
            out += bytes[pos..<f.start]
            out += Array("[REDACTED:\(f.type)]".utf8)
            pos = f.end
            count(f.type)
        }
        out += bytes[pos...]
        return out
    }

    /// Writes one string value: as it is, with its findings replaced, or (a `minimal`-mode
    /// content field) as a `$redacted` object.
    mutating func string(_ s: String, content: Bool, at: UnsafePointer<PathNode>?, into w: inout JSONWriter) {
        var s = s
        let findings: [Finding] = s.withUTF8 { sc.scan(bytes: $0) }
        if minimal && content && !s.isEmpty {
            var c: [(String, Int)] = []
            for f in findings {
                count(f.type)
                if let i = c.firstIndex(where: { $0.0 == f.type }) { c[i].1 += 1 } else { c.append((f.type, 1)) }
            }
            let h = r.hash(s)
            var o = JSONObject()
            o["reason"] = "minimal_mode"
            o["detector"] = .string(findings.isEmpty ? "content" : "secrets")
            o["original_length"] = .int(Int64(s.count))
            o["hash"] = .string(h)
            o["findings"] = .array(c.sorted { $0.0 < $1.0 }.map { ["type": .string($0.0), "count": .int(Int64($0.1))] })
            fields.append(["path": .string(pathString(at)), "original_length": .int(Int64(s.count)), "hash": .string(h)])
            rewrote = true
            w.object(["$redacted": .object(o)])
            return
        }
        guard !findings.isEmpty else { w.string(s); return }
        let out = replacing(Array(s.utf8), findings)
        fields.append(["path": .string(pathString(at)), "original_length": .int(Int64(s.count)), "hash": .string(r.hash(s))])
        rewrote = true
        out.withUnsafeBytes { w.string(utf8: $0) }
    }
}

/// A small set of short names, looked up by length and then bytes: for member names, cheaper than
/// hashing each one.
struct NameSet: Sendable {
    /// Every name's bytes, back to back, grouped by UTF-8 length.
    let blob: [UInt8]
    /// For each length n: where its names start in `blob`, and how many there are.
    let byLength: [(start: Int, count: Int)]

    init(_ names: Set<String>) {
        var groups = [[String]](repeating: [], count: (names.map(\.utf8.count).max() ?? 0) + 1)
        for n in names { groups[n.utf8.count].append(n) }
        var blob = [UInt8](), table: [(start: Int, count: Int)] = []
        for g in groups {
            table.append((blob.count, g.count))
            for n in g { blob += n.utf8 }
        }
        self.blob = blob
        byLength = table
    }

    /// One call a member name: compared where the name's bytes lie (no copy, nothing retained).
    func contains(_ k: String) -> Bool {
        let n = k.utf8.count
        guard n < byLength.count else { return false }
        let (start, count) = byLength[n]
        guard count > 0 else { return false }
        if n == 0 { return true }
        let found = k.utf8.withContiguousStorageIfAvailable { u in
            blob.withUnsafeBufferPointer { b in
                for j in 0..<count where memcmp(b.baseAddress! + start + j * n, u.baseAddress!, n) == 0 { return true }
                return false
            }
        }
        if let found { return found }
        let bytes = Array(k.utf8)
        return (0..<count).contains { j in blob[(start + j * n)..<(start + j * n + n)].elementsEqual(bytes) }
    }
}
