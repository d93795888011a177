#if canImport(Glibc)
import Glibc
#endif

/// A UTC instant with nanosecond resolution, written as RFC 3339 with microseconds
/// (`2025-12-22T14:30:16.345678Z`).
public struct Timestamp: Equatable, Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the Unix epoch.
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    /// Monotonic clock in nanoseconds (for `ts_mono` and durations).
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }

    public var description: String { rfc3339 }

    /// RFC 3339 UTC with microsecond precision.
    public var rfc3339: String {
        var o: [UInt8] = []
        o.reserveCapacity(27)
        writeRFC3339(into: &o)
        return String(decoding: o, as: UTF8.self)
    }

    /// Appends the RFC 3339 text (27 bytes) to `o` without intermediate strings.
    public func writeRFC3339(into o: inout [UInt8]) {
        var secs = time_t(nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000)
        let micros = Int((nanoseconds - Int64(secs) * 1_000_000_000) / 1000)
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        func d2(_ v: Int32, _ out: inout [UInt8]) { out.append(UInt8(48 + v / 10)); out.append(UInt8(48 + v % 10)) }
        let y = Int(tmv.tm_year) + 1900
        o.append(UInt8(48 + (y / 1000) % 10)); o.append(UInt8(48 + (y / 100) % 10))
        o.append(UInt8(48 + (y / 10) % 10)); o.append(UInt8(48 + y % 10))
        o.append(UInt8(ascii: "-")); d2(tmv.tm_mon + 1, &o)
        o.append(UInt8(ascii: "-")); d2(tmv.tm_mday, &o)
        o.append(UInt8(ascii: "T")); d2(tmv.tm_hour, &o)
        o.append(UInt8(ascii: ":")); d2(tmv.tm_min, &o)
        o.append(UInt8(ascii: ":")); d2(tmv.tm_sec, &o)
        o.append(UInt8(ascii: "."))
        let m = micros
        var div = 100_000
        while div > 0 { o.append(UInt8(48 + (m / div) % 10)); div /= 10 }
        o.append(UInt8(ascii: "Z"))
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`), returning nil when malformed.
    public init?(rfc3339 str: String) {
        var str = str
        guard let v = str.withUTF8({ Timestamp.parse(rfc3339: $0) }) else { return nil }
        self.nanoseconds = v
    }

    /// Parses RFC 3339 bytes into nanoseconds since the epoch, or nil when malformed.
    public static func parse(rfc3339 u: UnsafeBufferPointer<UInt8>) -> Int64? {
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for k in a..<(a + n) {
                guard u[k] >= 48 && u[k] <= 57 else { return nil }
                v = v * 10 + Int(u[k] - 48)
            }
            return v
        }
        guard u.count >= 20, let year = num(0, 4), u[4] == 45, let mon = num(5, 2), u[7] == 45,
              let day = num(8, 2), u[10] == 84 || u[10] == 116 || u[10] == 32, let hh = num(11, 2), u[13] == 58,
              let mm = num(14, 2), u[16] == 58, let ss = num(17, 2),
              (1...12).contains(mon), (1...31).contains(day), hh < 24, mm < 60, ss <= 60 else { return nil }
        var i = 19
        var frac: Int64 = 0
        if i < u.count && u[i] == 46 {
            i += 1
            var digits = 0
            while i < u.count && u[i] >= 48 && u[i] <= 57 {
                if digits < 9 { frac = frac * 10 + Int64(u[i] - 48) }
                digits += 1; i += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 9)..<9 { frac *= 10 }
        }
        guard i < u.count else { return nil }
        var offset = 0
        if u[i] == 90 || u[i] == 122 { i += 1 }
        else if u[i] == 43 || u[i] == 45 {
            guard let oh = num(i + 1, 2), i + 3 < u.count, u[i + 3] == 58, let om = num(i + 4, 2) else { return nil }
            offset = (oh * 60 + om) * 60 * (u[i] == 43 ? 1 : -1)
            i += 6
        } else { return nil }
        guard i == u.count else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900); t.tm_mon = Int32(mon - 1); t.tm_mday = Int32(day)
        t.tm_hour = Int32(hh); t.tm_min = Int32(mm); t.tm_sec = Int32(ss)
        let secs = Int64(timegm(&t)) - Int64(offset)
        // nanoseconds since 1970 fit in Int64 until 2262: later (or absurd) years are malformed here
        let (ns, overflow) = secs.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, ns <= Int64.max - frac else { return nil }
        return ns + frac
    }
}
