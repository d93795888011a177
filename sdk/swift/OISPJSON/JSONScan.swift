/// The one scan the parser and the writer share: from `i`, the index of the first byte in
/// `base[i..<n]` that a JSON string cannot hold as it is — a quote, a backslash or a control byte
/// (below 0x20) — or the first index where fewer than eight bytes remain. Eight bytes at a time;
/// the lowest flagged byte is exact (a borrow only runs upward). Little-endian.
@inline(__always)
func scanToStringSpecial(_ base: UnsafeRawPointer, from i: Int, count n: Int) -> Int {
    let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
    var i = i
    while i + 8 <= n {
        let w = (base + i).loadUnaligned(as: UInt64.self)
        let q = w ^ (ones &* 0x22), b = w ^ (ones &* 0x5C)
        let hit = ((q &- ones) & ~q | (b &- ones) & ~b | (w &- ones &* 0x20) & ~w) & highs
        if hit != 0 { return i + hit.trailingZeroBitCount >> 3 }
        i += 8
    }
    return i
}
