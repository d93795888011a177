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
        let secs = nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000
        let micros = Int((nanoseconds - secs * 1_000_000_000) / 1000)
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let sod = Int(secs - days * 86_400)
        let (y, mon, mday) = Timestamp.civil(fromDays: days)
        func d2(_ v: Int, _ out: inout [UInt8]) { out.append(UInt8(48 + v / 10)); out.append(UInt8(48 + v % 10)) }
        let yy = Int(y)
        o.append(UInt8(48 + (yy / 1000) % 10)); o.append(UInt8(48 + (yy / 100) % 10))
        o.append(UInt8(48 + (yy / 10) % 10)); o.append(UInt8(48 + yy % 10))
        o.append(UInt8(ascii: "-")); d2(mon, &o)
        o.append(UInt8(ascii: "-")); d2(mday, &o)
        o.append(UInt8(ascii: "T")); d2(sod / 3600, &o)
        o.append(UInt8(ascii: ":")); d2(sod / 60 % 60, &o)
        o.append(UInt8(ascii: ":")); d2(sod % 60, &o)
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
        // as timegm: a day or second past the month's or minute's end carries over
        let secs = Timestamp.days(fromCivil: Int64(year), mon, day) * 86_400 + Int64(hh * 3600 + mm * 60 + ss) - Int64(offset)
        // nanoseconds since 1970 fit in Int64 until 2262: later (or absurd) years are malformed here
        let (ns, overflow) = secs.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, ns <= Int64.max - frac else { return nil }
        return ns + frac
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (month 1...12; a day past the month's
    /// end carries over, as with timegm). H. Hinnant's days_from_civil.
    static func days(fromCivil year: Int64, _ month: Int, _ day: Int) -> Int64 {
        let y = year - (month <= 2 ? 1 : 0)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = Int64((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1)
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day count since 1970-01-01 (the inverse of `days(fromCivil:)`).
    static func civil(fromDays d: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = d + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
