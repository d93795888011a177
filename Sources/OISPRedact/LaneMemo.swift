#if canImport(Glibc)
import Glibc
#endif

/// What the canonical lane learned from JSON values it validated recently, for one thread.
///
/// A node's events repeat their `host`, `actor`, `process`, `source` and `confidence` objects
/// byte for byte (the same machine, the same few processes), and the chunks of one streamed
/// answer share `related_events` and `trace_context`. A JSON object or array ends where its
/// bytes say it ends, so when the bytes at the cursor start with one that was already validated
/// — and scanned without a finding — they *are* that value: the lane steps over it with one
/// `memcmp` and takes what it had read from it (the hostname's place, the pid, `partial`).
/// Values that had a finding are never kept, so a hit never hides an edit.
///
/// The same holds for objects, arrays and scanned strings inside `data`, `app`, `attrs` and
/// `ext`: a provider block, the parameters, the messages a conversation re-sends with every
/// request, a system prompt (a string, too, ends at its closing quote). These are
/// looked up by their first 32 bytes in a small set-associative table; an entry remembers
/// whether its strings were scanned (a scanned one serves an unscanned place too, never the
/// reverse) and the depth it was read at (it serves only as deep or shallower, so the nesting
/// limit holds).
///
/// A string *with* findings is kept apart, with what redacting it gave (the replacement text,
/// the finding types in order, its length in characters and keyed hash): the same secret in the
/// conversation every later request re-sends is then spliced without a second scan and hash.
/// Only its path is worked out again, where it now lies.
///
/// Each kind (and strings apart from objects and arrays) keeps a score: a hit adds 8, a miss
/// takes 1. Where values do not repeat (a score below -16) the kind rests for 256 uses —
/// neither looked up nor kept — and then tries again, so unique traffic pays almost nothing.
///
/// Not thread-safe: give each thread its own (`replay` makes one per worker share).
public final class LaneMemo {
    /// Objects kept per kind; a new one replaces the oldest.
    static let ways = 4
    /// Longer objects are not kept (a command line that long is rare and cheap to re-read).
    static let maxBytes = 1024

    struct Entry {
        var bytes: UnsafeMutablePointer<UInt8>
        var count = 0
        /// host: the hostname's offsets from the object's `{`
        var a = 0, b = 0
        /// process: the pid (nil when absent); confidence: partial
        var pid: Int64?
        var flag = false
    }

    /// The redactor (and so the scanner) these results hold for.
    var owner: ObjectIdentifier?
    // Plain memory rather than arrays and counters in `var`s: class members would be checked for
    // exclusive access at run time on every look-up.
    let entries: UnsafeMutablePointer<Entry>
    let next: UnsafeMutablePointer<Int>
    let hitCount: UnsafeMutablePointer<Int>
    /// Per slot (each kind, then value strings, then value objects and arrays): the score, and
    /// the uses left to rest.
    static let slots = Kind.count + 3
    static let findingSlot = Kind.count + 2
    let score: UnsafeMutablePointer<Int>
    let rest: UnsafeMutablePointer<Int>

    /// Free-form values: `valueSets` sets of `valueWays` entries.
    static let valueSets = 64, valueWays = 2
    /// Smaller values are cheap to read; larger ones are not kept.
    static let valueMinBytes = 24, valueMaxBytes = 8192
    struct ValueEntry {
        var bytes: UnsafeMutablePointer<UInt8>? = nil
        var capacity = 0, count = 0
        var depth = 0
        var scanned = false
    }
    /// The last timestamp's `YYYY-MM-DDTHH` (bytes 0..<8 and 5..<13 as two words; the first
    /// word 0 when none) and the nanoseconds at the start of that hour.
    let hourKey: UnsafeMutablePointer<UInt64>
    let values: UnsafeMutablePointer<ValueEntry>

