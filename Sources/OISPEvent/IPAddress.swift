import Foundation

/// Literal IP addresses, as capture and decode meet them.
public enum IPAddress {
    /// Whether `ip` (IPv4, or IPv6 with or without brackets) is private, loopback or link-local:
    /// 10/8, 127/8, 172.16/12, 192.168/16; ::1, fc00::/7, fe80::/10, and IPv4-mapped IPv6 by its
    /// IPv4 rule. A host name, or anything else, is not.
    public static func isPrivate(_ ip: String) -> Bool {
        let h = ip.hasPrefix("[") && ip.hasSuffix("]") ? String(ip.dropFirst().dropLast()) : ip
        func v4(_ b: [UInt8]) -> Bool {
            b[0] == 10 || b[0] == 127 || (b[0] == 172 && (16...31).contains(b[1])) || (b[0] == 192 && b[1] == 168)
        }
        var a4 = in_addr(), a6 = in6_addr()
        if inet_pton(AF_INET, h, &a4) == 1 { return v4(withUnsafeBytes(of: a4) { Array($0) }) }
        guard inet_pton(AF_INET6, h, &a6) == 1 else { return false }
        let b = withUnsafeBytes(of: a6) { Array($0) }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true } // ::1
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return v4(Array(b[12..<16])) }
        return b[0] & 0xfe == 0xfc || (b[0] == 0xfe && b[1] & 0xc0 == 0x80)
    }
}
