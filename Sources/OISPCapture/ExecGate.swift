import COISPBPF
import Foundation
import Glibc

/// Holds every new executable at exec until the sensor has probed it (fanotify exec permission
/// events: see Sources/COISPBPF/include/oisp_execgate.h), so a program probed on exec (Go
/// crypto/tls, static BoringSSL or OpenSSL) is captured from its first instruction — a Go CLI that
/// makes one call and exits, a first run of Bun or of an Electron app. The gate always allows:
/// it only delays an exec, once per file, for as long as looking at the file takes (under a
/// millisecond for most, ~0.2 s for Bun, ~0.8 s for Chromium), never longer than `maxHoldMs`
/// (`[capture] probe_before_exec_timeout_ms`).
/// A file that was answered is not held again until it is modified.
final class ExecGate: @unchecked Sendable {
    /// The longest an exec is held; past it the exec goes on and probing finishes beside it.
    let maxHoldMs: Int

    private let fd: Int32
    private let lock = NSLock()
    private var marked: Set<UInt64> = []        // st_dev of every filesystem marked
    private var refused: Set<UInt64> = []
    private var problemList: [String] = []
    private var running = true
    private var closed = false
    private var thread: Thread?
    private let work = DispatchQueue(label: "oisp-exec-gate", qos: .userInitiated, attributes: .concurrent)
    /// Probes the file open as the first argument (the gate's own copy of the descriptor, which
    /// it closes), exec'd by the pid; returns whether the file is settled.
    private let probe: @Sendable (Int32, Int32) -> Bool
    private let me = getpid()

