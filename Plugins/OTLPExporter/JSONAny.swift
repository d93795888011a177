import Foundation

/// Integer view of a decoded JSON number (JSONAny from the shared plugin kit).
func num(_ v: Any?) -> Int64? {
    switch v {
    case let i as Int64: return i
    case let i as Int: return Int64(i)
    case let d as Double: return Int64(d)
    default: return nil
    }
}
