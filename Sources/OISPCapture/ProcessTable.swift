import Foundation
import OISPEvent

/// What the sensor knows about a process, read from /proc once and cached until it exits.
public struct ProcessInfoRecord: Sendable {
    public var pid: Int64
    public var ppid: Int64?
    public var uid: Int64?
    public var exe: String?
    public var name: String?
    public var cmdline: String?
    /// argv, each argument whole (spaces kept), for the exec event; the table does not keep it.
    public var args: [String]?
    public var cwd: String?
    public var containerID: String?
    /// The Kubernetes pod UID from the cgroup path, when the process is in a pod.
    public var podUID: String?
    public var startMono: UInt64?

    public var oisp: OISPEvent.Process {
        OISPEvent.Process(pid: pid, ppid: ppid, exe: exe, name: name, cmdline: cmdline, cwd: cwd, uid: uid,
                          containerID: containerID)
    }
}

/// pid → process facts, to enrich every event.
public final class ProcessTable: @unchecked Sendable {
    /// The most of a command line an event carries (bytes of /proc/<pid>/cmdline).
    public static let maxCmdline = 4096
    private var table: [Int64: ProcessInfoRecord] = [:]
    /// Exited processes stay known for a while: their last TLS data may still be in flight.
    private var exited: [(pid: Int64, at: UInt64)] = []
    private let lock = NSLock()
    public static let exitGraceNanoseconds: UInt64 = 10_000_000_000
    /// Containers read at exec on the capture thread, for when the exec's record is processed
    /// after the process is gone; forgotten with the process.
    private var atExec: [Int64: CgroupContainer] = [:]
    public init() {}

    private let execReader = DispatchQueue(label: "oisp-exec-cgroup")

    /// Reads a just-exec'd process's container soon (`BPFCapture.onExec`), on a queue of its own:
    /// the capture thread that reports the exec must not wait (it is attaching probes then).
    public func noteExec(pid: Int64) {
        execReader.async { [self] in
            let c = ProcFS.text("/proc/\(pid)/cgroup").flatMap(CgroupContainer.parse)
            lock.withLock {
                if atExec.count >= 65536 { atExec.removeAll() } // bounded if exits are never seen
                atExec[pid] = c
            }
        }
    }

    /// Fills in the container read at exec when /proc no longer had it.
    public func takeExecContainer(_ r: inout ProcessInfoRecord) {
        guard r.containerID == nil, let c = lock.withLock({ atExec[r.pid] }) else { return }
        r.containerID = c.id
        r.podUID = c.podUID
    }

    /// Reads /proc/<pid> (exe, cmdline, cwd, status, cgroup).
    public static func read(pid: Int64) -> ProcessInfoRecord {
        let root = "/proc/\(pid)"
        var r = ProcessInfoRecord(pid: pid)
        r.exe = ProcFS.link("\(root)/exe")
        r.cwd = ProcFS.link("\(root)/cwd")
        // a command line rides in every event's envelope: at most 4 KiB of it (a JVM's class
        // path can be megabytes), cut with a marker
        if var d = ProcFS.read("\(root)/cmdline", limit: ProcessTable.maxCmdline + 1), !d.isEmpty {
            let cut = d.count > ProcessTable.maxCmdline
            if cut { d = d.prefix(ProcessTable.maxCmdline) }
            // arguments as the process got them: an empty one kept, the NUL ending the last not
            // read as one more; a cut list ends with the marker. The command line joins the
            // non-empty ones with spaces (the strings shared, not made twice).
            var argv = d.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            if d.last == 0 { argv.removeLast() } // the NUL ending the last (read whole, or cut right after it)
            r.cmdline = argv.filter { !$0.isEmpty }.joined(separator: " ") + (cut ? " …[truncated]" : "")
            if cut { argv.append("…[truncated]") }
            r.args = argv
        }
        if let s = ProcFS.text("\(root)/status") {
            // Name, PPid and Uid are among its first lines (1, 7, 9): the rest (about 50) is not split
            for line in s.split(separator: "\n", maxSplits: 16) {
                if line.hasPrefix("PPid:") { r.ppid = Int64(line.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
                if line.hasPrefix("Name:") { r.name = line.dropFirst(5).trimmingCharacters(in: .whitespaces) }
                if line.hasPrefix("Uid:") { r.uid = line.dropFirst(4).split(whereSeparator: { $0 == "\t" || $0 == " " }).first.flatMap { Int64($0) }; break }
            }
        }
        if let exe = r.exe { r.name = (exe as NSString).lastPathComponent }
        if let cg = ProcFS.text("\(root)/cgroup") {
            let c = CgroupContainer.parse(cg)
            r.containerID = c?.id ?? containerID(fromCgroup: cg)
            r.podUID = c?.podUID
        }
        return r
    }

    /// A 64-hex-digit container id anywhere in a cgroup path, for layouts `CgroupContainer` does not know.
    public static func containerID(fromCgroup text: String) -> String? {
        let hex = Set("0123456789abcdef")
        for line in text.split(separator: "\n") {
            for part in line.split(whereSeparator: { $0 == "/" || $0 == "-" || $0 == ":" || $0 == "." }) {
                if part.count == 64 && part.allSatisfy({ hex.contains($0) }) { return String(part) }
            }
        }
        return nil
    }

    /// The cached record, reading /proc on first sight.
    public func get(_ pid: Int64) -> ProcessInfoRecord {
        if let r = lock.withLock({ table[pid] }) { return r }
        var r = ProcessTable.read(pid: pid)
        r.args = nil // only the exec event carries them
        lock.withLock { table[pid] = r }
        return r
    }

    public func set(_ r: ProcessInfoRecord) {
        var r = r
        r.args = nil
        lock.withLock { table[r.pid] = r }
    }
    /// Marks a process as exited; its record is dropped after `exitGraceNanoseconds`.
    public func exited(_ pid: Int64, now: UInt64) -> ProcessInfoRecord? {
        lock.lock(); defer { lock.unlock() }
        exited.append((pid, now))
        while let first = exited.first, first.at + ProcessTable.exitGraceNanoseconds < now {
            exited.removeFirst()
            table[first.pid] = nil
            atExec[first.pid] = nil
        }
        return table[pid]
    }
}

/// The sockets a process holds, from /proc/<pid>/fd: (fd, socket inode) pairs.
enum ProcSockets {
    static func of(pid: Int64) -> [(fd: Int32, inode: String)] {
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return [] }
        var out: [(fd: Int32, inode: String)] = []
        for fd in fds {
            if let n = Int32(fd), let t = ProcFS.link("/proc/\(pid)/fd/\(fd)"), t.hasPrefix("socket:[") {
                out.append((n, String(t.dropFirst(8).dropLast())))
            }
        }
        return out
    }
}
