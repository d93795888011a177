/// Error thrown for malformed JSON, with the byte offset where parsing stopped.
public struct JSONParseError: Error, CustomStringConvertible, Equatable {
    public let offset: Int
    public let reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes that keeps object key order.
public struct JSONParser {
    /// Parses one JSON document; trailing whitespace is allowed, anything else is an error.
    public static func parse<C: Collection>(_ bytes: C) throws -> JSONValue where C.Element == UInt8 {
        if let r = try bytes.withContiguousStorageIfAvailable({ try parse(buffer: $0) }) { return r }
        let a = Array(bytes)
        return try a.withUnsafeBufferPointer { try parse(buffer: $0) }
    }

    public static func parse(_ string: String) throws -> JSONValue {
        var s = string
        return try s.withUTF8 { try parse(buffer: $0) }
    }

    /// Parses one JSON document, leaving out every object member (at any depth) named in
    /// `skipping`: its value is checked as strict JSON but never built (no string made, nothing
    /// allocated). For a reader that needs none of some members (the decoder's OpenAI stream
    /// chunks). Names are matched as written, byte for byte, at every depth.
    public static func parse(buffer: UnsafeBufferPointer<UInt8>, skipping: [String]) throws -> JSONValue {
        try parse(buffer: buffer, skipping: KeySet(skipping))
    }

    /// Member names for `parse(buffer:skipping:)`, prepared once.
    public struct KeySet: Sendable {
        let keys: [[UInt8]]
        public init(_ names: [String]) { keys = names.map { Array($0.utf8) } }
    }

    public static func parse(buffer: UnsafeBufferPointer<UInt8>, skipping: KeySet) throws -> JSONValue {
        var p = Cursor(buf: buffer)
        defer { p.release() }
        p.skipKeys = skipping.keys
        p.skipWS()
        let v = try p.value(depth: 0)
        p.skipWS()
        if p.i != buffer.count { throw p.fail("unexpected data after the JSON value") }
        return v
    }

    public static func parse(buffer: UnsafeBufferPointer<UInt8>) throws -> JSONValue {
        var p = Cursor(buf: buffer)
        defer { p.release() }
        p.skipWS()
        let v = try p.value(depth: 0)
        p.skipWS()
        if p.i != buffer.count { throw p.fail("unexpected data after the JSON value") }
        return v
    }

    struct Cursor {
        let buf: UnsafeBufferPointer<UInt8>
        var i = 0
        /// Members and items of the objects and arrays being read, stacked: each container's
        /// storage is then made once at its final size instead of grown member by member.
        var members = MoveStack<(key: String, value: JSONValue)>()
        var items = MoveStack<JSONValue>()
        /// Member names whose values are checked but not built (`parse(buffer:skipping:)`).
        var skipKeys: [[UInt8]] = []
        init(buf: UnsafeBufferPointer<UInt8>) { self.buf = buf }

        /// Frees the stacks (what a failed parse left on them included).
        mutating func release() { members.release(); items.release() }

        /// Whether the key starting at `i` (its opening quote) is one to skip: then `i` is moved
        /// past its closing quote. Keys with escapes are never skipped.
        mutating func skippedKey() -> Bool {
            guard !skipKeys.isEmpty, let base = buf.baseAddress else { return false }
            let end = scanToStringSpecial(UnsafeRawPointer(base), from: i + 1, count: buf.count)
            guard end < buf.count, buf[end] == 0x22 else { return false }
            let n = end - i - 1
            for k in skipKeys where k.count == n {
                var same = true
                for j in 0..<n where k[j] != base[i + 1 + j] { same = false; break }
                if same { i = end + 1; return true }
            }
            return false
        }

