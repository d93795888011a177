import Foundation

/// Decodes event JSON into plain Swift values (String, Bool, Int64, Double, [Any], [String: Any])
/// without NSNumber's bool/int ambiguity. The plugin sees only the C ABI, so it carries its own.
enum JSONAny: Decodable {
    case null, bool(Bool), int(Int64), double(Double), string(String), array([JSONAny]), object([String: JSONAny])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONAny].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONAny].self)) }
    }

    var any: Any? {
        switch self {
        case .null: return nil
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map { $0.any as Any }
        case .object(let o): return o.compactMapValues { $0.any }
        }
    }

    /// JSONSerialization (much faster than JSONDecoder for untyped JSON), with NSNumber turned
    /// into Bool / Int64 / Double by its objCType so booleans and integers stay apart.
    static func object(_ bytes: UnsafeBufferPointer<UInt8>) -> [String: Any]? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(bytes)) else { return nil }
        return native(o) as? [String: Any]
    }
}

func num(_ v: Any?) -> Int64? {
    switch v {
    case let i as Int64: return i
    case let i as Int: return Int64(i)
    case let d as Double: return Int64(d)
    default: return nil
    }
}

func native(_ v: Any) -> Any {
    switch v {
    case let d as [String: Any]: return d.mapValues(native)
    case let a as [Any]: return a.map(native)
    case let s as String: return s
    case let n as NSNumber:
        switch String(cString: n.objCType) {
        case "c", "B": return n.boolValue
        case "d", "f": return n.doubleValue
        default: return n.int64Value
        }
    default: return v
    }
}
