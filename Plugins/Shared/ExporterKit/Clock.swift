// Dates as the Fluent Bit outputs write them.
import Foundation

/// `<strftime(format) of the second>.<microseconds, six digits, truncated>` for nanosecond
/// timestamps, as the Fluent Bit outputs write dates. The calendar text is made once per
/// second: a batch's records mostly share theirs.
public struct SecondsClock {
    let format: String
    var second = Int64.min
    var text: [UInt8] = []
    public init(format: String) { self.format = format }

    /// The whole second `ns` falls in (rounded down, also before 1970).
    public static func second(_ ns: Int64) -> Int64 { ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000 }

    public mutating func append(_ ns: Int64, to out: inout [UInt8]) {
        let sec = SecondsClock.second(ns)
        if sec != second { second = sec; text = Array(strftimeUTC(format, Int(sec)).utf8) }
        out.append(contentsOf: text)
        out.append(UInt8(ascii: "."))
        appendSixDigits((ns - sec * 1_000_000_000) / 1000, to: &out)
    }
}

/// `v` (0…999999) as exactly six decimal digits.
public func appendSixDigits(_ v: Int64, to out: inout [UInt8]) {
    var d: Int64 = 100_000
    while d > 0 { out.append(UInt8(48 + (v / d) % 10)); d /= 10 }
}

/// strftime in UTC.
public func strftimeUTC(_ format: String, _ seconds: Int) -> String {
    var t = time_t(seconds)
    var tmv = tm()
    gmtime_r(&t, &tmv)
    var buf = [CChar](repeating: 0, count: 512)
    let n = strftime(&buf, buf.count, format, &tmv)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