        /// Reads past one value, checking it as `value` would, building nothing.
        mutating func skipValue(depth: Int) throws {
            guard depth < 512 else { throw fail("nesting deeper than 512") }
            guard i < buf.count else { throw fail("unexpected end of input") }
            switch buf[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let object = buf[i] == UInt8(ascii: "{")
                let close = object ? UInt8(ascii: "}") : UInt8(ascii: "]")
                i += 1
                skipWS()
                if i < buf.count && buf[i] == close { i += 1; return }
                while true {
                    skipWS()
                    if object {
                        guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                        try skipString()
                        skipWS()
                        guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                        i += 1
                        skipWS()
                    }
                    try skipValue(depth: depth + 1)
                    skipWS()
                    guard i < buf.count else { throw fail(object ? "unterminated object" : "unterminated array") }
                    if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                    if buf[i] == close { i += 1; return }
                    throw fail(object ? "expected ',' or '}'" : "expected ',' or ']'")
                }
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "t"): try expect("true")
            case UInt8(ascii: "f"): try expect("false")
            case UInt8(ascii: "n"): try expect("null")
            default: _ = try number()
            }
        }

        /// Reads past one string (at its opening quote), checking escapes and control bytes.
        mutating func skipString() throws {
            i += 1
            while true {
                if let base = buf.baseAddress { i = scanToStringSpecial(UnsafeRawPointer(base), from: i, count: buf.count) }
                guard i < buf.count else { throw fail("unterminated string") }
                let c = buf[i]
                if c == 0x22 { i += 1; return }
                if c < 0x20 { throw fail("control character in string") }
                if c != 0x5C { i += 1; continue }
                i += 1
                guard i < buf.count else { throw fail("unterminated string") }
                let e = buf[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): continue
                case UInt8(ascii: "u"): _ = try hex4()
                default: throw fail("invalid escape")
                }
            }
        }

        func fail(_ r: String) -> JSONParseError { JSONParseError(offset: i, reason: r) }

        @inline(__always) mutating func skipWS() {
            while i < buf.count {
                let c = buf[i]
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
            }
        }

