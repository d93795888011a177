/// Eight bytes at a time (SWAR), for the scanner's pre-check.
enum Bytes8 {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    @inline(__always) static func load(_ p: UnsafePointer<UInt8>) -> UInt64 {
        UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
    }

    /// The high bit of each byte of `w` equal to `c`. The lowest set bit is exact (a borrow only
    /// runs upward from a real match), so `trailingZeroBitCount >> 3` is the first match.
    @inline(__always) static func equal(_ w: UInt64, _ c: UInt8) -> UInt64 {
        let x = w ^ (ones &* UInt64(c))
        return (x &- ones) & ~x & highs
    }
}
