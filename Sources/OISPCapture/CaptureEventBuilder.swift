import COISPBPF
import Foundation
import OISPEvent

/// Turns kernel records into OISP events (`process.exec`, `process.exit`, `network.connect`)
/// and plaintext chunks attributed to their connection, with process facts from /proc.
public final class CaptureEventBuilder: @unchecked Sendable {
    public let processes = ProcessTable()
    private let host: OISPEvent.Host
    private let sensorName: String?
    private let version: String
    private let processFilter: Set<String>
    private let pidFilter: Set<Int64>
    private let monoToWallOffset: Int64
    private var lastConnect: [Int64: (ip: String, port: Int)] = [:]      // by tid
    private var lastConnectByPid: [Int64: (ip: String, port: Int)] = [:]
    private var sslPeer: [PlaintextChunk.ConnectionID: (ip: String, port: Int)] = [:]
    /// Processes with a stream whose peer could not be found (a server's accepted connections, TLS
    /// over a pipe or a BIO pair): when /proc may be walked again and the wait after that. Walking
    /// /proc/<pid>/net/tcp costs milliseconds on a node with many sockets (the kernel scans its
    /// whole connection table), so a process is looked at again after 1 s, then 2, 4, ... 64 s, not
    /// per stream or per chunk. Only connections opened before the sensor started need the walk
    /// (later ones are known from their connect), and those are all there at the first look.
    private var sslPeerMiss: [Int64: (next: UInt64, wait: UInt64)] = [:]
    /// Calls cut with their end to follow (OISP_FLAG_TAIL), by connection and direction: where the
    /// bytes left out begin. The end's first record says where they end.
    private var cutsAwaitingTail: [CutKey: (from: Int, total: Int)] = [:]
    private struct CutKey: Hashable { var id: PlaintextChunk.ConnectionID; var isWrite: Bool }

    public init(hostname: String, sensorName: String?, version: String, processFilter: [String] = [], pidFilter: [Int64] = []) {
        host = OISPEvent.Host(hostname: hostname, os: "linux", arch: CaptureEventBuilder.arch())
        self.sensorName = sensorName
        self.version = version
        self.processFilter = Set(processFilter)
        self.pidFilter = Set(pidFilter)
        var rt = timespec(), mt = timespec()
        clock_gettime(CLOCK_REALTIME, &rt)
        clock_gettime(CLOCK_MONOTONIC, &mt)
        monoToWallOffset = (Int64(rt.tv_sec) - Int64(mt.tv_sec)) * 1_000_000_000 + (Int64(rt.tv_nsec) - Int64(mt.tv_nsec))
    }

    static func arch() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    func wall(_ mono: UInt64) -> Timestamp { Timestamp(nanoseconds: Int64(mono) + monoToWallOffset) }

    func source(_ method: String, _ point: String) -> OISPEvent.Source {
        OISPEvent.Source(collectorVersion: version, captureMethod: method, capturePoint: point, sensorHost: sensorName)
    }

    /// Whether events of this process pass `process_filter` / `--pid`.
    public func wanted(pid: Int64, comm: String, exe: String?) -> Bool {
        if !pidFilter.isEmpty && !pidFilter.contains(pid) { return false }
        if processFilter.isEmpty { return true }
        if processFilter.contains(comm) { return true }
        if let exe, processFilter.contains((exe as NSString).lastPathComponent) { return true }
        return false
    }

    /// Output of one batch of records.
    public struct Output {
        public var events: [OISPEvent] = []
        public var chunks: [PlaintextChunk] = []
    }

    /// Also turn every chunk into a `capture.ssl_data` event, in order with the others.
    public var emitRawEvents = false