        mutating func expect(_ lit: StaticString) throws {
            let n = lit.utf8CodeUnitCount
            guard i + n <= buf.count else { throw fail("truncated literal") }
            let p = lit.utf8Start
            for k in 0..<n where buf[i + k] != p[k] { throw fail("invalid literal") }
            i += n
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 512 else { throw fail("nesting deeper than 512") }
            guard i < buf.count else { throw fail("unexpected end of input") }
            switch buf[i] {
            case UInt8(ascii: "{"):
                i += 1
                skipWS()
                if i < buf.count && buf[i] == UInt8(ascii: "}") { i += 1; return .object(JSONObject()) }
                let base = members.count
                while true {
                    skipWS()
                    guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    if skippedKey() {
                        skipWS()
                        guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                        i += 1
                        skipWS()
                        try skipValue(depth: depth + 1)
                    } else {
                        let k = try string()
                        skipWS()
                        guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                        i += 1
                        skipWS()
                        let v = try value(depth: depth + 1)
                        members.append((k, v)) // duplicate keys: both kept, lookups see the first
                    }
                    skipWS()
                    guard i < buf.count else { throw fail("unterminated object") }
                    if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                    if buf[i] == UInt8(ascii: "}") {
                        i += 1
                        if members.count == base { return .object(JSONObject()) } // every member skipped
                        return .object(JSONObject(uncheckedEntries: members.pop(from: base)))
                    }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                skipWS()
                if i < buf.count && buf[i] == UInt8(ascii: "]") { i += 1; return .array([]) }
                let base = items.count
                while true {
                    skipWS()
                    let v = try value(depth: depth + 1)
                    items.append(v)
                    skipWS()
                    guard i < buf.count else { throw fail("unterminated array") }
                    if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                    if buf[i] == UInt8(ascii: "]") {
                        i += 1
                        return .array(items.pop(from: base))
                    }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            default: return try number()
            }
        }

        mutating func number() throws -> JSONValue {
            let start = i
            var isInt = true
            if i < buf.count && buf[i] == UInt8(ascii: "-") { i += 1 }
            guard i < buf.count, buf[i] >= 0x30 && buf[i] <= 0x39 else { throw fail("invalid value") }
            if buf[i] == 0x30 { i += 1 } else { while i < buf.count && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 } }
            if i < buf.count && buf[i] == UInt8(ascii: ".") {
                isInt = false; i += 1
                guard i < buf.count, buf[i] >= 0x30 && buf[i] <= 0x39 else { throw fail("digit expected after '.'") }
                while i < buf.count && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 }
            }
            if i < buf.count && (buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E")) {
                isInt = false; i += 1
                if i < buf.count && (buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-")) { i += 1 }
                guard i < buf.count, buf[i] >= 0x30 && buf[i] <= 0x39 else { throw fail("digit expected in exponent") }
                while i < buf.count && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 }
            }
            if isInt && i - start <= 18 { // fits an Int64 whatever the digits: no text made
                var k = start, neg = false, v: Int64 = 0
                if buf[k] == UInt8(ascii: "-") { neg = true; k += 1 }
                while k < i { v = v &* 10 &+ Int64(buf[k] &- 0x30); k += 1 }
                return .int(neg ? -v : v)
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)
            if isInt, let v = Int64(text) { return .int(v) }
            guard let d = Double(text) else { throw fail("invalid number") }
            return .double(d)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= buf.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = buf[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("invalid hex digit in \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        mutating func string() throws -> String {
            i += 1 // opening quote
            let start = i
            // Fast path: no escapes (eight bytes at a time to the first quote, backslash or
            // control byte, then byte by byte).
            if let base = buf.baseAddress { i = scanToStringSpecial(UnsafeRawPointer(base), from: i, count: buf.count) }
            while i < buf.count {
                let c = buf[i]
                if c == 0x22 {
                    let s = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)
                    i += 1
                    return s
                }
                if c == 0x5C { break }
                if c < 0x20 { throw fail("control character in string") }
                i += 1
            }
            var out = [UInt8](UnsafeBufferPointer(rebasing: buf[start..<i]))
            while i < buf.count {
                let c = buf[i]
                if c == 0x22 { i += 1; return String(decoding: out, as: UTF8.self) }
                if c < 0x20 { throw fail("control character in string") }
                if c != 0x5C { out.append(c); i += 1; continue }
                i += 1
                guard i < buf.count else { break }
                let e = buf[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        // surrogate pair
                        if i + 6 <= buf.count && buf[i] == 0x5C && buf[i + 1] == UInt8(ascii: "u") {
                            i += 2
                            let lo = try hex4()
                            if lo >= 0xDC00 && lo < 0xE000 {
                                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (lo - 0xDC00)
                            } else { scalar = 0xFFFD }
                        } else { scalar = 0xFFFD }
                    } else if scalar >= 0xDC00 && scalar < 0xE000 { scalar = 0xFFFD }
                    let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    out.append(contentsOf: String(Character(u)).utf8)
                default: throw fail("invalid escape")
                }
            }
            throw fail("unterminated string")
        }
    }
}

/// A stack whose top elements leave by moving into an array of their own: a container's members
/// are stacked while it is read, then moved out at its end (no copy of each key and value and
/// no release of the copies left behind, as an `Array` slice copy and `removeSubrange` did).
/// Freed by `release()` (its owner's parse ends through a `defer`).
struct MoveStack<T> {
    private var base: UnsafeMutablePointer<T>?
    private(set) var count = 0
    private var capacity = 0

    @inline(__always) mutating func append(_ v: T) {
        if count == capacity { grow() }
        (base! + count).initialize(to: v)
        count += 1
    }

    private mutating func grow() {
        let c = Swift.max(16, capacity * 2)
        let b = UnsafeMutablePointer<T>.allocate(capacity: c)
        if let old = base {
            b.moveInitialize(from: old, count: count)
            old.deallocate()
        }
        base = b
        capacity = c
    }

    /// The elements from index `from` on, moved into a new array; the stack drops back to `from`.
    mutating func pop(from: Int) -> [T] {
        let n = count - from
        guard n > 0, let b = base else { return [] }
        let a = [T](unsafeUninitializedCapacity: n) { dst, made in
            dst.baseAddress!.moveInitialize(from: b + from, count: n)
            made = n
        }
        count = from
        return a
    }

    mutating func release() {
        if let b = base {
            b.deinitialize(count: count)
            b.deallocate()
        }
        base = nil; count = 0; capacity = 0
    }
}
