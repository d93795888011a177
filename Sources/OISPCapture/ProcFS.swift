#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Reading files under /proc. They report a size of 0, and Foundation's
/// `String(contentsOfFile:)` and `FileManager.contents(atPath:)` stop after one read of about a
/// page there: `/proc/<pid>/maps` past its first ~25 mappings and `/proc/<pid>/net/tcp` past its
/// first ~27 sockets were never seen. These read to the end of the file.
public enum ProcFS {
    /// The whole file (or its first `limit` bytes), or nil when it cannot be opened (the process
    /// is gone, no permission).
    public static func read(_ path: String, limit: Int = .max) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return out.isEmpty ? nil : out }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<min(n, limit - out.count)])
            if out.count >= limit { return out }
        }
    }

    /// The whole file as text (UTF-8, invalid bytes replaced), or nil.
    public static func text(_ path: String) -> String? {
        read(path).map { String(decoding: $0, as: UTF8.self) }
    }
}
