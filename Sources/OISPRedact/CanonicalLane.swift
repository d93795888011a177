#if canImport(Glibc)
import Glibc
#endif
import OISPEvent

/// One event redacted by the canonical lane: the output bytes plus the envelope fields the
/// pipeline routes on. The bytes are laid out as `ExportRecord(packed:)` takes them:
/// the JSON, then the event id, then the partition key.
public struct CanonicalEvent: Sendable {
    public var storage: [UInt8]
    public var jsonCount: Int
    public var idCount: Int
    public var eventType: String
    public var timestampNs: Int64
    /// `ext["oisp.redaction"]` is present (added now or carried in).
    public var redacted: Bool
    /// `confidence.completeness == "partial"`.
    public var partial: Bool
    /// What this pass found, by type, sorted by type.
    public var findings: [(type: String, count: Int)]

    public var json: ArraySlice<UInt8> { storage[0..<jsonCount] }
    public var eventID: String { String(decoding: storage[jsonCount..<(jsonCount + idCount)], as: UTF8.self) }
    /// `host/pid` (or the host alone), as `ExportRecord` partitions.
    public var partitionKey: String { String(decoding: storage[(jsonCount + idCount)...], as: UTF8.self) }
}

extension Redactor {
    /// Redacts one event given as JSON bytes **in the form this sensor writes** (compact,
    /// envelope keys in the writer's order, canonical numbers, escapes and timestamps) without
    /// building a tree: strings are scanned where they lie and only findings are rewritten. The
    /// result is byte for byte what `OISPEvent(jsonBytes:)` → `redact(_:)` → `jsonBytes()` gives.
    /// Some forms other writers use are rewritten as the general path would write them: top-level
    /// members in another order, whitespace between tokens, a missing `source`, other escapes in
    /// string values, a timestamp in another form.
    ///
    /// Returns nil when the line is in none of those forms, is not valid, or needs a change this
    /// lane does not make (minimal mode, findings when the event already has `ext`, a member given
    /// twice, nested envelope members in another order); the caller then takes the general path,
    /// which also reports errors.
    ///
    /// `memo` (one per thread) lets envelope objects seen before be stepped over; the result is
    /// the same with or without it.
    public func redactCanonical(_ line: UnsafeBufferPointer<UInt8>, memo: LaneMemo? = nil) -> CanonicalEvent? {
        guard mode != .minimal, line.count > 2 else { return nil }
        memo?.bind(ObjectIdentifier(self))
        var lane = CanonicalLane(buf: line, redactor: self, scanner: mode == .full ? headerOnly : scanner, scanCmdline: mode != .full, memo: memo)
        if let e = lane.run() { return e }
        return redactOtherForms(line, outOfOrder: lane.outOfOrder, memo: memo)
    }

    /// Lines another writer made: members in another order (a dict built by hand) are read in
    /// any order and written in the writer's; whitespace between tokens (Python's json.dumps, jq,
    /// pretty printers) is dropped, and the compact form read — the general path would write
    /// exactly that.
    func redactOtherForms(_ line: UnsafeBufferPointer<UInt8>, outOfOrder: Bool, memo: LaneMemo?) -> CanonicalEvent? {
        func lane(_ b: UnsafeBufferPointer<UInt8>) -> CanonicalLane {
            CanonicalLane(buf: b, redactor: self, scanner: mode == .full ? headerOnly : scanner, scanCmdline: mode != .full, memo: memo)
        }
        if outOfOrder { var again = lane(line); if let e = again.runAnyOrder() { return e } }
        let compact = [UInt8](unsafeUninitializedCapacity: line.count) { out, n in n = CanonicalLane.compact(line, into: out.baseAddress!) }
        guard compact.count < line.count else { return nil }
        return compact.withUnsafeBufferPointer { b in
            var ordered = lane(b)
            if let e = ordered.run() { return e }
            guard ordered.outOfOrder else { return nil }
            var any = lane(b)
            return any.runAnyOrder()
        }
    }
}

/// The validating single-pass scanner behind `redactCanonical`. Every check mirrors what the
/// general path (parse → `OISPEvent(json:)` → `JSONWriter`) would do to the same bytes; any
/// difference makes it give up rather than guess.
struct CanonicalLane {
    let buf: UnsafeBufferPointer<UInt8>
    let redactor: Redactor
    let sc: SecretScanner
    let scanCmdline: Bool
    let memo: LaneMemo?
    var i = 0
    var keyStart = 0
    /// Splices into the input: (offset, bytes removed, bytes inserted).
    var edits: [(at: Int, remove: Int, bytes: [UInt8])] = []
    /// Findings by type, in the order first seen (a handful at most).
    var counts: [(type: String, count: Int)] = []
    /// One entry per rewritten string: `ext["oisp.redaction"].fields`.
    var fields: [(path: String, length: Int, hash: String)] = []
    /// Where the `data` object starts: a finding's path is rebuilt from here (findings are rare,
    /// so no path is kept while scanning).
    var dataStart = -1
    var scratch: [UInt8] = []
    /// Set around reading a free-form string *value*: escapes the writer would spell otherwise
    /// (`\u00e9`, `\/`, `\u0041`, a surrogate pair) are accepted, and `needsRecode` says the
    /// string must be written again in the writer's form. Keys and envelope strings never are.
    var allowRecode = false, needsRecode = false

    var eventType = "", pid: Int64?
    var idStart = 0, idEnd = 0
    var hostStart = 0, hostEnd = 0
    var tsNs: Int64 = 0
    var extHasRedaction = false, partial = false
    var extInsertAt = -1, sourceInsertAt = -1
    /// The ordered read stopped at a top-level member that came earlier in the writer's order.
    var outOfOrder = false

    init(buf: UnsafeBufferPointer<UInt8>, redactor: Redactor, scanner: SecretScanner, scanCmdline: Bool, memo: LaneMemo?) {
        self.buf = buf; self.redactor = redactor; self.sc = scanner; self.scanCmdline = scanCmdline; self.memo = memo
    }

