import Foundation
import OISPPipeline

/// The sensor's event stream on a local unix socket, for `oisp top`: every redacted event as one
/// JSON line to every connected client. Root-only (the socket is 0600 in a 0700 directory it
/// creates). Never slows the pipeline: a client that cannot keep up (its socket buffer full) is
/// disconnected, and nothing is kept for a client that is not there.
public final class EventSocketSink: ExportSink, @unchecked Sendable {
    public let path: String
    private let listenFD: Int32
    private let lock = NSLock()
    private var clients: [Int32] = []
    private var closed = false

    struct SocketError: Error, CustomStringConvertible {
        let path: String, what: String, err: Int32
        var description: String { "events socket \(path): \(what): \(String(cString: strerror(err)))" }
    }

    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) { mkdir(dir, 0o700) }
        // a socket left by an earlier run is replaced; anything else at the path is an error, never deleted
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else { throw SocketError(path: path, what: "exists and is not a socket (not replaced)", err: EEXIST) }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(path: path, what: "socket", err: errno) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { Glibc.close(fd); throw SocketError(path: path, what: "path too long", err: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let old = umask(0o177) // the socket file is born 0600
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard rc == 0 else { let e = errno; Glibc.close(fd); throw SocketError(path: path, what: "bind", err: e) }
        chmod(path, 0o600)
        guard listen(fd, 8) == 0 else { let e = errno; Glibc.close(fd); throw SocketError(path: path, what: "listen", err: e) }
        listenFD = fd
        Thread.detachNewThread { [weak self] in self?.acceptLoop() }
    }

    private func acceptLoop() {
        while true {
            let c = accept(listenFD, nil, nil)
            if c < 0 {
                if errno == EINTR { continue }
                return // closed
            }
            _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            _ = setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
            lock.withLock { if closed { Glibc.close(c) } else { clients.append(c) } }
        }
    }

    public var acceptsConcurrentExports: Bool { false }

    public func export(_ batch: ExportBatch) -> ExportOutcome {
        let cs = lock.withLock { clients }
        guard !cs.isEmpty else { return .ok }
        var buf = [UInt8]()
        for r in batch.records { buf += r.json; buf.append(0x0A) }
        var gone: [Int32] = []
        for c in cs {
            var off = 0
            while off < buf.count {
                let n = buf[off...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 { off += n; continue }
                if n < 0 && errno == EINTR { continue }
                gone.append(c); break // full (too slow) or gone
            }
        }
        if !gone.isEmpty {
            lock.withLock { clients.removeAll { gone.contains($0) } }
            for c in gone { Glibc.close(c) }
        }
        return .ok
    }

    public func flush(timeoutMs: Int) -> ExportOutcome { .ok }

    public func close() {
        let cs = lock.withLock { () -> [Int32] in closed = true; let c = clients; clients = []; return c }
        for c in cs { Glibc.close(c) }
        shutdown(listenFD, Int32(SHUT_RDWR))
        Glibc.close(listenFD)
        var st = stat()
        if lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
    }
}