    /// A gate, or the reason there can be none (kernel without permission events, no right).
    static func open(maxHoldMs: Int = 5000, probe: @escaping @Sendable (Int32, Int32) -> Bool) -> Result<ExecGate, CaptureError> {
        var err = [CChar](repeating: 0, count: 512)
        let fd = oisp_execgate_open(&err, err.count)
        guard fd >= 0 else { return .failure(CaptureError(String(cString: err))) }
        // the kernel opens each held file into the sensor: out of descriptors, it would refuse the
        // exec (FAN_DENY), so the sensor takes what its hard limit allows
        var lim = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim) == 0, lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim)
        }
        return .success(ExecGate(fd: fd, maxHoldMs: maxHoldMs, probe: probe))
    }

    private init(fd: Int32, maxHoldMs: Int, probe: @escaping @Sendable (Int32, Int32) -> Bool) {
        self.fd = fd
        self.maxHoldMs = maxHoldMs
        self.probe = probe
    }

    /// Filesystems whose execs are held, and what could not be marked.
    var filesystems: Int { lock.withLock { marked.count } }
    var problems: [String] {
        lock.withLock { problemList + (releasedByFault ? ["the gate was released after a fatal signal: new executables are no longer held"] : []) }
    }

    /// Kernel filesystems nobody execs from.
    static let pseudo: Set<String> = ["proc", "sysfs", "cgroup", "cgroup2", "bpf", "tracefs", "debugfs", "securityfs", "pstore",
                                      "configfs", "devpts", "mqueue", "hugetlbfs", "fusectl", "binfmt_misc", "autofs", "nsfs",
                                      "efivarfs", "rpc_pipefs", "selinuxfs", "ramfs", "devtmpfs",
                                      // network filesystems: a stat of a dead server's mount would hang the
                                      // start; their files are marked when a program from them first runs
                                      "nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "lustre"]

    /// Marks every filesystem mounted in the sensor's mount namespace and in the host's (pid 1's,
    /// seen through /proc/1/root when the sensor runs in a container with the host's pids): one
    /// mark per superblock. Containers' own roots are marked as their first programs run.
    func markMountedFilesystems() {
        var present = Set<UInt64>()
        markMounts(table: "/proc/self/mountinfo", root: "", present: &present)
        markMounts(table: "/proc/1/mountinfo", root: "/proc/1/root", present: &present)
        // a filesystem unmounted since took its mark with it, and its device number may come back
        // for a new one (a container's root): forget it
        lock.withLock {
            marked.formIntersection(present)
            refused.formIntersection(present)
        }
    }

    private func markMounts(table: String, root: String, present: inout Set<UInt64>) {
        guard let text = ProcFS.text(table) else { return }
        for line in text.split(separator: "\n") {
            // id parent major:minor root mountpoint options [optional...] - fstype source superopts
            let f = line.split(separator: " ")
            guard f.count > 6, let dash = f.firstIndex(of: "-"), dash + 1 < f.count else { continue }
            let fstype = String(f[dash + 1])
            guard !Self.pseudo.contains(fstype), !fstype.hasPrefix("fuse") else { continue }
            // the superblock's device (major:minor): a file on it has the same st_dev
            let mm = f[2].split(separator: ":")
            guard mm.count == 2, let major = UInt64(mm[0]), let minor = UInt64(mm[1]) else { continue }
            let dev = Self.makedev(major, minor)
            present.insert(dev)
            mark(device: dev, path: root + Self.unescape(String(f[4])), fileFD: -1)
        }
    }

    /// Marks the filesystem of a file exec'd from a filesystem not marked yet (a container's root,
    /// a mount made after start): its later execs are held.
    func noteExecutable(fileFD: Int32, device: UInt64) {
        guard lock.withLock({ !marked.contains(device) && !refused.contains(device) }) else { return }
        guard oisp_execgate_remote_fs(fileFD) == 0 else {
            lock.withLock { _ = refused.insert(device) }
            return
        }
        mark(device: device, path: nil, fileFD: fileFD)
    }

    private func mark(device: UInt64, path: String?, fileFD: Int32) {
        guard lock.withLock({ !closed && !marked.contains(device) && !refused.contains(device) }) else { return }
        var err = [CChar](repeating: 0, count: 512)
        let r = path.map { oisp_execgate_mark(fd, $0, -1, &err, err.count) } ?? oisp_execgate_mark(fd, nil, fileFD, &err, err.count)
        lock.withLock {
            if r == 0 { marked.insert(device) } else { refused.insert(device); problemList.append(String(cString: err)) }
        }
    }

    /// glibc's dev_t encoding of a device number.
    static func makedev(_ major: UInt64, _ minor: UInt64) -> UInt64 {
        ((major & 0xFFFF_F000) << 32) | ((major & 0xFFF) << 8) | ((minor & 0xFFFF_FF00) << 12) | (minor & 0xFF)
    }

    /// Mount points escape space, tab, newline and backslash as octal.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        let b = Array(s.utf8)
        var out: [UInt8] = [], i = 0
        while i < b.count {
            if b[i] == 0x5C, i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func start() {
        _ = oisp_execgate_guard(fd)
        let t = Thread { [self] in loop() }
        t.name = "oisp-exec-gate"
        thread = t
        t.start()
    }

    /// Stops answering and drops the gate: the kernel allows whatever still waits. Probes still
    /// running finish beside it; their answers go nowhere (the number stays open on /dev/null).
    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { running = false; closed = true }
            return !closed
        }
        guard first else { return }
        while thread?.isFinished == false { usleep(5_000) }
        _ = oisp_execgate_release(fd)
    }

    /// Set when the gate stopped holding on its own (a fatal signal released it).
    private(set) var releasedByFault = false

    private final class Held: @unchecked Sendable {
        let fd: Int32
        let deadline: UInt64
        private let lock = NSLock()
        private var answered = false
        init(fd: Int32, deadline: UInt64) { self.fd = fd; self.deadline = deadline }
        var isAnswered: Bool { lock.withLock { answered } }
        func answer(_ gate: Int32, remember: Bool) {
            lock.withLock {
                guard !answered else { return }
                answered = true
                _ = oisp_execgate_allow(gate, fd, remember ? 1 : 0)
            }
        }
    }

    private func loop() {
        var reqs = [oisp_exec_request](repeating: oisp_exec_request(), count: 64)
        // the host's mount table (pid 1's): a container runtime mounts a container's root there
        // before its first program runs, so it is marked in time for that exec
        var mounts = Glibc.open("/proc/1/mountinfo", O_RDONLY | O_CLOEXEC)
        if mounts < 0 { mounts = Glibc.open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC) }
        defer { if mounts >= 0 { close(mounts) } }
        let holdNs = UInt64(maxHoldMs) * 1_000_000
        // execs being probed: this thread answers each at its deadline if the probe has not (the
        // probes' queue may be busy: the bound must not wait for it)
        var pending: [Held] = []
        while lock.withLock({ running }) {
            let now = DispatchTime.now().uptimeNanoseconds
            pending.removeAll { h in
                if h.isAnswered { return true }
                if h.deadline <= now { h.answer(fd, remember: false); return true }
                return false
            }
            let next = pending.map(\.deadline).min().map { Int32(clamping: ($0 - min($0, now)) / 1_000_000 + 1) } ?? 100
            var changed: Int32 = 0
            let n = oisp_execgate_read(fd, mounts, &changed, &reqs, Int32(reqs.count), min(100, next))
            if changed != 0 { markMountedFilesystems() }
            if n == -EPIPE { // released under us: a fatal signal
                lock.withLock { releasedByFault = true; running = false }
                break
            }
            if n < 0 { usleep(10_000); continue }
            let deadline = DispatchTime.now().uptimeNanoseconds + holdNs
            for r in reqs.prefix(Int(n)) {
                let held = Held(fd: r.fd, deadline: deadline)
                // the sensor's own execs, and files the probe cannot read, go on at once
                let copy = r.pid == me ? -1 : fcntl(r.fd, F_DUPFD_CLOEXEC, 0)
                guard copy >= 0 else { held.answer(fd, remember: false); continue }
                let gate = fd, pid = r.pid, probe = probe
                pending.append(held)
                work.async { held.answer(gate, remember: probe(copy, pid)) }
            }
        }
        // whatever is still waiting is let go with the gate (stop) or already was (a fault)
    }
}
