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
        // read for every exec and every process scan: an uninitialised buffer, not a zeroed array
        let size = 16384
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buf.deallocate() }
        while true {
            let n = Glibc.read(fd, buf, size)
            if n < 0 { if errno == EINTR { continue }; return out.isEmpty ? nil : out }
            if n == 0 { return out }
            out.append(buf.assumingMemoryBound(to: UInt8.self), count: min(n, limit - out.count))
            if out.count >= limit { return out }
        }
    }

    /// Where a symbolic link points (readlink(2)), or nil. For /proc/<pid>/exe, cwd and fd
    /// links, read for every exec: Foundation's FileManager costs several times the syscall.
    public static func link(_ path: String) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(PATH_MAX) + 1) { b -> String? in
            let n = readlink(path, b.baseAddress!, Int(PATH_MAX))
            guard n > 0 else { return nil }
            return String(decoding: UnsafeRawBufferPointer(start: b.baseAddress!, count: n), as: UTF8.self)
        }
    }

    /// The whole file as text (UTF-8, invalid bytes replaced), or nil.
    public static func text(_ path: String) -> String? {
        read(path).map { String(decoding: $0, as: UTF8.self) }
    }
}
