// The reference exporter written in Swift: appends each event as one JSON line to a file. It
// sees only the C header (COISPExporterABI) and the plugin-side kit (OISPExporterKit: the table
// glue, option table, per-thread errors), never the sensor's Swift modules. Its options:
// `fileOptionTable` below (`oisp plugins describe file`).
import COISPExporterABI
import OISPExporterKit
#if canImport(Glibc)
import Glibc
#endif

let fileOptionTable = [
    Option("path", .string, required: true, "File to append events to, one JSON line each"),
]

final class FileOutput: BatchExporter {
    let fd: Int32
    let path: String
    /// The file's length after the last whole line: a write that fails half-way through a line
    /// is cut back to it, so the file only ever holds whole lines (as the C example does).
    var end: off_t
    var buffer: [UInt8] = []

    init(config c: Config, host: PluginHost) throws {
        guard let p = c.string("path"), !p.isEmpty else { throw ConfigError("path", "required (the file to append events to)") }
        path = p
        var f = open(p, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        let readable = f >= 0
        if f < 0 && errno == EACCES { f = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640) } // no repair without reading
        guard f >= 0 else { throw ConfigError("path", "cannot open \(p): \(String(cString: strerror(errno)))") }
        fd = f
        end = lseek(fd, 0, SEEK_END)
        // a run that died half-way through a line (killed, or another plugin crashed the process)
        // left an event torn: never acknowledged, so it is cut off and sent again; someone else's
        // text without a final newline is kept and ended with one
        let whole = readable ? FileOutput.lastWholeLine(fd, end) : end
        var first: UInt8 = 0
        guard whole >= 0, whole == end || pread(fd, &first, 1, whole) == 1 else {
            Glibc.close(fd); throw ConfigError("path", "cannot read \(p): \(String(cString: strerror(errno)))")
        }
        if whole < end && first == UInt8(ascii: "{") {
            guard ftruncate(fd, whole) == 0 else {
                Glibc.close(fd); throw ConfigError("path", "cannot cut a torn last line off \(p): \(String(cString: strerror(errno)))")
            }
            host.warn("cut a torn last line (\(end - whole) bytes) off \(p), left by a run that died mid-write")
            end = whole
        } else if whole < end {
            var nl: UInt8 = 0x0A
            guard write(fd, &nl, 1) == 1 else { Glibc.close(fd); throw ConfigError("path", "cannot write \(p): \(String(cString: strerror(errno)))") }
            end += 1
            host.warn("\(p) did not end with a newline: one was added before the first event")
        }
        host.info("file exporter writing to \(p)")
    }

    /// The file's length up to and including its last newline (0 without one), -1 on a read error.
    static func lastWholeLine(_ fd: Int32, _ size: off_t) -> off_t {
        var buf = [UInt8](repeating: 0, count: 4096), size = size
        while size > 0 {
            let from = max(0, size - off_t(buf.count))
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, Int(size - from), from) }
            guard n > 0 else { return -1 }
            if let i = buf[..<n].lastIndex(of: 0x0A) { return from + off_t(i) + 1 }
            size = from
        }
        return 0
    }

    func export(batch: UnsafePointer<oisp_batch>) -> ExportResult {
        // one write per batch; after a failure, how many whole lines made it is the accepted count
        buffer.removeAll(keepingCapacity: true)
        var lineEnds: [Int] = []
        lineEnds.reserveCapacity(batch.pointee.count)
        for i in 0..<batch.pointee.count {
            let r = batch.pointee.records[i]
            if r.json.len > 0 { buffer.append(contentsOf: UnsafeBufferPointer(start: r.json.ptr, count: r.json.len)) }
            buffer.append(0x0A)
            lineEnds.append(buffer.count)
        }
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                let why = String(cString: strerror(errno))
                let whole = lineEnds.firstIndex { $0 > done } ?? lineEnds.count
                let keep = whole == 0 ? 0 : lineEnds[whole - 1]
                let cut = ftruncate(fd, end + off_t(keep)) == 0 ? "" : "; cutting the partial line off failed: \(String(cString: strerror(errno)))"
                end += off_t(keep)
                return .retry(message: "write \(path): \(why)\(cut)", accepted: whole)
            }
            done += n
        }
        end += off_t(buffer.count)
        return .ok
    }

    func flush() -> ExportResult {
        fsync(fd) == 0 ? .ok : .retry(message: "fsync \(path): \(String(cString: strerror(errno)))")
    }

    func close() { if fd >= 0 { Glibc.close(fd) } }
}

@_cdecl("oisp_exporter_entry")
public func oispExporterEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    guard servesHost(major: hostMajor) else { return nil }
    return table
}

private let table = makePluginTable(name: "file", version: "0.1.0",
                                    description: "Appends each event as one JSON line to a file (Swift reference plugin)",
                                    options: fileOptionTable) { try FileOutput(config: $0, host: $1) as BatchExporter }
