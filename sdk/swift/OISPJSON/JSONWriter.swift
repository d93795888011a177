/// Serialises JSON straight into a byte buffer: no intermediate strings, no Foundation.
/// Output is compact (no spaces), keys in insertion order, non-ASCII passed through as UTF-8.
public struct JSONWriter {
    public var bytes: [UInt8]

    public init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always) public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Writes `s` as a quoted, escaped JSON string.
    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { string(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// Writes UTF-8 bytes as a quoted, escaped JSON string (runs of plain bytes copied whole).
    public mutating func string(utf8 buf: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        var i = 0
        let n = buf.count
        while i < n {
            // eight bytes at a time to the next byte that needs an escape
            if let base = buf.baseAddress { i = scanToStringSpecial(base, from: i, count: n) }
            guard i < n else { break }
            let c = buf[i]
            if c >= 0x20 && c != 0x22 && c != 0x5C { i += 1; continue }
            if start < i { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[start..<i])) }
            switch c {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
            case 0x08: bytes.append(0x5C); bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(0x5C); bytes.append(UInt8(ascii: "f"))
            default:
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30,
                                          JSONWriter.hex[Int(c >> 4)], JSONWriter.hex[Int(c & 0xF)]])
            }
            i += 1
            start = i
        }
        if start < n { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[start..<n])) }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func int(_ v: Int64) { JSONWriter.appendDecimal(v, to: &bytes) }

    /// Appends `v` in decimal (as `"\(v)"` spells it) to any byte buffer.
    public static func appendDecimal(_ v: Int64, to bytes: inout [UInt8]) {
        if v == 0 { bytes.append(0x30); return }
        var x = v.magnitude
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { p in
            while x > 0 { p[n] = UInt8(48 + x % 10); x /= 10; n += 1 }
            var j = n - 1
            while j >= 0 { bytes.append(p[j]); j -= 1 }
        }
    }

    public mutating func double(_ d: Double) {
        if !d.isFinite { raw("null"); return }
        if d.rounded() == d && abs(d) < 1e15 {
            int(Int64(d)); raw(".0"); return
        }
        bytes.append(contentsOf: d.description.utf8)
    }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: raw("null")
        case .bool(let b): if b { raw("true") } else { raw("false") }
        case .int(let i): int(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            var first = true
            for e in a {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                value(e)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let o): object(o)
        }
    }

    public mutating func object(_ o: JSONObject) {
        bytes.append(UInt8(ascii: "{"))
        var first = true
        for (k, v) in o {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            string(k)
            bytes.append(UInt8(ascii: ":"))
            value(v)
        }
        bytes.append(UInt8(ascii: "}"))
    }
}

extension JSONValue {
    /// Compact JSON bytes of this value.
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.value(self)
        return w.bytes
    }
    /// Compact JSON text of this value.
    public func jsonString() -> String { String(decoding: jsonBytes(), as: UTF8.self) }
}