    // Envelope members in the writer's order; bit masks of the required ones.
    static let topRequired: UInt32 = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 15
    static let defaultSource = Array(#""source":{"collector":"oisp-sensor"},"#.utf8)
    static let processInts: UInt32 = 1 << 0 | 1 << 1 | 1 << 6 | 1 << 7

    /// Read once per event: every key list the lane compares against (one global access, no
    /// reference counting per comparison).
    let t = LaneTables.shared

    // MARK: - Driver

    /// The writer's member order.
    mutating func run() -> CanonicalEvent? { read(anyOrder: false) }
    /// Top-level members in any order (each once); the output has them in the writer's order,
    /// as the general path writes them.
    mutating func runAnyOrder() -> CanonicalEvent? { read(anyOrder: true) }

    /// (Inlined into each of the two above, so the ordered read carries none of the other's work.)
    @inline(__always) mutating func read(anyOrder: Bool) -> CanonicalEvent? {
        guard buf[0] == UInt8(ascii: "{") else { return nil }
        i = 1
        var last = -1, first = true, seen: UInt32 = 0
        var members: [(start: Int, end: Int)] = []
        if anyOrder { members = Array(repeating: (0, 0), count: t.top.count) }
        while true {
            let key = anyOrder ? anyKey(t.top, &first, seen) : nextKey(t.top, &last, &first)
            guard let k = key else {
                if !anyOrder && last >= 0 { outOfOrder = (0...last).contains { t.top.quotedKeyEnd($0, buf, i) != nil } }
                return nil
            }
            if k < 0 { break }
            seen |= 1 << UInt32(k)
            let memberStart = keyStart // (reading the value moves keyStart to its own keys)
            if k >= 13 && extInsertAt < 0 { extInsertAt = keyStart }
            if k >= 10 && sourceInsertAt < 0 { sourceInsertAt = keyStart }
            switch k {
            case 0: guard string() != nil else { return nil }
            case 1: guard let r = string(), !r.escaped else { return nil }; idStart = r.start; idEnd = r.end
            case 2:
                guard let r = string(), !r.escaped, buf[r.start..<r.end].contains(UInt8(ascii: ".")) else { return nil }
                eventType = t.internedType(buf, r.start, r.end) ?? text(r)
            case 3: guard timestamp() else { return nil }
            case 4: guard int() != nil else { return nil }
            case 5: guard envelope(.host, { $0.host() }) else { return nil }
            case 6: guard envelope(.actor, { $0.actor() }) else { return nil }
            case 7: guard envelope(.process, { $0.process() }) else { return nil }
            case 8, 11: guard peek(UInt8(ascii: "{")), value(scan: false, depth: 1) else { return nil }
            case 9: guard envelope(.source, { $0.flatStrings($0.t.sourceKeys, required: 1) }) else { return nil }
            case 10: guard envelope(.confidence, { $0.confidence() }) else { return nil }
            case 12: guard ext() else { return nil }
            case 13: guard envelope(.related, { $0.related() }) else { return nil }
            case 14: guard envelope(.trace, { $0.trace() }) else { return nil }
            case 15: dataStart = i; guard peek(UInt8(ascii: "{")), value(scan: true, depth: 1) else { return nil }
            default: return nil
            }
            if anyOrder { members[k] = (memberStart, i) }
        }
        guard i == buf.count, seen & CanonicalLane.topRequired == CanonicalLane.topRequired else { return nil }
        // no `source`: the general path writes its default where it belongs (before a later key:
        // `data` always follows), and ahead of an `ext` inserted at the same place
        if seen & (1 << 9) == 0 && !anyOrder { edits.append((sourceInsertAt, 0, CanonicalLane.defaultSource)) }
        var extMember: [UInt8]? = nil
        let found = counts.count > 1 ? counts.sorted { $0.type < $1.type } : counts
        if !found.isEmpty {
            if seen & (1 << 12) != 0 { return nil } // merging into an existing ext: general path
            // fields in the writer's order of the members they are in: the command line's first
            if anyOrder { fields = fields.filter { $0.path == "process.cmdline" } + fields.filter { $0.path != "process.cmdline" } }
            // written straight as bytes, member for member as the general path's
            // `ext["oisp.redaction"] = {mode, findings: [{type, count}], fields: [{path, original_length, hash}]}`
            var w = JSONWriter(capacity: 160 + 128 * fields.count)
            w.raw("\"ext\":{\"oisp.redaction\":{\"mode\":")
            w.string(redactor.mode.rawValue)
            w.raw(",\"findings\":[")
            for (k, f) in found.enumerated() {
                w.raw(k == 0 ? "{\"type\":" : ",{\"type\":")
                w.string(f.type)
                w.raw(",\"count\":")
                w.int(Int64(f.count))
                w.raw("}")
            }
            w.raw("],\"fields\":[")
            for (k, f) in fields.enumerated() {
                w.raw(k == 0 ? "{\"path\":" : ",{\"path\":")
                w.string(f.path)
                w.raw(",\"original_length\":")
                w.int(Int64(f.length))
                w.raw(",\"hash\":")
                w.string(f.hash)
                w.raw("}")
            }
            w.raw("]}},")
            if anyOrder { extMember = w.bytes.dropLast() } else { edits.append((extInsertAt, 0, w.bytes)) }
        }
        // one array: the JSON, then the event id and the partition key (see CanonicalEvent)
        let tail = (idEnd - idStart) + (hostEnd - hostStart) + 22
        var out: [UInt8] = []
        if anyOrder {
            // the members in the writer's order, each with its own edits; the default source and
            // an added ext where the writer puts them
            out.reserveCapacity(buf.count + 256 + tail)
            let sorted = edits.sorted { $0.at < $1.at }
            out.append(UInt8(ascii: "{"))
            func add(_ bytes: some Collection<UInt8>) {
                if out.count > 1 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: bytes)
            }
            for k in 0..<t.top.count {
                if k == 9 && seen & (1 << 9) == 0 { add(CanonicalLane.defaultSource.dropLast()) }
                if k == 12, let extMember { add(extMember) }
                guard seen & (1 << UInt32(k)) != 0 else { continue }
                let m = members[k]
                if out.count > 1 { out.append(UInt8(ascii: ",")) }
                var pos = m.start
                for e in sorted where e.at >= m.start && e.at < m.end {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[pos..<e.at]))
                    out.append(contentsOf: e.bytes)
                    pos = e.at + e.remove
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[pos..<m.end]))
            }
            out.append(UInt8(ascii: "}"))
        } else if edits.isEmpty {
            out.reserveCapacity(buf.count + tail)
            out.append(contentsOf: buf)
        } else {
            out.reserveCapacity(buf.count + 256 + tail)
            var pos = 0
            // by place; two insertions at one place keep the order they were made in
            for (_, e) in edits.enumerated().sorted(by: { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }) {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[pos..<e.at]))
                out.append(contentsOf: e.bytes)
                pos = e.at + e.remove
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[pos...]))
        }
        let jsonCount = out.count
        out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[idStart..<idEnd]))
        appendPartitionKey(to: &out)
        return CanonicalEvent(storage: out, jsonCount: jsonCount, idCount: idEnd - idStart, eventType: eventType, timestampNs: tsNs,
                              redacted: extHasRedaction || !found.isEmpty, partial: partial,
                              findings: found)
    }

    /// An envelope object (or array) at `i`, read by `read` — or stepped over when the memo holds
    /// it, taking what reading it had left: the hostname's place, the pid, `partial`. Kept only
    /// when reading it made no edit (a command line with a finding).
    @inline(__always) mutating func envelope(_ kind: LaneMemo.Kind, _ read: (inout CanonicalLane) -> Bool) -> Bool {
        let s = i, p = buf.baseAddress! + s
        if let e = memo?.lookup(kind, p, buf.count - s) {
            switch kind {
            case .host: hostStart = s + e.a; hostEnd = s + e.b
            case .process: pid = e.pid
            case .confidence: partial = e.flag
            default: break
            }
            i = s + e.count
            return true
        }
        let before = edits.count
        guard read(&self) else { return false }
        if edits.count == before { memo?.store(kind, p, i - s, a: hostStart - s, b: hostEnd - s, pid: pid, flag: partial) }
        return true
    }

    /// The offset after the closing quote of the string whose opening quote is at `open` (`n` when
    /// the bytes end first): eight bytes at a time between escapes.
    static func afterString(_ base: UnsafePointer<UInt8>, _ open: Int, _ n: Int) -> Int {
        var k = open + 1
        while k < n {
            while k + 8 <= n {
                let w = Bytes8.load(base + k)
                let hit = Bytes8.equal(w, 0x22) | Bytes8.equal(w, 0x5C)
                if hit != 0 { k += hit.trailingZeroBitCount >> 3; break }
                k += 8
            }
            guard k < n else { break }
            if base[k] == 0x22 { return k + 1 }
            k += base[k] == 0x5C ? 2 : 1
        }
        return n
    }

    /// Copies `s` to `d` without the whitespace between tokens that a parser ignores, and returns
    /// the length written. Whitespace is dropped only at the ends and next to `{ } [ ] : , "`, so
    /// tokens never merge: `[1 2]` stays invalid (a space between two scalars is kept and the
    /// lane then declines). Strings are copied as they are, escapes included.
    static func compact(_ s: UnsafeBufferPointer<UInt8>, into d: UnsafeMutablePointer<UInt8>) -> Int {
        let n = s.count
        guard n > 0 else { return 0 }
        let base = s.baseAddress!
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        func isMark(_ c: UInt8) -> Bool {
            c == 0x7B || c == 0x7D || c == 0x5B || c == 0x5D || c == 0x3A || c == 0x2C || c == 0x22
        }
        var j = 0, k = 0
        var last: UInt8 = 0 // the last byte written outside a string; 0 at the start
        while k < n {
            let c = base[k]
            if c == 0x22 { // a string: copied whole, up to its closing quote
                let e = CanonicalLane.afterString(base, k, n)
                (d + j).update(from: base + k, count: e - k); j += e - k; k = e
                last = 0x22
                continue
            }
            if isSpace(c) {
                var e = k
                while e < n && isSpace(base[e]) { e += 1 }
                if last == 0 || e == n || isMark(last) || isMark(base[e]) { k = e; continue }
                (d + j).update(from: base + k, count: e - k); j += e - k; k = e
                last = 0x20
                continue
            }
            d[j] = c; j += 1; k += 1
            last = c
        }
        return j
    }

    /// `host/pid` (or the host alone), as `ExportRecord(event:)` builds it.
    func appendPartitionKey(to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[hostStart..<hostEnd]))
        guard let pid else { return }
        out.append(47) // '/'
        JSONWriter.appendDecimal(pid, to: &out)
    }

    // MARK: - Tokens

    @inline(__always) func peek(_ c: UInt8) -> Bool { i < buf.count && buf[i] == c }

    func text(_ r: (start: Int, end: Int, escaped: Bool)) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buf[r.start..<r.end]), as: UTF8.self)
    }

    /// Reads `,"key":` (or the closing `}`) of an envelope object whose keys must come from
    /// `names`, in that order, each at most once. Returns the key's index, -1 at `}`, nil otherwise.
    mutating func nextKey(_ names: KeyTable, _ last: inout Int, _ first: inout Bool) -> Int? {
        guard i < buf.count else { return nil }
        if buf[i] == UInt8(ascii: "}") { i += 1; return -1 }
        if !first { guard buf[i] == UInt8(ascii: ",") else { return nil }; i += 1 }
        first = false
        keyStart = i
        guard peek(UInt8(ascii: "\"")) else { return nil }
        // The names hold no quote, backslash or control byte, so `"name":` read in place is the
        // whole key, validated: no string walk (and a key that is not a name is refused anyway).
        guard i + 1 < buf.count else { return nil }
        let c0 = buf[i + 1] // names are never empty
        var k = last + 1
        while k < names.count {
            if names.bytes[names.starts[k]] == c0, let after = names.quotedKeyEnd(k, buf, i) { last = k; i = after; return k }
            k += 1
        }
        return nil
    }

    /// Like `nextKey`, for members in any order: any name not in `seen`.
    mutating func anyKey(_ names: KeyTable, _ first: inout Bool, _ seen: UInt32) -> Int? {
        guard i < buf.count else { return nil }
        if buf[i] == UInt8(ascii: "}") { i += 1; return -1 }
        if !first { guard buf[i] == UInt8(ascii: ",") else { return nil }; i += 1 }
        first = false
        keyStart = i
        guard peek(UInt8(ascii: "\"")) else { return nil }
        for k in 0..<names.count where seen & (1 << UInt32(k)) == 0 {
            if let after = names.quotedKeyEnd(k, buf, i) { i = after; return k }
        }
        return nil
    }

    /// A string at `i` written the way `JSONWriter.string` writes it: returns the bytes between the
    /// quotes and whether they hold escapes; nil when invalid or not canonical.
    mutating func string() -> (start: Int, end: Int, escaped: Bool)? {
        guard peek(UInt8(ascii: "\"")) else { return nil }
        let start = i + 1
        var j = start
        var escaped = false
        let n = buf.count
        let base = buf.baseAddress!
        while j < n {
            // eight bytes at a time; the lowest flagged byte is exactly the first quote,
            // backslash, control or non-ASCII byte (borrows only run upward from a real one)
            while j + 8 <= n {
                let w = Bytes8.load(base + j)
                let special = Bytes8.equal(w, 0x22) | Bytes8.equal(w, 0x5C) | ((w &- 0x2020_2020_2020_2020) | w) & Bytes8.highs
                if special != 0 { j += special.trailingZeroBitCount >> 3; break }
                j += 8
            }
            guard j < n else { break }
            let c = base[j]
            if c == 0x22 { i = j + 1; return (start, j, escaped) }
            if c < 0x20 { return nil }
            if c == 0x5C {
                escaped = true
                guard j + 1 < n else { return nil }
                switch base[j + 1] {
                case 0x22, 0x5C, UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"), UInt8(ascii: "b"), UInt8(ascii: "f"): j += 2
                case UInt8(ascii: "u"):
                    // the writer's form: only control characters without a short form, as \u00xx
                    // with lowercase hex; any other valid \uXXXX only where a value may be recoded
                    guard j + 5 < n, let code = CanonicalLane.hex4(base + j + 2) else { return nil }
                    let lower = (j + 2..<(j + 6)).allSatisfy { base[$0] < 0x41 || base[$0] > 0x46 }
                    if code < 0x20 && lower && code != 0x08 && code != 0x09 && code != 0x0A && code != 0x0C && code != 0x0D { j += 6; break }
                    guard allowRecode else { return nil }
                    if code >= 0xD800 && code < 0xDC00 { // a high surrogate: a low one must follow
                        guard j + 11 < n, base[j + 6] == 0x5C, base[j + 7] == UInt8(ascii: "u"),
                              let low = CanonicalLane.hex4(base + j + 8), low >= 0xDC00 && low < 0xE000 else { return nil }
                        j += 12
                    } else {
                        guard code < 0xDC00 || code >= 0xE000 else { return nil }
                        j += 6
                    }
                    needsRecode = true
                case UInt8(ascii: "/"):
                    guard allowRecode else { return nil }
                    needsRecode = true
                    j += 2
                default: return nil
                }
                continue
            }
            if c >= 0x80 {
                i = j
                guard utf8Sequence() else { return nil }
                j = i
                continue
            }
            j += 1
        }
        return nil
    }

    /// Four hex digits (either case) at `p`, or nil.
    static func hex4(_ p: UnsafePointer<UInt8>) -> UInt32? {
        var v: UInt32 = 0
        for k in 0..<4 {
            let h = p[k]
            let d: UInt8
            if h >= 0x30 && h <= 0x39 { d = h - 0x30 } else if h >= 0x61 && h <= 0x66 { d = h - 0x61 + 10 } else if h >= 0x41 && h <= 0x46 { d = h - 0x41 + 10 } else { return nil }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// Validates one multi-byte UTF-8 sequence at `i` (RFC 3629 ranges) and steps over it.
    mutating func utf8Sequence() -> Bool {
        let n = buf.count
        let c = buf[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { k < n && buf[k] >= lo && buf[k] <= hi }
        switch c {
        case 0xC2...0xDF: guard cont(i + 1) else { return false }; i += 2
        case 0xE0: guard cont(i + 1, 0xA0), cont(i + 2) else { return false }; i += 3
        case 0xE1...0xEC, 0xEE...0xEF: guard cont(i + 1), cont(i + 2) else { return false }; i += 3
        case 0xED: guard cont(i + 1, 0x80, 0x9F), cont(i + 2) else { return false }; i += 3
        case 0xF0: guard cont(i + 1, 0x90), cont(i + 2), cont(i + 3) else { return false }; i += 4
        case 0xF1...0xF3: guard cont(i + 1), cont(i + 2), cont(i + 3) else { return false }; i += 4
        case 0xF4: guard cont(i + 1, 0x80, 0x8F), cont(i + 2), cont(i + 3) else { return false }; i += 4
        default: return false
        }
        return true
    }

    /// A JSON number in the form the writer gives it (integers that fit in Int64 other than -0;
    /// other numbers as `JSONWriter.double` prints them). Returns the value when it is an integer.
    mutating func number() -> (isInt: Bool, value: Int64)? {
        let start = i
        let n = buf.count
        var neg = false
        if peek(UInt8(ascii: "-")) { neg = true; i += 1 }
        let ds = i
        guard i < n, buf[i] >= 0x30 && buf[i] <= 0x39 else { return nil }
        if buf[i] == 0x30 { i += 1 } else { while i < n && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 } }
        var isInt = true
        if peek(UInt8(ascii: ".")) {
            isInt = false; i += 1
            guard i < n, buf[i] >= 0x30 && buf[i] <= 0x39 else { return nil }
            while i < n && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 }
        }
        if i < n && (buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E")) {
            isInt = false; i += 1
            if i < n && (buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < n, buf[i] >= 0x30 && buf[i] <= 0x39 else { return nil }
            while i < n && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 }
        }
        if isInt {
            let digits = i - ds
            guard digits <= 18, !(neg && digits == 1 && buf[ds] == 0x30) else { return nil }
            var v: Int64 = 0
            for k in ds..<i { v = v * 10 + Int64(buf[k] - 0x30) }
            return (true, neg ? -v : v)
        }
        // Non-integers: what the writer would print for the parsed value must be these bytes.
        guard let d = Double(String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)) else { return nil }
        var w = JSONWriter(capacity: 32)
        w.double(d)
        guard w.bytes.count == i - start, w.bytes.elementsEqual(UnsafeBufferPointer(rebasing: buf[start..<i])) else { return nil }
        return (false, 0)
    }

    mutating func int() -> Int64? {
        guard let r = number(), r.isInt else { return nil }
        return r.value
    }

    mutating func literal(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i + n <= buf.count else { return false }
        for k in 0..<n where buf[i + k] != s.utf8Start[k] { return false }
        i += n
        return true
    }

    /// `ts`: as the writer prints it (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, a real calendar date, no
    /// leap second) it is taken as it is; any other text `Timestamp.parse` accepts is replaced by
    /// what the writer prints for the same instant, as the general path does. Years before 1970
    /// (and escaped text) are left to the general path.
    mutating func timestamp() -> Bool {
        guard let r = string(), !r.escaped else { return false }
        let u = UnsafeBufferPointer(rebasing: buf[r.start..<r.end])
        if u.count == 27 && canonicalTimestamp(u) { return true }
        // Another form the general path reads (an offset such as `+00:00`, other precision, a
        // space or lower-case separator, a day or second past the end that carries over): the
        // same parse, then the text the writer would print in its place.
        guard let ns = Timestamp.parse(rfc3339: u), ns >= 0 else { return false }
        var text: [UInt8] = [0x22]
        text.reserveCapacity(29)
        Timestamp(nanoseconds: ns).writeRFC3339(into: &text)
        text.append(0x22)
        if !text[1..<(text.count - 1)].elementsEqual(u) { edits.append((r.start - 1, r.end - r.start + 2, text)) }
        tsNs = ns
        return true
    }

    /// `u` (27 bytes) is a timestamp exactly as the writer prints it; `tsNs` is then set.
    mutating func canonicalTimestamp(_ u: UnsafeBufferPointer<UInt8>) -> Bool {
        // the same date and hour as a timestamp read before: only minutes, seconds and fraction
        if let memo, let base = memo.hour(u.baseAddress!) {
            func digit(_ k: Int) -> Int64? { u[k] >= 48 && u[k] <= 57 ? Int64(u[k] - 48) : nil }
            guard u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":"), u[19] == UInt8(ascii: "."), u[26] == UInt8(ascii: "Z"),
                  let m1 = digit(14), let m2 = digit(15), let s1 = digit(17), let s2 = digit(18), m1 < 6, s1 < 6 else { return false }
            var frac: Int64 = 0
            for k in 20..<26 { guard let d = digit(k) else { return false }; frac = frac * 10 + d }
            let (ns, overflow) = base.addingReportingOverflow(((m1 * 10 + m2) * 60 + s1 * 10 + s2) * 1_000_000_000 + frac * 1000)
            guard !overflow else { return false }
            tsNs = ns
            return true
        }
        guard u[10] == UInt8(ascii: "T"), u[19] == UInt8(ascii: "."), u[26] == UInt8(ascii: "Z"),
              let ns = Timestamp.parse(rfc3339: u), ns >= 0 else { return false }
        func num(_ k: Int, _ n: Int) -> Int { (k..<(k + n)).reduce(0) { $0 * 10 + Int(u[$1] - 48) } }
        let year = num(0, 4), month = num(5, 2)
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days: Int
        switch month {
        case 2: days = leap ? 29 : 28
        case 4, 6, 9, 11: days = 30
        default: days = 31
        }
        guard num(8, 2) <= days, num(17, 2) < 60 else { return false }
        tsNs = ns
        // the start of this hour, for the next timestamp with the same date and hour
        memo?.keepHour(u.baseAddress!, ns - Int64(num(14, 2) * 60 + num(17, 2)) * 1_000_000_000 - Int64(num(20, 6)) * 1000)
        return true
    }

    // MARK: - Envelope objects

    /// An object whose members are all optional-or-required strings from `names`.
    mutating func flatStrings(_ names: KeyTable, required: UInt32) -> Bool {
        guard peek(UInt8(ascii: "{")) else { return false }
        i += 1
        var last = -1, first = true, seen: UInt32 = 0
        while true {
            guard let k = nextKey(names, &last, &first) else { return false }
            if k < 0 { break }
            seen |= 1 << UInt32(k)
            guard string() != nil else { return false }
        }
        return seen & required == required
    }

    mutating func host() -> Bool {
        guard peek(UInt8(ascii: "{")) else { return false }
        i += 1
        var last = -1, first = true, seen: UInt32 = 0
        while true {
            guard let k = nextKey(t.hostKeys, &last, &first) else { return false }
            if k < 0 { break }
            seen |= 1 << UInt32(k)
            guard let r = string() else { return false }
            if k == 0 { guard !r.escaped else { return false }; hostStart = r.start; hostEnd = r.end }
        }
        return seen & 1 == 1
    }

    mutating func actor() -> Bool {
        guard peek(UInt8(ascii: "{")) else { return false }
        i += 1
        var last = -1, first = true
        while true {
            guard let k = nextKey(t.actorKeys, &last, &first) else { return false }
            if k < 0 { return true }
            switch k {
            case 0, 2: guard int() != nil else { return false }
            case 4: guard flatStrings(t.identityKeys, required: 1) else { return false }
            default: guard string() != nil else { return false }
            }
        }
    }

    mutating func process() -> Bool {
        guard peek(UInt8(ascii: "{")) else { return false }
        i += 1
        var last = -1, first = true, seen: UInt32 = 0
        while true {
            guard let k = nextKey(t.processKeys, &last, &first) else { return false }
            if k < 0 { break }
            seen |= 1 << UInt32(k)
            if CanonicalLane.processInts & (1 << UInt32(k)) != 0 {
                guard let v = int() else { return false }
                if k == 0 { pid = v }
            } else {
                guard let r = string() else { return false }
                if k == 4 && scanCmdline && r.end > r.start {
                    guard scanString(r, cmdline: true) else { return false }
                }
            }
        }
        return seen & 1 == 1
    }

    mutating func confidence() -> Bool {
        guard peek(UInt8(ascii: "{")) else { return false }
        i += 1
        var last = -1, first = true, seen: UInt32 = 0
        while true {
            guard let k = nextKey(t.confidenceKeys, &last, &first) else { return false }
            if k < 0 { break }
            seen |= 1 << UInt32(k)
            if k == 2 {
                guard peek(UInt8(ascii: "[")) else { return false }
                i += 1
                if peek(UInt8(ascii: "]")) { i += 1; continue }
                while true {
                    guard string() != nil, i < buf.count else { return false }
                    if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard buf[i] == UInt8(ascii: "]") else { return false }
                    i += 1
                    break
                }
            } else {
                guard let r = string() else { return false }
                if k == 1 { partial = t.partialValue.matches(0, buf, r.start, r.end) }
            }
        }
        return seen == 7
    }

    mutating func ext() -> Bool {
        guard peek(UInt8(ascii: "{")) else { return false }
        i += 1
        if peek(UInt8(ascii: "}")) { i += 1; return true }
        while true {
            guard let r = string(), peek(UInt8(ascii: ":")) else { return false }
            i += 1
            if !r.escaped && t.redactionKey.matches(0, buf, r.start, r.end) { extHasRedaction = true }
            guard value(scan: false, depth: 2), i < buf.count else { return false }
            if buf[i] == UInt8(ascii: ",") { i += 1; continue }
            guard buf[i] == UInt8(ascii: "}") else { return false }
            i += 1
            return true
        }
    }

    mutating func related() -> Bool {
        guard peek(UInt8(ascii: "[")) else { return false }
        i += 1
        if peek(UInt8(ascii: "]")) { i += 1; return true }
        while true {
            guard flatStrings(t.relatedKeys, required: 3), i < buf.count else { return false }
            if buf[i] == UInt8(ascii: ",") { i += 1; continue }
            guard buf[i] == UInt8(ascii: "]") else { return false }
            i += 1
            return true
        }
    }

    mutating func trace() -> Bool {
        guard peek(UInt8(ascii: "{")) else { return false }
        i += 1
        var last = -1, first = true, seen: UInt32 = 0
        while true {
            guard let k = nextKey(t.traceKeys, &last, &first) else { return false }
            if k < 0 { break }
            seen |= 1 << UInt32(k)
            if k == 2 { guard int() != nil else { return false } } else { guard string() != nil else { return false } }
        }
        return seen & 3 == 3
    }

    // MARK: - Free-form values (app, attrs, ext, data)

    /// Whether the scanner finds anything in a member name's bytes.
    func keyMayHoldFinding(_ start: Int, _ end: Int) -> Bool {
        let k = UnsafeBufferPointer(rebasing: buf[start..<end])
        return sc.mayFind(k) && !sc.scanWords(k).isEmpty
    }

    func isSkipKey(_ start: Int, _ end: Int) -> Bool {
        for k in 0..<t.skipKeys.count where t.skipKeys.matches(k, buf, start, end) { return true }
        return false
    }

    /// Any JSON value; strings are scanned for secrets when `scan` (under `data`, outside the
    /// identifier keys the general path skips too).
    mutating func value(scan: Bool, depth: Int) -> Bool {
        guard depth < 512, i < buf.count else { return false }
        let c = buf[i]
        // an object, array or scanned string inside these (not `data` itself, which is new every
        // time) may be one seen before; one read now without a finding is kept for next time
        if depth >= 2, c == UInt8(ascii: "{") || c == UInt8(ascii: "[") || (scan && c == UInt8(ascii: "\"")), let memo, buf.count - i >= 32 {
            let s = i, p = buf.baseAddress! + s
            if let n = memo.value(p, buf.count - s, depth: depth, scan: scan) { i = s + n; return true }
            let before = edits.count
            guard valueRead(c, scan: scan, depth: depth) else { return false }
            if edits.count == before { memo.keepValue(p, i - s, depth: depth, scanned: scan) }
            return true
        }
        return valueRead(c, scan: scan, depth: depth)
    }

    @inline(__always) mutating func valueRead(_ c: UInt8, scan: Bool, depth: Int) -> Bool {
        switch c {
        case UInt8(ascii: "{"):
            i += 1
            if peek(UInt8(ascii: "}")) { i += 1; return true }
            while true {
                guard let r = string(), peek(UInt8(ascii: ":")) else { return false }
                i += 1
                // a member name with a finding (or escaped, where one could hide) is redacted by
                // the general path, which renames the member
                if scan && scanCmdline && r.end > r.start && (r.escaped || keyMayHoldFinding(r.start, r.end)) { return false }
                let sub = scan && !(r.escaped ? false : isSkipKey(r.start, r.end))
                guard value(scan: sub, depth: depth + 1), i < buf.count else { return false }
                if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                guard buf[i] == UInt8(ascii: "}") else { return false }
                i += 1
                return true
            }
        case UInt8(ascii: "["):
            i += 1
            if peek(UInt8(ascii: "]")) { i += 1; return true }
            var index = 0
            while true {
                guard value(scan: scan, depth: depth + 1), i < buf.count else { return false }
                index += 1
                if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                guard buf[i] == UInt8(ascii: "]") else { return false }
                i += 1
                return true
            }
        case UInt8(ascii: "\""):
            allowRecode = true; needsRecode = false
            let read = string()
            allowRecode = false
            guard let r = read else { return false }
            if needsRecode { return scanString(r, cmdline: false, rewrite: true, scan: scan) }
            return !scan || r.end == r.start || scanString(r, cmdline: false)
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number() != nil
        }
    }

    /// `data.a.b[2].c` for the string whose opening quote is at `target`, as the general path
    /// writes it; nil when a key on the way is escaped. Re-walks the (already validated) bytes
    /// of `data`, keeping the way as byte ranges and indices: text is made once, at the end.
    func pathText(to target: Int) -> String? {
        // a key's bytes (start ..< end), or an array index (start == -1, end = the index)
        var parts: [(start: Int, end: Int)] = []
        var k = dataStart
        let base = buf.baseAddress!
        /// Walks one value at `k`; true when the target was found inside it (parts then hold the path).
        func walk() -> Bool {
            let c = base[k]
            if c == UInt8(ascii: "{") {
                k += 1
                if base[k] == UInt8(ascii: "}") { k += 1; return false }
                while true {
                    let ks = k + 1
                    skipString()
                    parts.append((ks, k - 1))
                    k += 1 // ':'
                    if walk() { return true }
                    parts.removeLast()
                    if base[k] == UInt8(ascii: ",") { k += 1; continue }
                    k += 1
                    return false
                }
            }
            if c == UInt8(ascii: "[") {
                k += 1
                if base[k] == UInt8(ascii: "]") { k += 1; return false }
                var index = 0
                while true {
                    parts.append((-1, index))
                    if walk() { return true }
                    parts.removeLast()
                    index += 1
                    if base[k] == UInt8(ascii: ",") { k += 1; continue }
                    k += 1
                    return false
                }
            }
            if c == UInt8(ascii: "\"") {
                if k == target { return true }
                skipString()
                return false
            }
            // literal or number: up to the next delimiter
            while k < buf.count && base[k] != UInt8(ascii: ",") && base[k] != UInt8(ascii: "}") && base[k] != UInt8(ascii: "]") { k += 1 }
            return false
        }
        /// From an opening quote to after its closing one, eight bytes at a time between escapes.
        func skipString() { k = CanonicalLane.afterString(base, k, buf.count) }
        guard dataStart >= 0, walk() else { return nil }
        var s = "data"
        for p in parts {
            if p.start < 0 { s += "[\(p.end)]"; continue }
            let key = UnsafeBufferPointer(rebasing: buf[p.start..<p.end])
            if key.contains(0x5C) { return nil } // an escaped key: the general path spells it
            s += "."
            s += String(decoding: key, as: UTF8.self)
        }
        return s
    }

    /// Scans one string value; findings become an edit (the redacted text, escaped as the writer
    /// escapes) plus a `fields` entry. False when the general path must take over (a finding
    /// under a key that was escaped, whose path text this lane does not rebuild).
    /// `rewrite`: the string holds escapes the writer spells otherwise, so it is written again in
    /// the writer's form even without a finding (and scanned only when `scan`).
    mutating func scanString(_ r: (start: Int, end: Int, escaped: Bool), cmdline: Bool, rewrite: Bool = false, scan: Bool = true) -> Bool {
        if !r.escaped { return scanDecoded(UnsafeBufferPointer(rebasing: buf[r.start..<r.end]), r, cmdline: cmdline) }
        // decode first (validated already: see string())
        scratch.removeAll(keepingCapacity: true)
        var k = r.start
        while k < r.end {
            let c = buf[k]
            if c != 0x5C { scratch.append(c); k += 1; continue }
            let e = buf[k + 1]
            switch e {
            case UInt8(ascii: "n"): scratch.append(0x0A); k += 2
            case UInt8(ascii: "r"): scratch.append(0x0D); k += 2
            case UInt8(ascii: "t"): scratch.append(0x09); k += 2
            case UInt8(ascii: "b"): scratch.append(0x08); k += 2
            case UInt8(ascii: "f"): scratch.append(0x0C); k += 2
            case UInt8(ascii: "u"):
                var code = CanonicalLane.hex4(buf.baseAddress! + k + 2)!
                k += 6
                if code >= 0xD800 && code < 0xDC00 { // the low half follows (checked by string())
                    code = 0x10000 + ((code - 0xD800) << 10) + (CanonicalLane.hex4(buf.baseAddress! + k + 2)! - 0xDC00)
                    k += 6
                }
                scratch.append(contentsOf: UTF8.encode(Unicode.Scalar(code)!)!)
            default: scratch.append(e); k += 2
            }
        }
        let decoded = scratch
        return decoded.withUnsafeBufferPointer { d in
            guard scan else { return rewriteCanonical(d, r) }
            return scanDecoded(d, r, cmdline: cmdline, rewrite: rewrite)
        }
    }

    /// Replaces the string at `r` with `bytes` as the writer writes a string.
    mutating func rewriteCanonical(_ bytes: UnsafeBufferPointer<UInt8>, _ r: (start: Int, end: Int, escaped: Bool)) -> Bool {
        var w = JSONWriter(capacity: bytes.count + 8)
        w.string(utf8: UnsafeRawBufferPointer(bytes))
        edits.append((r.start - 1, r.end - r.start + 2, w.bytes))
        return true
    }

    /// The character count of the text whose UTF-8 is `bytes`: ASCII without a CR LF pair (one
    /// character) has one character per byte, so only other text needs grapheme breaking.
    static func characterCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var prev: UInt8 = 0
        for c in bytes {
            if c >= 0x80 || (c == 0x0A && prev == 0x0D) { return String(decoding: bytes, as: UTF8.self).count }
            prev = c
        }
        return bytes.count
    }

    /// One more finding of `type`.
    mutating func tally(_ type: String) {
        if let k = counts.firstIndex(where: { $0.type == type }) { counts[k].count += 1 } else { counts.append((type, 1)) }
    }

    mutating func scanDecoded(_ bytes: UnsafeBufferPointer<UInt8>, _ r: (start: Int, end: Int, escaped: Bool), cmdline: Bool, rewrite: Bool = false) -> Bool {
        if !sc.mayFind(bytes) { return rewrite ? rewriteCanonical(bytes, r) : true }
        // the same string redacted before (a secret in the history a conversation re-sends)
        if let memo, r.end - r.start >= 8, let e = memo.finding(buf.baseAddress! + r.start, r.end - r.start) {
            guard let p = cmdline ? "process.cmdline" : pathText(to: r.start - 1) else { return false }
            for t in e.types { tally(t) }
            edits.append((r.start - 1, r.end - r.start + 2, e.replacement))
            fields.append((p, e.characters, e.hash))
            return true
        }
        let found = sc.scanWords(bytes)
        if found.isEmpty { return rewrite ? rewriteCanonical(bytes, r) : true }
        guard let p = cmdline ? "process.cmdline" : pathText(to: r.start - 1) else { return false }
        // the general path rebuilds the text as a String: where every finding starts and ends on
        // a character boundary (always, for the ASCII patterns), the same text is these bytes
        var last = 0
        for f in found {
            defer { last = f.end }
            guard f.start >= last, f.start <= f.end, f.end <= bytes.count,
                  f.start == bytes.count || bytes[f.start] & 0xC0 != 0x80,
                  f.end == bytes.count || bytes[f.end] & 0xC0 != 0x80 else { return false }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 34 * found.count + 2)
        // Unescaped text needs no escapes, nor does a type of plain characters: the quoted
        // result is then these bytes as they are (what `JSONWriter.string` would write).
        var plain = !r.escaped
        if plain { out.append(0x22) }
        var pos = 0
        for f in found {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[pos..<f.start]))
            out.append(contentsOf: "[REDACTED:".utf8)
            for c in f.type.utf8 { if c < 0x20 || c == 0x22 || c == 0x5C { plain = false }; out.append(c) }
            out.append(UInt8(ascii: "]"))
            pos = f.end
            tally(f.type)
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[pos...]))
        if plain {
            out.append(0x22)
        } else {
            if !r.escaped { out.removeFirst() }
            var w = JSONWriter(capacity: out.count + 8)
            out.withUnsafeBytes { w.string(utf8: $0) }
            out = w.bytes
        }
        let characters = CanonicalLane.characterCount(bytes), hash = redactor.hash(bytes: bytes)
        edits.append((r.start - 1, r.end - r.start + 2, out))
        fields.append((p, characters, hash))
        if let memo, r.end - r.start >= 8 {
            memo.keepFinding(buf.baseAddress! + r.start, r.end - r.start, replacement: out, types: found.map(\.type), characters: characters, hash: hash)
        }
        return true
    }
}

