#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// ULID generation (https://github.com/ulid/spec): 48-bit millisecond timestamp + 80 random
/// bits, Crockford base32, 26 characters, lexicographically sortable by time.
public enum ULID {
    private static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// A new ULID for the given time (milliseconds since the Unix epoch).
    public static func make(milliseconds: UInt64) -> String {
        let (hi, lo) = pool.withLock { $0.take() }
        return encode(milliseconds: milliseconds, randomHigh: UInt16(truncatingIfNeeded: hi), randomLow: lo)
    }

    /// The kernel's random bytes, 4 KiB at a time (every event has an id: one read per 256 ids
    /// instead of two getrandom calls each).
    struct RandomPool: ~Copyable {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512
        var fd: Int32 = -1

        mutating func take() -> (UInt64, UInt64) {
            if next + 2 > words.count { refill() }
            defer { next += 2 }
            return (words[next], words[next + 1])
        }

        mutating func refill() {
            if fd < 0 { fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC) }
            var got = 0
            if fd >= 0 {
                got = words.withUnsafeMutableBytes { raw -> Int in
                    var n = 0
                    while n < raw.count {
                        let r = read(fd, raw.baseAddress! + n, raw.count - n)
                        if r <= 0 { break }
                        n += r
                    }
                    return n
                }
            }
            if got < words.count * 8 { // no /dev/urandom: the system generator, word by word
                var rng = SystemRandomNumberGenerator()
                for k in words.indices { words[k] = rng.next() }
            }
            next = 0
        }
    }
    private static let pool = Mutex(RandomPool())

    /// A new ULID for now.
    public static func make() -> String { make(milliseconds: UInt64(Timestamp.now().nanoseconds / 1_000_000)) }

    public static func encode(milliseconds: UInt64, randomHigh: UInt16, randomLow: UInt64) -> String {
        // 128 bits: [48 time][80 random] → 26 chars of 5 bits (130 bits, top 2 zero).
        let hi: UInt64 = (milliseconds << 16) | UInt64(randomHigh) // top 64 bits
        let lo: UInt64 = randomLow                                   // bottom 64 bits
        return String(unsafeUninitializedCapacity: 26) { out in
            for k in 0..<26 {
                let shift = 125 - 5 * k // bit index (from LSB of the 128-bit value) of this char's low bit... top char uses 3 bits
                var v: UInt64
                if shift >= 64 {
                    v = hi >> UInt64(shift - 64)
                } else if shift + 5 <= 64 {
                    v = lo >> UInt64(shift)
                    if shift == 0 { v = lo }
                } else {
                    v = (lo >> UInt64(shift)) | (hi << UInt64(64 - shift))
                }
                out[k] = alphabet[Int(v & 0x1F)]
            }
            return 26
        }
    }

    /// Whether `s` is a syntactically valid ULID.
    public static func isValid(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 26, u[0] <= UInt8(ascii: "7") else { return false }
        return u.allSatisfy { c in alphabet.contains(c) }
    }
}
