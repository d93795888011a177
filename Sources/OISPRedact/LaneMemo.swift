#if canImport(Glibc)
import Glibc
#endif

/// What the canonical lane learned from envelope objects it validated recently, for one thread.
///
/// A node's events repeat their `host`, `actor`, `process`, `source` and `confidence` objects
/// byte for byte (the same machine, the same few processes). A JSON object ends where its bytes
/// say it ends, so when the bytes at the cursor start with an object that was already validated
/// — and scanned without a finding — they *are* that object: the lane steps over it with one
/// `memcmp` and takes what it had read from it (the hostname's place, the pid, `partial`).
/// Objects that had a finding are never kept, so a hit never hides an edit.
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
    var entries: [Entry]
    var next: [Int]
    /// Objects stepped over so far.
    public private(set) var hits = 0

    public init() {
        entries = (0..<(LaneMemo.Kind.count * LaneMemo.ways)).map { _ in
            Entry(bytes: UnsafeMutablePointer<UInt8>.allocate(capacity: LaneMemo.maxBytes))
        }
        next = Array(repeating: 0, count: LaneMemo.Kind.count)
    }

    deinit { for e in entries { e.bytes.deallocate() } }

    enum Kind: Int {
        case host, actor, process, source, confidence
        static let count = 5
    }

    /// Forgets everything when the lane runs for another redactor.
    @inline(__always) func bind(_ r: ObjectIdentifier) {
        if owner != r {
            for k in entries.indices { entries[k].count = 0 }
            owner = r
        }
    }

    /// The entry whose bytes start `p[0..<limit]`, if any.
    @inline(__always) func lookup(_ kind: Kind, _ p: UnsafePointer<UInt8>, _ limit: Int) -> Entry? {
        let base = kind.rawValue * LaneMemo.ways
        for w in base..<(base + LaneMemo.ways) {
            let e = entries[w]
            if e.count > 0, e.count <= limit, memcmp(e.bytes, p, e.count) == 0 { hits &+= 1; return e }
        }
        return nil
    }

    func store(_ kind: Kind, _ p: UnsafePointer<UInt8>, _ count: Int, a: Int = 0, b: Int = 0, pid: Int64? = nil, flag: Bool = false) {
        guard count > 0, count <= LaneMemo.maxBytes else { return }
        let w = kind.rawValue * LaneMemo.ways + next[kind.rawValue]
        next[kind.rawValue] = (next[kind.rawValue] + 1) % LaneMemo.ways
        entries[w].bytes.update(from: p, count: count)
        entries[w].count = count
        entries[w].a = a; entries[w].b = b; entries[w].pid = pid; entries[w].flag = flag
    }
}