    /// Strings with findings: `findingSets` sets of 2 entries, keyed by the raw bytes between
    /// the quotes (escapes and all).
    static let findingSets = 16, findingMaxBytes = 4096
    struct FindingEntry {
        var bytes: UnsafeMutablePointer<UInt8>? = nil
        var capacity = 0, count = 0
        /// The quoted JSON text that replaces the string.
        var replacement: [UInt8] = []
        var types: [String] = []
        var characters = 0
        var hash = ""
    }
    let findings: UnsafeMutablePointer<FindingEntry>
    let findingNext: UnsafeMutablePointer<UInt8>
    let valueNext: UnsafeMutablePointer<UInt8>
    /// Values stepped over so far (strings with findings spliced from the memo included).
    public var hits: Int { hitCount.pointee }
    /// Strings with findings spliced from the memo so far.
    public var findingHits: Int { hitCount[1] }

    public init() {
        let n = LaneMemo.Kind.count * LaneMemo.ways
        entries = .allocate(capacity: n)
        entries.initialize(from: (0..<n).map { _ in Entry(bytes: .allocate(capacity: LaneMemo.maxBytes)) }, count: n)
        next = .allocate(capacity: LaneMemo.Kind.count)
        next.initialize(repeating: 0, count: LaneMemo.Kind.count)
        hitCount = .allocate(capacity: 2)
        hitCount.initialize(repeating: 0, count: 2)
        score = .allocate(capacity: LaneMemo.slots)
        score.initialize(repeating: 0, count: LaneMemo.slots)
        rest = .allocate(capacity: LaneMemo.slots)
        rest.initialize(repeating: 0, count: LaneMemo.slots)
        values = .allocate(capacity: LaneMemo.valueSets * LaneMemo.valueWays)
        values.initialize(repeating: ValueEntry(), count: LaneMemo.valueSets * LaneMemo.valueWays)
        hourKey = .allocate(capacity: 3)
        hourKey.initialize(repeating: 0, count: 3)
        findings = .allocate(capacity: LaneMemo.findingSets * 2)
        findings.initialize(repeating: FindingEntry(), count: LaneMemo.findingSets * 2)
        findingNext = .allocate(capacity: LaneMemo.findingSets)
        findingNext.initialize(repeating: 0, count: LaneMemo.findingSets)
        valueNext = .allocate(capacity: LaneMemo.valueSets)
        valueNext.initialize(repeating: 0, count: LaneMemo.valueSets)
    }

    deinit {
        let n = LaneMemo.Kind.count * LaneMemo.ways
        for k in 0..<n { entries[k].bytes.deallocate() }
        entries.deinitialize(count: n); entries.deallocate()
        next.deallocate(); hitCount.deallocate(); score.deallocate(); rest.deallocate()
        for k in 0..<(LaneMemo.valueSets * LaneMemo.valueWays) { values[k].bytes?.deallocate() }
        values.deinitialize(count: LaneMemo.valueSets * LaneMemo.valueWays); values.deallocate()
        valueNext.deallocate(); hourKey.deallocate()
        // these hold secrets as they came in: wiped before the memory goes back
        for k in 0..<(LaneMemo.findingSets * 2) {
            if let b = findings[k].bytes { explicit_bzero(b, findings[k].capacity); b.deallocate() }
        }
        findings.deinitialize(count: LaneMemo.findingSets * 2); findings.deallocate()
        findingNext.deallocate()
    }

    enum Kind: Int {
        case host, actor, process, source, confidence, related, trace
        static let count = 7
    }

    /// Forgets everything when the lane runs for another redactor.
    @inline(__always) func bind(_ r: ObjectIdentifier) {
        if owner != r {
            for k in 0..<(LaneMemo.Kind.count * LaneMemo.ways) { entries[k].count = 0 }
            for k in 0..<(LaneMemo.valueSets * LaneMemo.valueWays) { values[k].count = 0 }
            hourKey[0] = 0
            for k in 0..<(LaneMemo.findingSets * 2) { findings[k].count = 0 }
            for k in 0..<LaneMemo.slots { score[k] = 0; rest[k] = 0 }
            owner = r
        }
    }

