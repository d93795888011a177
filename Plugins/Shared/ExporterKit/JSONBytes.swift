// JSON as bytes and as plain Swift values, on the SDK's JSON module.
import Foundation
import OISPJSON

/// Appends `s` to `out` as a quoted JSON string (the SDK's JSON writer: RFC 8259 escapes,
/// UTF-8 passed through, runs of plain bytes copied whole).
public func appendJSONString(_ s: UnsafeRawBufferPointer, to out: inout [UInt8]) {
    var w = JSONWriter(capacity: 0)
    swap(&w.bytes, &out)
    w.string(utf8: s)
    swap(&w.bytes, &out)
}

public func appendJSONString(_ s: [UInt8], to out: inout [UInt8]) { s.withUnsafeBytes { appendJSONString($0, to: &out) } }
public func appendJSONString(_ s: Data, to out: inout [UInt8]) { s.withUnsafeBytes { appendJSONString($0, to: &out) } }
public func appendJSONString(_ s: String, to out: inout [UInt8]) {
    var s = s
    s.withUTF8 { appendJSONString(UnsafeRawBufferPointer($0), to: &out) }
}

/// JSON as plain Swift values (`[String: Any]` with String / Bool / Int64 / Double / arrays), read
/// with the SDK's parser: booleans and integers stay apart, no Foundation bridging.
public enum JSONAny {
    public static func object(_ d: Data) -> [String: Any]? {
        guard let v = try? JSONParser.parse(d), case .object(let o) = v else { return nil }
        return native(o)
    }

    static func native(_ o: JSONObject) -> [String: Any] {
        var out: [String: Any] = [:]
        out.reserveCapacity(o.count)
        for (k, v) in o where out[k] == nil { if let x = native(v) { out[k] = x } }
        return out
    }

    static func native(_ v: JSONValue) -> Any? {
        switch v {
        case .null: return nil
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map { native($0) as Any }
        case .object(let o): return native(o)
        }
    }
}
