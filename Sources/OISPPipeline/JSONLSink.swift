#if canImport(Glibc)
import Glibc
#endif
import OISPEvent

/// The built-in JSONL output (`record --output FILE`, `[export.jsonl]`): one event per line,
/// appended, each batch written with a single write(2) so a reader tailing the file (Fluent
/// Bit's `tail` input) never sees a partial line at EOF. Optional size-based rotation.
/// `path = "-"` writes to stdout.
public final class JSONLSink: ExportSink {
    public let path: String
    private var fd: Int32 = -1
    private let rotateBytes: Int64
    private let maxFiles: Int
    private var size: Int64 = 0
    private var buffer: [UInt8] = []

    /// - Parameters:
    ///   - path: file to append to, or "-" for stdout.
    ///   - rotateBytes: rotate when the file would grow past this size (0 = never).
    ///   - maxFiles: rotated files kept (`FILE.1` … `FILE.N`).
    public init(path: String, rotateBytes: Int64 = 0, maxFiles: Int = 5) throws {
        self.path = path
        self.rotateBytes = rotateBytes
        self.maxFiles = max(1, maxFiles)
        try open()
    }

    /// Builds the sink from an `[export.jsonl]` table (`path`, `rotate_bytes`, `max_files`).
    public convenience init(settings: JSONObject) throws {
        let path = settings["path"]?.stringValue ?? settings["output"]?.stringValue ?? "-"
        try self.init(path: path, rotateBytes: settings["rotate_bytes"]?.intValue ?? 0,
                      maxFiles: Int(settings["max_files"]?.intValue ?? 5))
    }

    public struct OpenError: Error, CustomStringConvertible {
        public let path: String
        public let errno: Int32
        public var description: String { "cannot open \(path) for appending: \(String(cString: strerror(errno)))" }
    }

    private func open() throws {
        if path == "-" { fd = STDOUT_FILENO; return }
        fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw OpenError(path: path, errno: errno) }
        var st = stat()
        if fstat(fd, &st) == 0 { size = Int64(st.st_size) }
    }

    private func rotate() {
        guard path != "-" else { return }
        Glibc.close(fd)
        for i in stride(from: maxFiles - 1, through: 1, by: -1) {
            _ = Glibc.rename("\(path).\(i)", "\(path).\(i + 1)")
        }
        _ = Glibc.rename(path, "\(path).1")
        size = 0
        try? open()
    }

    public func export(_ batch: ExportBatch) -> ExportOutcome {
        buffer.removeAll(keepingCapacity: true)
        for r in batch.records {
            buffer.append(contentsOf: r.json)
            buffer.append(0x0A)
        }
        if rotateBytes > 0 && size > 0 && size + Int64(buffer.count) > rotateBytes { rotate() }
        guard fd >= 0 else {
            do { try open() } catch { return .retry(accepted: 0, retryAfterMs: nil, message: "\(error)") }
            return export(batch)
        }
        var written = 0
        let total = buffer.count
        while written < total {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, total - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let msg = "write to \(path) failed: \(String(cString: strerror(errno)))"
                if written > 0 {
                    // Never leave half a line: cut the file back to the last full line we wrote.
                    if path != "-" { _ = ftruncate(fd, off_t(size)) }
                }
                return .retry(accepted: 0, retryAfterMs: nil, message: msg)
            }
            written += n
        }
        size += Int64(total)
        return .ok
    }

    public func flush(timeoutMs: Int) -> ExportOutcome {
        if fd >= 0 && path != "-" { _ = fsync(fd) }
        return .ok
    }

    public func close() {
        if fd >= 0 && fd != STDOUT_FILENO { Glibc.close(fd) }
        fd = -1
    }
}