    public func process(_ records: [CaptureRecord]) -> Output {
        var out = Output()
        for r in records {
            switch r {
            case .exec(let pid, let ppid, let uid, let ts, let comm, let filename):
                var p = ProcessTable.read(pid: Int64(pid))
                processes.takeExecContainer(&p)
                p.ppid = Int64(ppid)
                p.uid = Int64(uid)
                if p.exe == nil { p.exe = filename }
                if p.name == nil { p.name = comm }
                p.startMono = ts
                let args = p.args ?? []
                p.args = nil
                processes.set(p)
                guard wanted(pid: Int64(pid), comm: comm, exe: p.exe) else { continue }
                var data = JSONObject()
                data["exe"] = .string(p.exe ?? filename)
                data["args"] = .array(args.map { .string($0) })
                data.set("cwd", p.cwd.map(JSONValue.string))
                let shells: Set<String> = ["sh", "bash", "dash", "zsh", "fish"]
                data["is_shell"] = .bool(shells.contains(p.name ?? comm))
                out.events.append(OISPEvent(eventType: "process.exec", ts: wall(ts), tsMono: ts, host: host,
                                            actor: .init(uid: Int64(uid)), process: p.oisp,
                                            source: source("ebpf_tracepoint", "sched_process_exec"),
                                            confidence: .init(level: "high", completeness: "full", reasons: ["kernel_tracepoint"]),
                                            data: data))
            case .exit(let pid, let ppid, let uid, let ts, let comm, let status):
                var p = processes.exited(Int64(pid), now: ts) ?? ProcessInfoRecord(pid: Int64(pid), ppid: Int64(ppid), uid: Int64(uid), name: comm)
                if p.ppid == nil { p.ppid = Int64(ppid) }
                lastConnectByPid[Int64(pid)] = nil
                sslPeer = sslPeer.filter { $0.key.pid != Int64(pid) }
                sslPeerMiss[Int64(pid)] = nil
                if !cutsAwaitingTail.isEmpty { cutsAwaitingTail = cutsAwaitingTail.filter { $0.key.id.pid != Int64(pid) } }
                guard wanted(pid: Int64(pid), comm: comm, exe: p.exe) else { continue }
                let sig = status & 0x7f
                let code = (status >> 8) & 0xff
                var data = JSONObject()
                data["exit_code"] = .int(Int64(code))
                if sig != 0 { data["signal"] = .int(Int64(sig)) }
                if let start = p.startMono, ts > start { data["runtime_ms"] = .int(Int64((ts - start) / 1_000_000)) }
                data["termination_type"] = .string(sig == 0 ? "normal" : (status & 0x80 != 0 ? "coredump" : "signaled"))
                out.events.append(OISPEvent(eventType: "process.exit", ts: wall(ts), tsMono: ts, host: host,
                                            actor: .init(uid: Int64(uid)), process: p.oisp,
                                            source: source("ebpf_tracepoint", "sched_process_exit"),
                                            confidence: .init(level: "high", completeness: "full", reasons: ["kernel_tracepoint"]),
                                            data: data))
            case .connect(let c):
                let ok = c.result == 0 || c.result == -115 // EINPROGRESS: non-blocking connect under way
                if ok {
                    lastConnect[Int64(c.tid)] = (c.ip, Int(c.port))
                    lastConnectByPid[Int64(c.pid)] = (c.ip, Int(c.port))
                }
                let p = processes.get(Int64(c.pid))
                guard wanted(pid: Int64(c.pid), comm: c.comm, exe: p.exe) else { continue }
                var data = JSONObject()
                data["dest"] = ["ip": .string(c.ip), "port": .int(Int64(c.port)), "is_private": .bool(IPAddress.isPrivate(c.ip))]
                data["protocol"] = "tcp"
                data["success"] = .bool(ok)
                if !ok { data["error"] = .string(String(cString: strerror(-c.result))) }
                out.events.append(OISPEvent(eventType: "network.connect", ts: wall(c.tsMono), tsMono: c.tsMono, host: host,
                                            actor: .init(uid: Int64(c.uid)), process: p.oisp,
                                            source: source("ebpf_tracepoint", c.fd < 0 ? "inet_sock_set_state" : "sys_exit_connect"),
                                            confidence: .init(level: "high", completeness: "full", reasons: ["kernel_tracepoint"]),
                                            data: data))
            case .accept(let c):
                let p = processes.get(Int64(c.pid))
                guard wanted(pid: Int64(c.pid), comm: c.comm, exe: p.exe) else { continue }
                var data = JSONObject()
                data["src"] = ["ip": .string(c.ip), "port": .int(Int64(c.port)), "is_private": .bool(IPAddress.isPrivate(c.ip))]
                data["protocol"] = "tcp"
                data["success"] = true
                if c.fd >= 0 { data["fd"] = .int(Int64(c.fd)) } // the syscall path knows it; the socket-state path does not
                out.events.append(OISPEvent(eventType: "network.accept", ts: wall(c.tsMono), tsMono: c.tsMono, host: host,
                                            actor: .init(uid: Int64(c.uid)), process: p.oisp,
                                            source: source("ebpf_tracepoint", c.fd < 0 ? "inet_sock_set_state" : "sys_exit_accept4"),
                                            confidence: .init(level: "high", completeness: "full", reasons: ["kernel_tracepoint"]),
                                            data: data))
            case .sslData(let d):
                // the process record (a table look-up and a copy of its strings) only when a
                // filter needs its executable: this runs for every plaintext record
                if !pidFilter.isEmpty || !processFilter.isEmpty {
                    guard wanted(pid: Int64(d.pid), comm: d.comm, exe: processes.get(Int64(d.pid)).exe) else { continue }
                }
                let id = PlaintextChunk.ConnectionID(pid: Int64(d.pid), handle: d.ssl)
                if d.closed {
                    sslPeer[id] = nil
                    if !cutsAwaitingTail.isEmpty { cutsAwaitingTail[CutKey(id: id, isWrite: true)] = nil; cutsAwaitingTail[CutKey(id: id, isWrite: false)] = nil }
                    out.chunks.append(PlaintextChunk(connection: id, isWrite: true, bytes: [], ts: wall(d.tsMono), tid: Int64(d.tid), closed: true))
                    continue
                }
                // a connection whose first bytes are read and begin a request is a server's: its
                // peer (the client) is not looked for in /proc (a walk of the node's socket table,
                // per accepted connection), and the decoder quiets it
                var known = sslPeer[id]
                if known == nil && d.offset == 0 && !d.isWrite && PlaintextChunk.begins(d.bytes, with: PlaintextChunk.requestStarts) {
                    known = (ip: "", port: 0) // none to look for (its later records too)
                    sslPeer[id] = known
                }
                if known == nil {
                    if let p = lastConnect[Int64(d.tid)] ?? lastConnectByPid[Int64(d.pid)] {
                        known = p
                    } else if d.tsMono >= (sslPeerMiss[Int64(d.pid)]?.next ?? 0) {
                        if let p = CaptureEventBuilder.establishedPeer(pid: Int64(d.pid)) {
                            known = p
                        } else {
                            let wait = min(max(1_000_000_000, 2 * (sslPeerMiss[Int64(d.pid)]?.wait ?? 0)), 64_000_000_000)
                            sslPeerMiss[Int64(d.pid)] = (d.tsMono + wait, wait)
                        }
                    }
                    if known != nil { sslPeer[id] = known }
                }
                let peer = known.flatMap { $0.port == 0 ? nil : $0 }
                func chunk(_ bytes: [UInt8], missing: Int) -> PlaintextChunk {
                    PlaintextChunk(connection: id, isWrite: d.isWrite, bytes: bytes, ts: wall(d.tsMono), tid: Int64(d.tid), truncated: d.truncated,
                                   remoteIP: peer?.ip, remotePort: peer?.port, plain: d.stack == UInt32(OISP_STACK_PLAIN.rawValue), missing: missing)
                }
                // a cut: the bytes from its offset to the call's end, or to its tail's first record
                let key = CutKey(id: id, isWrite: d.isWrite)
                if !cutsAwaitingTail.isEmpty, let cut = cutsAwaitingTail.removeValue(forKey: key) {
                    // the tail's first record ends the gap; any other record (the tail lost in
                    // the ring buffer, a new call at offset 0) means the rest of that call is gone
                    let end = d.offset > cut.from && d.offset <= cut.total ? d.offset : cut.total
                    let gap = chunk([], missing: end - cut.from)
                    if emitRawEvents { out.events.append(rawEvent(gap, stack: d.stack)) }
                    out.chunks.append(gap)
                }
                if d.truncated && d.bytes.isEmpty && d.tailFollows {
                    cutsAwaitingTail[key] = (d.offset, max(d.offset, d.totalLength))
                    continue
                }
                let c = chunk(d.bytes, missing: d.truncated && d.bytes.isEmpty ? max(0, d.totalLength - d.offset) : 0)
                if emitRawEvents { out.events.append(rawEvent(c, stack: d.stack)) }
                out.chunks.append(c)
            }
        }
        return out
    }

