import CZlibCrypto

/// SHA-256 and HMAC-SHA-256 (OpenSSL libcrypto), written `sha256:<hex>` as in the OISP spec.
public enum Hashing {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Raw SHA-256 digest.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var md = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBufferPointer { d in _ = SHA256(d.baseAddress, d.count, &md) }
        return md
    }

    /// Keyed hash (HMAC-SHA-256 with `key`, plain SHA-256 when the key is empty), as `sha256:<hex>`.
    public static func keyed(_ data: [UInt8], key: [UInt8]) -> String {
        var md = [UInt8](repeating: 0, count: 32)
        if key.isEmpty {
            data.withUnsafeBufferPointer { d in _ = SHA256(d.baseAddress, d.count, &md) }
        } else {
            var len: UInt32 = 32
            key.withUnsafeBufferPointer { k in
                data.withUnsafeBufferPointer { d in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress, d.count, &md, &len)
                }
            }
        }
        return "sha256:" + md.withUnsafeBufferPointer { hex($0) }
    }

    public static func keyed(_ s: String, key: [UInt8]) -> String { keyed(Array(s.utf8), key: key) }

    /// Lowercase hex of bytes.
    public static func hexString(_ bytes: [UInt8]) -> String { bytes.withUnsafeBufferPointer { hex($0) } }
}