/// Names laid out once in memory that is never freed, compared as bytes without reference
/// counting (the lane compares a key against these lists for every member of every event).
struct KeyTable: @unchecked Sendable {
    let bytes: UnsafePointer<UInt8>
    /// `count + 1` offsets into `bytes`.
    let starts: UnsafePointer<Int>
    let count: Int

    init(_ names: [String]) {
        let all = names.flatMap { Array($0.utf8) }
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, all.count))
        b.initialize(from: all, count: all.count)
        let st = UnsafeMutablePointer<Int>.allocate(capacity: names.count + 1)
        var at = 0
        for (k, n) in names.enumerated() { st[k] = at; at += n.utf8.count }
        st[names.count] = at
        bytes = UnsafePointer(b); starts = UnsafePointer(st); count = names.count
    }

    /// When `buf[at...]` starts with `"name":` for name `k`: the offset after the colon.
    @inline(__always) func quotedKeyEnd(_ k: Int, _ buf: UnsafeBufferPointer<UInt8>, _ at: Int) -> Int? {
        let n = starts[k + 1] - starts[k]
        guard at + n + 3 <= buf.count, matches(k, buf, at + 1, at + 1 + n),
              buf[at + 1 + n] == 0x22, buf[at + 2 + n] == 0x3A else { return nil }
        return at + n + 3
    }

    /// Whether name `k` equals `buf[start..<end]`.
    @inline(__always) func matches(_ k: Int, _ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        let a = starts[k], n = starts[k + 1] - a
        guard end - start == n else { return false }
        let p = buf.baseAddress! + start
        var j = 0
        while j < n { if p[j] != bytes[a + j] { return false }; j += 1 }
        return true
    }
}