    /// The OISP envelope for events about a process (used by the decoder's output).
    public func envelope(pid: Int64) -> (host: OISPEvent.Host, process: OISPEvent.Process, source: OISPEvent.Source) {
        (host, processes.get(pid).oisp, source("ebpf_uprobe", "ssl"))
    }

    /// A low-level event carrying one plaintext chunk (`capture.ssl_data`), for recording raw
    /// capture and for replaying it through the decoder.
    public func rawEvent(_ c: PlaintextChunk, stack: UInt32 = 0) -> OISPEvent {
        var data = JSONObject()
        data["direction"] = .string(c.isWrite ? "write" : "read")
        data["ssl"] = .string(String(c.connection.handle, radix: 16))
        data["length"] = .int(Int64(c.bytes.count))
        data["truncated"] = .bool(c.truncated)
        if c.missing > 0 { data["missing_bytes"] = .int(Int64(c.missing)) }
        if let s = String(validating: c.bytes, as: UTF8.self) {
            data["text"] = .string(s)
        } else {
            data["base64"] = .string(Data(c.bytes).base64EncodedString())
        }
        if let ip = c.remoteIP, let port = c.remotePort { data["dest"] = ["ip": .string(ip), "port": .int(Int64(port))] }
        data["stack"] = .string(CaptureRecord.stackName(stack))
        let how = PlaintextChunk.capture(plain: c.plain, write: c.isWrite)
        let src = source(how.method, how.point)
        var proc = processes.get(c.connection.pid).oisp
        proc.tid = c.tid
        return OISPEvent(eventType: "capture.ssl_data", ts: c.ts, host: host, process: proc, source: src,
                         confidence: .init(level: "high", completeness: c.truncated ? "partial" : "full", reasons: [how.reason]),
                         data: data)
    }

