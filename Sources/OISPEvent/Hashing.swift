import CZlibCrypto

/// SHA-256 and HMAC-SHA-256 (OpenSSL libcrypto), written `sha256:<hex>` as in the OISP spec.
public enum Hashing {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    private static let unkeyed = KeyedHash(key: [])

    static func hex(_ bytes: UnsafeBufferPointer<UInt8>, prefix: StaticString = "") -> String {
        // written into the string's own storage: no array first
        let p = prefix.utf8CodeUnitCount
        return String(unsafeUninitializedCapacity: p + bytes.count * 2) { out in
            for i in 0..<p { out[i] = prefix.utf8Start[i] }
            var j = p
            for b in bytes { out[j] = hexDigits[Int(b >> 4)]; out[j + 1] = hexDigits[Int(b & 15)]; j += 2 }
            return j
        }
    }

    /// Raw SHA-256 digest (from a prepared digest state: OpenSSL 3's one-shot `SHA256()` looks
    /// the algorithm up on every call).
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBufferPointer { unkeyed.digest($0) }
    }

    /// Keyed hash (HMAC-SHA-256 with `key`, plain SHA-256 when the key is empty), as `sha256:<hex>`.
    /// A caller that hashes many texts under one key keeps a `KeyedHash` instead.
    public static func keyed(_ data: [UInt8], key: [UInt8]) -> String {
        let h = key.isEmpty ? unkeyed : KeyedHash(key: key)
        return data.withUnsafeBufferPointer { h.hash($0) }
    }

    public static func keyed(_ s: String, key: [UInt8]) -> String { keyed(Array(s.utf8), key: key) }

    /// Tells libcrypto not to free its global state from an `atexit` handler: threads that are
    /// still running when the process exits (an exporter's send threads, dispatch workers, a
    /// plugin's own) may be using it, and freeing it under them crashed a `replay` at exit. The
    /// kernel reclaims the memory. Call first thing in `main`, before anything uses libcrypto.
    public static func keepLibcryptoStateAtExit() {
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
    }

    /// Lowercase hex of bytes.
    public static func hexString(_ bytes: [UInt8]) -> String { bytes.withUnsafeBufferPointer { hex($0) } }
    public static func hexString(_ bytes: ArraySlice<UInt8>) -> String { bytes.withUnsafeBufferPointer { hex($0) } }
}

/// HMAC-SHA-256 (plain SHA-256 for an empty key) with one key, the key's padded inner and outer
/// digest states computed once: OpenSSL 3's one-shot `HMAC()` looks the algorithm up again on
/// every call, about six times the cost of the hash itself for a short text. Same results as
/// `Hashing.keyed`. Safe to use from several threads (the prepared states are only copied).
public final class KeyedHash: @unchecked Sendable {
    private let md: OpaquePointer
    private let inner: OpaquePointer
    private let outer: OpaquePointer?

    public init(key: [UInt8]) {
        md = EVP_MD_fetch(nil, "SHA256", nil)
        inner = EVP_MD_CTX_new()
        EVP_DigestInit_ex(inner, md, nil)
        guard !key.isEmpty else { outer = nil; return }
        // RFC 2104: a key longer than the block is hashed first; then zero-padded to 64 bytes
        var k = key.count > 64 ? Hashing.sha256(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        let o = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(o, md, nil)
        let ipad = k.map { $0 ^ 0x36 }, opad = k.map { $0 ^ 0x5C }
        EVP_DigestUpdate(inner, ipad, 64)
        EVP_DigestUpdate(o, opad, 64)
        outer = o
    }

    deinit {
        EVP_MD_CTX_free(inner)
        if let outer { EVP_MD_CTX_free(outer) }
        EVP_MD_free(md)
    }

    /// The raw 32-byte digest of `data` under the key.
    public func digest(_ data: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var md = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 32
        let c = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(c) }
        EVP_MD_CTX_copy_ex(c, inner)
        EVP_DigestUpdate(c, data.baseAddress, data.count)
        EVP_DigestFinal_ex(c, &md, &len)
        if let outer {
            EVP_MD_CTX_copy_ex(c, outer)
            EVP_DigestUpdate(c, md, 32)
            EVP_DigestFinal_ex(c, &md, &len)
        }
        return md
    }

    /// `sha256:<hex>` of `data` under the key.
    public func hash(_ data: UnsafeBufferPointer<UInt8>) -> String {
        digest(data).withUnsafeBufferPointer { Hashing.hex($0, prefix: "sha256:") }
    }

    public func hash(_ s: String) -> String {
        var s = s
        return s.withUTF8 { hash($0) }
    }
}
