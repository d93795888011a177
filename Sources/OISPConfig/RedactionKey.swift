#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The key of every keyed hash the sensor writes (`auth.key_hash`, redaction markers): the
/// configured `hash_salt`, else a random per-install key kept in `[redaction] key_file`
/// (created 0600 on first run, kept across restarts). A key derived from public facts (the
/// machine id) would let anyone brute-force low-entropy values (SSNs, phone numbers) from their
/// hashes, so none is used.
public struct RedactionKey: Sendable, Equatable {
    public enum Origin: Sendable, Equatable {
        /// `hash_salt` (the same hashes on every node that shares it)
        case salt
        /// read from the key file
        case file(String)
        /// created now in the key file
        case created(String)
        /// the key file could not be read or written: a random key for this process only
        case ephemeral(path: String, reason: String)
    }
    public let bytes: [UInt8]
    public let origin: Origin

    /// What `config check` and the start-up log say about the key (never the key).
    public var summary: String {
        switch origin {
        case .salt: return "hash key: [redaction] hash_salt"
        case .file(let p): return "hash key: per-install random key in \(p)"
        case .created(let p): return "hash key: per-install random key created in \(p) (0600)"
        case .ephemeral(let p, let why):
            return "hash key: random for this process only (hashes change at restart): \(p): \(why); set [redaction] hash_salt or make the key file writable"
        }
    }

    nonisolated(unsafe) private static var cache: [String: RedactionKey] = [:]
    private static let lock = NSLock()

    /// The key for `config`, read or created once per process and key file.
    public static func resolve(_ config: SensorConfig.Redaction) -> RedactionKey {
        if let salt = config.hashSalt, !salt.isEmpty { return RedactionKey(bytes: Array(salt.utf8), origin: .salt) }
        let path = config.keyFile
        lock.lock()
        defer { lock.unlock() }
        if let k = cache[path] { return k }
        let k = load(path)
        cache[path] = k
        return k
    }

    static func random() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    static func load(_ path: String) -> RedactionKey {
        if let d = FileManager.default.contents(atPath: path) {
            let hex = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if let bytes = fromHex(hex), bytes.count >= 16 { return RedactionKey(bytes: bytes, origin: .file(path)) }
            return RedactionKey(bytes: random(), origin: .ephemeral(path: path, reason: "not a hex key of at least 16 bytes"))
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                return RedactionKey(bytes: random(), origin: .ephemeral(path: path, reason: "cannot create \(dir): \(String(cString: strerror(errno)))"))
            }
        }
        let bytes = random()
        let text = bytes.map { String(format: "%02x", $0) }.joined() + "\n"
        // O_EXCL: two sensors starting at once agree on the file that won
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            let e = errno
            if e == EEXIST, let d = FileManager.default.contents(atPath: path),
               let b = fromHex(String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), b.count >= 16 {
                return RedactionKey(bytes: b, origin: .file(path))
            }
            return RedactionKey(bytes: bytes, origin: .ephemeral(path: path, reason: String(cString: strerror(e))))
        }
        let ok = text.utf8CString.withUnsafeBufferPointer { p in write(fd, p.baseAddress, p.count - 1) == p.count - 1 } && fsync(fd) == 0
        close(fd)
        if !ok {
            unlink(path)
            return RedactionKey(bytes: bytes, origin: .ephemeral(path: path, reason: "writing the key failed"))
        }
        return RedactionKey(bytes: bytes, origin: .created(path))
    }

    static func fromHex(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0, !u.isEmpty else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < u.count {
            guard let h = v(u[i]), let l = v(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }
}