    /// For connections opened before the sensor started: the process's established TCP peer on
    /// port 443 (or any, if there is exactly one), from /proc/<pid>/fd and /proc/net/tcp{,6}.
    static func establishedPeer(pid: Int64) -> (ip: String, port: Int)? {
        let inodes = Set(ProcSockets.of(pid: pid).map(\.inode))
        guard !inodes.isEmpty else { return nil }
        var peers: [(String, Int)] = []
        for (file, v6) in [("tcp", false), ("tcp6", true)] {
            guard let text = ProcFS.text("/proc/\(pid)/net/\(file)") else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 9, f[3] == "01", inodes.contains(String(f[9])) else { continue } // 01 = ESTABLISHED
                let rem = f[2].split(separator: ":")
                guard rem.count == 2, let port = Int(rem[1], radix: 16) else { continue }
                peers.append((hexAddress(String(rem[0]), v6: v6), port))
            }
        }
        return peers.first { $0.1 == 443 } ?? (peers.count == 1 ? peers[0] : nil)
    }

    /// /proc/net/tcp addresses: little-endian 32-bit words in hex.
    public static func hexAddress(_ h: String, v6: Bool) -> String {
        var bytes: [UInt8] = []
        var i = h.startIndex
        while i < h.endIndex, let j = h.index(i, offsetBy: 8, limitedBy: h.endIndex) {
            let word = UInt32(h[i..<j], radix: 16) ?? 0
            bytes += [UInt8(word & 0xff), UInt8(word >> 8 & 0xff), UInt8(word >> 16 & 0xff), UInt8(word >> 24)]
            i = j
        }
        if !v6 || (bytes.count == 16 && bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff) {
            let b = v6 ? Array(bytes[12..<16]) : bytes
            return b.map(String.init).joined(separator: ".")
        }
        return stride(from: 0, to: bytes.count, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}