/// Every key list of the canonical lane, built once.
final class LaneTables: Sendable {
    static let shared = LaneTables()
    let top = KeyTable(["oisp_version", "event_id", "event_type", "ts", "ts_mono", "host", "actor", "process", "app",
                        "source", "confidence", "attrs", "ext", "related_events", "trace_context", "data"])
    let hostKeys = KeyTable(["hostname", "device_id", "os", "os_version", "arch"])
    let actorKeys = KeyTable(["uid", "user", "gid", "session_id", "identity"])
    let identityKeys = KeyTable(["provider", "email", "user_id"])
    let processKeys = KeyTable(["pid", "ppid", "exe", "name", "cmdline", "cwd", "tid", "uid", "container_id",
                                "pod_name", "pod_namespace", "hash"])
    let sourceKeys = KeyTable(["collector", "collector_version", "capture_method", "capture_point", "sensor_host"])
    let confidenceKeys = KeyTable(["level", "completeness", "reasons"])
    let relatedKeys = KeyTable(["event_id", "relationship"])
    let traceKeys = KeyTable(["trace_id", "span_id", "trace_flags"])
    let skipKeys = KeyTable(Redactor.skipKeys.sorted())
    let redactionKey = KeyTable(["oisp.redaction"])
    /// The spec's event types: a match reuses one immortal string instead of allocating per event.
    static let eventTypeNames = OISPEventType.allCases.map(\.rawValue)
    let eventTypes = KeyTable(LaneTables.eventTypeNames)
    let eventTypeStrings = LaneTables.eventTypeNames

    func internedType(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String? {
        for k in 0..<eventTypes.count where eventTypes.matches(k, buf, start, end) { return eventTypeStrings[k] }
        return nil
    }
    let partialValue = KeyTable(["partial"])
}