    /// The entry whose bytes start `p[0..<limit]`, if any.
    @inline(__always) func lookup(_ kind: Kind, _ p: UnsafePointer<UInt8>, _ limit: Int) -> Entry? {
        guard resting(kind.rawValue) == false else { return nil }
        let base = kind.rawValue * LaneMemo.ways
        for w in base..<(base + LaneMemo.ways) {
            let e = entries[w]
            if e.count > 0, e.count <= limit, memcmp(e.bytes, p, e.count) == 0 { hit(kind.rawValue); return e }
        }
        missed(kind.rawValue)
        return nil
    }

    /// Whether `slot` rests now (and one use of its rest is spent).
    @inline(__always) func resting(_ slot: Int) -> Bool {
        if rest[slot] > 0 { rest[slot] -= 1; return true }
        return false
    }

    @inline(__always) func hit(_ slot: Int) {
        hitCount.pointee &+= 1
        score[slot] = min(score[slot] + 8, 64)
    }

    @inline(__always) func missed(_ slot: Int) {
        score[slot] -= 1
        if score[slot] < -16 { rest[slot] = 256; score[slot] = 0 }
    }

    func store(_ kind: Kind, _ p: UnsafePointer<UInt8>, _ count: Int, a: Int = 0, b: Int = 0, pid: Int64? = nil, flag: Bool = false) {
        guard count > 0, count <= LaneMemo.maxBytes, rest[kind.rawValue] == 0 else { return }
        let w = kind.rawValue * LaneMemo.ways + next[kind.rawValue]
        next[kind.rawValue] = (next[kind.rawValue] + 1) % LaneMemo.ways
        entries[w].bytes.update(from: p, count: count)
        entries[w].count = count
        entries[w].a = a; entries[w].b = b; entries[w].pid = pid; entries[w].flag = flag
    }

    /// The start of the hour of the timestamp text at `p` (27 bytes), when its date and hour are
    /// those of the last one kept.
    @inline(__always) func hour(_ p: UnsafePointer<UInt8>) -> Int64? {
        let raw = UnsafeRawPointer(p)
        guard hourKey[0] != 0, raw.loadUnaligned(as: UInt64.self) == hourKey[0],
              raw.loadUnaligned(fromByteOffset: 5, as: UInt64.self) == hourKey[1] else { return nil }
        return Int64(bitPattern: hourKey[2])
    }

    /// Keeps the date and hour of a timestamp text that read as valid, with its hour's start.
    func keepHour(_ p: UnsafePointer<UInt8>, _ start: Int64) {
        let raw = UnsafeRawPointer(p)
        hourKey[0] = raw.loadUnaligned(as: UInt64.self)
        hourKey[1] = raw.loadUnaligned(fromByteOffset: 5, as: UInt64.self)
        hourKey[2] = UInt64(bitPattern: start)
    }

