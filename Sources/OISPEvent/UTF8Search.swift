import Foundation

/// Byte-for-byte tests on a string's UTF-8, for ASCII patterns in HTTP heads and paths: Swift's
/// `hasPrefix`/`hasSuffix` compare by Unicode canonical equivalence, `firstRange` is generic and
/// Foundation's `range(of:)` goes through NSString — together a twentieth of a short call's
/// decode. Every pattern here is ASCII, where the two answers agree.
extension String {
    @inline(__always) public func utf8HasPrefix(_ p: String) -> Bool {
        var s = self, p = p
        return s.withUTF8 { a in p.withUTF8 { b in a.count >= b.count && (b.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, b.count) == 0) } }
    }

    @inline(__always) public func utf8HasSuffix(_ p: String) -> Bool {
        var s = self, p = p
        return s.withUTF8 { a in p.withUTF8 { b in a.count >= b.count && (b.isEmpty || memcmp(a.baseAddress! + (a.count - b.count), b.baseAddress!, b.count) == 0) } }
    }

    /// The byte offset of `p`'s first occurrence.
    public func utf8Offset(of p: String) -> Int? {
        var s = self, p = p
        return s.withUTF8 { a in
            p.withUTF8 { b -> Int? in
                if b.isEmpty { return 0 }
                guard a.count >= b.count else { return nil }
                // memchr for the first byte, memcmp for the rest (glibc's memmem is not exported to Swift)
                let base = a.baseAddress!, last = a.count - b.count
                var i = 0
                while i <= last {
                    guard let hit = memchr(base + i, Int32(b[0]), last - i + 1) else { return nil }
                    let at = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + at, b.baseAddress!, b.count) == 0 { return at }
                    i = at + 1
                }
                return nil
            }
        }
    }

    @inline(__always) public func utf8Contains(_ p: String) -> Bool { utf8Offset(of: p) != nil }

    /// What follows the first occurrence of `p`, or nil.
    public func utf8After(_ p: String) -> Substring? {
        guard let o = utf8Offset(of: p) else { return nil }
        return self[utf8.index(utf8.startIndex, offsetBy: o + p.utf8.count)...]
    }
}