    /// The set for a value whose first 32 bytes are at `p`.
    @inline(__always) static func valueSet(_ p: UnsafePointer<UInt8>) -> Int {
        let raw = UnsafeRawPointer(p)
        var h = raw.loadUnaligned(as: UInt64.self) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) &* 0xC2B2_AE3D_27D4_EB4F
        h = (h ^ raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)) &* 0x1656_67B1_9E37_79F9
        h = (h ^ raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h >> 58) // 64 sets
    }

    /// The length of a kept value that `p[0..<limit]` starts with and that serves a place at
    /// `depth` (scanned when `scan`); nil when none. `limit` ≥ 32.
    @inline(__always) func value(_ p: UnsafePointer<UInt8>, _ limit: Int, depth: Int, scan: Bool) -> Int? {
        let slot = LaneMemo.valueSlot(p)
        guard resting(slot) == false else { return nil }
        let base = LaneMemo.valueSet(p) * LaneMemo.valueWays
        for w in base..<(base + LaneMemo.valueWays) {
            let e = values[w]
            if e.count > 0, e.count <= limit, depth <= e.depth, e.scanned || !scan, memcmp(e.bytes!, p, e.count) == 0 {
                hit(slot)
                return e.count
            }
        }
        missed(slot)
        return nil
    }

    /// Strings and compound values keep separate scores (prose repeats less than structure).
    @inline(__always) static func valueSlot(_ p: UnsafePointer<UInt8>) -> Int { Kind.count + (p[0] == 0x22 ? 0 : 1) }

    /// Keeps a value read (and, when `scanned`, scanned without a finding) at `depth`.
    func keepValue(_ p: UnsafePointer<UInt8>, _ count: Int, depth: Int, scanned: Bool) {
        guard count >= LaneMemo.valueMinBytes, count <= LaneMemo.valueMaxBytes, rest[LaneMemo.valueSlot(p)] == 0 else { return }
        let set = LaneMemo.valueSet(p)
        let w = set * LaneMemo.valueWays + Int(valueNext[set])
        valueNext[set] = UInt8((Int(valueNext[set]) + 1) % LaneMemo.valueWays)
        LaneMemo.copy(p, count, into: &values[w].bytes, capacity: &values[w].capacity)
        values[w].count = count
        values[w].depth = depth
        values[w].scanned = scanned
    }

    /// Copies `p[0..<n]` into a kept buffer, which grows (to a power of two, 256 at least) when short.
    static func copy(_ p: UnsafePointer<UInt8>, _ n: Int, into bytes: inout UnsafeMutablePointer<UInt8>?, capacity: inout Int) {
        if capacity < n {
            if let b = bytes { explicit_bzero(b, capacity); b.deallocate() } // (strings with findings hold secrets)
            capacity = max(256, n.nextPowerOf2)
            bytes = .allocate(capacity: capacity)
        }
        bytes!.update(from: p, count: n)
    }

    @inline(__always) static func findingSet(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        let raw = UnsafeRawPointer(p)
        var h = UInt64(n) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ raw.loadUnaligned(as: UInt64.self)) &* 0xC2B2_AE3D_27D4_EB4F
        h = (h ^ raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) &* 0x1656_67B1_9E37_79F9
        return Int(truncatingIfNeeded: h >> 60) // 16 sets
    }

    /// What redacting the string whose raw bytes (between the quotes) are `p[0..<n]` gave, when
    /// it was kept. `n` ≥ 8.
    func finding(_ p: UnsafePointer<UInt8>, _ n: Int) -> FindingEntry? {
        guard resting(LaneMemo.findingSlot) == false else { return nil }
        let base = LaneMemo.findingSet(p, n) * 2
        for w in base..<(base + 2) where findings[w].count == n && memcmp(findings[w].bytes!, p, n) == 0 {
            hit(LaneMemo.findingSlot)
            hitCount[1] &+= 1
            return findings[w]
        }
        missed(LaneMemo.findingSlot)
        return nil
    }

    /// Keeps what redacting one string gave.
    func keepFinding(_ p: UnsafePointer<UInt8>, _ n: Int, replacement: [UInt8], types: [String], characters: Int, hash: String) {
        guard n >= 8, n <= LaneMemo.findingMaxBytes, rest[LaneMemo.findingSlot] == 0 else { return }
        let set = LaneMemo.findingSet(p, n)
        let w = set * 2 + Int(findingNext[set])
        findingNext[set] ^= 1
        LaneMemo.copy(p, n, into: &findings[w].bytes, capacity: &findings[w].capacity)
        findings[w].count = n
        findings[w].replacement = replacement
        findings[w].types = types
        findings[w].characters = characters
        findings[w].hash = hash
    }
}

extension Int {
    fileprivate var nextPowerOf2: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
