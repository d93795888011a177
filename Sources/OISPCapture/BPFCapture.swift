import COISPBPF
import Foundation
import OISPEvent

/// Why capture could not start (kernel, permissions, missing object), in words a user can act on.
public struct CaptureError: Error, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Loads bpf/oisp.bpf.c's programs, attaches them, discovers TLS libraries and binaries as
/// processes come and go, and delivers decoded records to a handler on its own thread.
public final class BPFCapture: @unchecked Sendable {
    public struct Options: Sendable {
        public var objectPath: String
        public var maxCaptureBytes = 262144
        public var targetPID: UInt32 = 0
        public var ssl = true
        public var process = true
        public var network = true
        /// Attach probes that return at once (the benchmark's trap-cost baseline).
        public var noopProbes = false
        /// Extra executables/libraries to probe (statically linked OpenSSL, custom paths).
        public var sslBinaryPaths: [String] = []
        /// Plain HTTP on `plainPorts` (socket syscalls), for local model servers.
        public var plain = false
        public var plainPorts: [UInt16] = []
        public var pollTimeoutMs: Int32 = 100
        /// Hold each new executable at exec until it is probed (`[capture] probe_before_exec`).
        public var probeBeforeExec = true
        /// The longest an exec is held for its probes, in milliseconds.
        public var probeBeforeExecTimeoutMs = 5000
        /// Records waiting for the decode thread, in bytes; beyond it records are dropped and
        /// counted (`droppedRecords`): the poll thread never waits.
        public var queueMaxBytes = 64 << 20
        public var ringBufferBytes = 2 << 20
        public init(objectPath: String) { self.objectPath = objectPath }
    }

    private let options: Options
    private let bpf: OpaquePointer
    private let lock = NSLock()
    private var probedFiles: [String: Int] = [:]   // "dev:ino" → functions attached (0 = none)
    private var inFlight: [String: DispatchGroup] = [:] // files being probed now
    /// "dev:ino" → the identity probed last, where, and the owner of its links.
    private var inodes: [String: (identity: String, place: String, owner: UInt64)] = [:]
    private var lastOwner: UInt64 = 0
    /// Holds new executables until probed (nil: off, or the kernel has no permission events).
    private var gate: ExecGate?
    private var gateProblem: String?
    private var attachedPaths: [String] = []
    /// Processes to look at again after exec (`exe`: its executable too; the first look's was
    /// attached with the exec itself).
    private var pendingScans: [(pid: Int32, at: UInt64, exe: Bool)] = []
    private var lastFullScan: UInt64 = 0
    private var thread: Thread?
    private var running = false
    private var stopped = false
    private var closed = false
    /// Guards `closed` for the map writes the decode thread makes (quiet), which must not wait
    /// behind an attach that holds attachLock.
    private let closeLock = NSLock()
    private var handler: (([CaptureRecord]) -> Void)?
    private var batch: [CaptureRecord] = []
    private var batchBytes = 0
    /// Batches handed from the poll thread to the decode thread.
    private let handoff = NSCondition()
    private var queued: [(records: [CaptureRecord], bytes: Int)] = []
    private var queuedBytes = 0
    private var pollDone = false
    private var worker: Thread?
    private var dropped: UInt64 = 0
    /// Records dropped because the decode thread fell behind by more than `queueMaxBytes`.
    public var droppedRecords: UInt64 { handoff.lock(); defer { handoff.unlock() }; return dropped }
    /// Called on the poll thread for every exec, before the batch is handed on (set it before
    /// `start`): what /proc says of a short-lived process must be read before it exits.
    public var onExec: ((Int64) -> Void)?
    public private(set) var attachErrors: [String] = []
    /// What was probed, file by file: the path, the TLS stack and how many functions.
    public struct Target: Sendable, Equatable {
        public var path: String
        public var stack: String
        public var functions: Int
        /// How the functions were found when it is worth saying (a build id seen before).
        public var found: String? = nil
    }
    /// What the search of a stripped executable found, by build id (and file size), so a copy of
    /// a binary already searched is not searched again and is reported as the first was: the
    /// functions (BoringSSL's SSL_write/SSL_read, or OpenSSL's ssl_write_internal/
    /// ssl_read_internal), nothing, or a static OpenSSL whose functions were not found (why).
    private enum BoringSearch { case found(write: UInt64, read: UInt64, library: UInt32, writeArgs: UInt32), none, strippedOpenSSL(String) }
    private var boringByBuildID: [String: BoringSearch] = [:]
    private var targetList: [Target] = []
    public var targets: [Target] { lock.withLock { targetList } }

    /// One BPF program and whether this kernel took it (else the verifier's reason).
    public struct Program: Sendable {
        public var name: String
        public var loaded: Bool
        public var reason: String
    }
    public private(set) var programs: [Program] = []
    public var rejectedPrograms: [Program] { programs.filter { !$0.loaded } }

    /// Where the BPF object is looked for: `$OISP_BPF_OBJECT`, beside the executable, then the
    /// system directories.
    public static func locateObject(env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        var candidates: [String] = []
        if let p = env["OISP_BPF_OBJECT"], !p.isEmpty {
            return FileManager.default.fileExists(atPath: p) ? p : nil // explicit: no fallback
        }
        if let exe = Bundle.main.executablePath {
            candidates.append(URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent("oisp.bpf.o").path)
        }
        candidates += ["/usr/local/lib/oisp/oisp.bpf.o", "/usr/lib/oisp/oisp.bpf.o"]
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Opens and loads the programs and attaches the tracepoints.
    /// - Throws: `CaptureError` saying what the kernel or the machine lacks.
    public init(options: Options) throws {
        self.options = options
        guard geteuid() == 0 else {
            throw CaptureError("eBPF capture needs root (or CAP_BPF + CAP_PERFMON + CAP_SYS_RESOURCE); running as uid \(geteuid())")
        }
        guard FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") else {
            throw CaptureError("the kernel has no BTF (/sys/kernel/btf/vmlinux missing): CO-RE BPF programs cannot load")
        }
        var err = [CChar](repeating: 0, count: 1024)
        if options.process || options.network || options.plain {
            if oisp_bpf_ensure_tracefs(&err, err.count) != 0 { throw CaptureError(String(cString: err)) }
        }
        var o = oisp_bpf_options(max_capture_bytes: UInt32(clamping: options.maxCaptureBytes), target_pid: options.targetPID,
                                 capture_ssl: options.ssl ? 1 : 0, capture_process: options.process ? 1 : 0,
                                 capture_network: options.network ? 1 : 0, wakeup_bytes: UInt32(min(256 * 1024, options.ringBufferBytes / 8)),
                                 ring_bytes: UInt32(clamping: options.ringBufferBytes),
                                 noop_ssl_probes: options.noopProbes ? 1 : 0,
                                 capture_plain: options.plain ? 1 : 0, nplain_ports: UInt32(min(32, options.plainPorts.count)),
                                 plain_ports: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        withUnsafeMutableBytes(of: &o.plain_ports) { raw in
            for (i, p) in options.plainPorts.prefix(32).enumerated() { raw.storeBytes(of: p, toByteOffset: i * 2, as: UInt16.self) }
        }
        guard let b = oisp_bpf_open(options.objectPath, &o, &err, err.count) else {
            throw CaptureError(String(cString: err))
        }
        bpf = b
        programs = (0..<oisp_bpf_program_count(b)).map { i in
            Program(name: String(cString: oisp_bpf_program_name(b, i)), loaded: oisp_bpf_program_loaded(b, i) != 0,
                    reason: String(cString: oisp_bpf_program_reason(b, i)))
        }
        if options.process || options.network || options.plain {
            if oisp_bpf_attach_tracepoints(b, &err, err.count) < 0 {
                let why = String(cString: err)
                oisp_bpf_close(b)
                throw CaptureError(why)
            }
        }
        if options.plain { seedPlainConnections() }
        if options.ssl {
            for p in Self.systemTLSLibraries() + options.sslBinaryPaths { attach(path: p) }
            scanAllProcesses()
            if options.probeBeforeExec && options.targetPID == 0 {
                switch ExecGate.open(maxHoldMs: options.probeBeforeExecTimeoutMs, probe: { [weak self] fd, pid in
                    guard let self else { close(fd); return false }
                    return probeHeldExec(fd: fd, pid: pid)
                }) {
                case .success(let g):
                    g.markMountedFilesystems()
                    lock.withLock { gate = g }
                    g.start()
                case .failure(let e):
                    gateProblem = e.reason
                }
            }
        }
    }

    /// Whether new executables are held at exec until probed: how many filesystems, and what
    /// could not be held (a reason when there is no gate at all).
    public var execGate: (filesystems: Int, problems: [String]) {
        if let g = lock.withLock({ gate }) { return (g.filesystems, g.problems) }
        return (0, gateProblem.map { [$0] } ?? [])
    }

    deinit {
        gate?.stop()
        if !closed { oisp_bpf_close(bpf) }
    }

    /// Whether this kernel lets the sensor hold new executables until probed (nil: it does).
    public static func execGateProblem() -> String? {
        switch ExecGate.open(probe: { fd, _ in close(fd); return false }) {
        case .success(let g): // opened, never marked: nothing is held by asking
            g.stop()
            return nil
        case .failure(let e): return e.reason
        }
    }

    /// Files that were found to contain SSL functions and are probed.
    public var probedPaths: [String] { lock.withLock { attachedPaths } }

    /// Records the kernel side could not deliver (ring buffer full).
    public var lostRecords: UInt64 { oisp_bpf_lost(bpf) }

    /// Plaintext records the kernel kept back because their connection was quiet.
    public var quietRecords: UInt64 { closeLock.withLock { closed ? 0 : oisp_bpf_quieted(bpf) } }

    /// Stops sending a connection's plaintext (the decoder found nothing in it to emit: the server
    /// side of HTTP, or not HTTP), until a write on it starts a request. Raw capture never calls it.
    public func quiet(_ id: PlaintextChunk.ConnectionID) {
        closeLock.withLock { if !closed { _ = oisp_bpf_quiet(bpf, UInt32(truncatingIfNeeded: id.pid), id.handle) } }
    }

    public static func systemSSLLibrariesFound() -> [String] { systemTLSLibraries() }

    /// The TLS libraries probed at start (every process mapping them is covered at once).
    static func systemTLSLibraries() -> [String] {
        let dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"]
        var out: [String] = []
        var seen = Set<String>()
        for d in dirs {
            for n in ["libssl.so.3", "libssl.so.1.1", "libgnutls.so.30", "libnspr4.so"] {
                let p = "\(d)/\(n)"
                guard FileManager.default.fileExists(atPath: p), let k = fileKey(p), seen.insert(k).inserted else { continue }
                out.append(p)
            }
        }
        return out
    }

    /// Which library's probes a file gets, by its name.
    static func library(for path: String) -> oisp_tls_lib {
        let name = (path as NSString).lastPathComponent
        if name.hasPrefix("libgnutls") { return OISP_LIB_GNUTLS }
        if name.hasPrefix("libnspr4") { return OISP_LIB_NSS }
        return OISP_LIB_OPENSSL
    }

    /// Whether a mapped file is a TLS library worth probing.
    static func isTLSLibrary(_ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        return name.hasPrefix("libssl") || name.hasPrefix("libgnutls") || name.hasPrefix("libnspr4")
    }

    /// A file's identity: device and inode, and size and mtime too — some file systems (9p, as
    /// under virtme-ng) hand out inode numbers that are not unique.
    static func identity(_ st: stat) -> String {
        "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// A path as the host sees it: without the /proc/<pid>/root a process's files are opened through.
    static func hostPath(_ path: String) -> String {
        guard path.hasPrefix("/proc/") else { return path }
        let parts = path.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: true)
        guard parts.count == 4, Int(parts[1]) != nil, parts[2] == "root" else { return path }
        return "/" + parts[3]
    }

    private static func fileKey(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return identity(st)
    }

    /// Probes a library or executable once (by inode); returns functions attached.
    @discardableResult
    public func attach(path original: String, urgent: Bool = false) -> Int {
        // The file is opened once and probed through /proc/self/fd/N: a short-lived process's
        // /proc/<pid>/root/... path is gone when it exits, the open file is not.
        let fd = open(original, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        return attach(fd: fd, name: original, urgent: urgent, held: false).functions
    }

    /// Probes the file open as `fd` (closed when done) once per identity. `held`: an exec waits
    /// for it (the exec gate), so everything runs here, the static BoringSSL search too, and a
    /// file another thread is probing is waited for; `settled` says the file's probes are final.
    private func attach(fd: Int32, name original: String, urgent: Bool, held: Bool) -> (functions: Int, settled: Bool) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { close(fd); return (0, true) }
        lock.withLock { gate }?.noteExecutable(fileFD: fd, device: UInt64(st.st_dev))
        // a script (the exec gate sees the file exec'd, `#!` ones included): not ELF, nothing to probe
        var magic: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        guard withUnsafeMutableBytes(of: &magic, { pread(fd, $0.baseAddress, 4, 0) }) == 4, magic == (0x7F, 0x45, 0x4C, 0x46) else {
            close(fd)
            return (0, true)
        }
        let key = Self.identity(st)
        let inode = "\(st.st_dev):\(st.st_ino)", place = Self.hostPath(original)
        lock.lock()
        if let n = probedFiles[key] {
            let busy = inFlight[key]
            lock.unlock()
            close(fd)
            guard held, let busy else { return (n, busy == nil) }
            let done = busy.wait(timeout: .now() + .milliseconds(options.probeBeforeExecTimeoutMs)) == .success
            return (lock.withLock { probedFiles[key] ?? 0 }, done)
        }
        probedFiles[key] = 0
        let group = DispatchGroup()
        group.enter()
        inFlight[key] = group
        // a file rewritten in place (same path and inode, new contents): the probes at its old
        // offsets would land mid-instruction in the new code, so they go before it is probed anew
        var stale: UInt64?
        // (on 9p, as under virtme-ng, inode numbers are not unique: there the path must match
        // too; asked only in this rare case, not on every exec's look-up)
        if let old = inodes[inode], old.identity != key, old.place == place || oisp_execgate_fs_magic(fd) != 0x0102_1997 {
            stale = old.owner
            probedFiles[old.identity] = nil
        }
        lastOwner += 1
        let owner = lastOwner
        inodes[inode] = (key, place, owner)
        lock.unlock()
        if let stale { attachLock.withLock { _ = oisp_bpf_detach_owner(bpf, stale) } }
        let path = "/proc/self/fd/\(fd)"
        var keepOpen = false
        defer {
            if !keepOpen {
                close(fd)
                lock.withLock { inFlight[key] = nil }
                group.leave()
            }
        }
        var err = [CChar](repeating: 0, count: 512)
        let lib = Self.library(for: original)
        let isExecutable = !(original as NSString).lastPathComponent.hasPrefix("lib")
        var n: Int32 = 0
        var stack = lib == OISP_LIB_GNUTLS ? "gnutls" : lib == OISP_LIB_NSS ? "nss" : "openssl"
        var problem: String?
        var found: String?
        var isGo = false
        if lib == OISP_LIB_OPENSSL && isExecutable {
            // an executable: a Go program using crypto/tls? (asked first: it takes under a
            // millisecond, where looking OpenSSL's four symbols up in a large binary takes more)
            var info = oisp_gotls_info()
            let r = oisp_gotls_inspect(path, &info, &err, err.count)
            isGo = info.is_go != 0
            if r == OISP_GOTLS_OK.rawValue {
                stack = "go"
                n = attachLock.withLock { oisp_bpf_set_owner(bpf, owner); return oisp_bpf_attach_go(bpf, path, &info, &err, err.count) }
                if n < 0 { problem = String(cString: err) } else { n = 2 } // Write and Read
            } else if isGo && r != OISP_GOTLS_ERR_NO_TLS.rawValue {
                problem = "Go program \(original) not covered: \(String(cString: err))"
            }
        }
        if !isGo {
            err[0] = 0
            n = attachLock.withLock { oisp_bpf_set_owner(bpf, owner); return oisp_bpf_attach_lib(bpf, path, lib, &err, err.count) }
            if err[0] != 0 { problem = String(cString: err) } // n > 0 with a message: some functions missing
            var rustls = oisp_rustls_info(), isRustls = false
            if n == 0 && lib == OISP_LIB_OPENSSL && isExecutable {
                // a Rust program with rustls and its symbols (a symbol-table scan: milliseconds)
                err[0] = 0
                let r = oisp_rustls_inspect(path, &rustls, &err, err.count)
                if r == OISP_RUSTLS_OK.rawValue {
                    isRustls = true
                    stack = "rustls"
                    n = attachLock.withLock { oisp_bpf_set_owner(bpf, owner); return oisp_bpf_attach_rustls(bpf, path, &rustls, &err, err.count) }
                    if n < 0 { problem = String(cString: err) }
                    found = Self.rustlsFound(rustls)
                } else if CaptureTargets.rustlsNotCovered(r) {
                    isRustls = true
                    stack = "rustls"
                    problem = "rustls in \(original) not covered: \(String(cString: err))"
                }
            }
            if n == 0 && lib == OISP_LIB_OPENSSL && isExecutable && !isRustls {
                // no symbols: static BoringSSL in a stripped binary (Bun, Chromium/Electron)? The
                // search reads the whole binary (up to ~1 s for Chromium), so it runs beside the
                // poll thread and probes are attached when it is done.
                if held {
                    attachBoringSSL(path: path, name: original, key: key, inode: inode, owner: owner)
                    return (lock.withLock { probedFiles[key] ?? 0 }, true)
                } else {
                    keepOpen = true
                    (urgent ? execInspectQueue : inspectQueue).async { [self] in
                        attachBoringSSL(path: path, name: original, key: key, inode: inode, owner: owner)
                        close(fd)
                        lock.withLock { inFlight[key] = nil }
                        group.leave()
                    }
                }
            }
        }
        record(path: original, key: key, stack: stack, functions: Int(n), problem: problem.map { $0.replacingOccurrences(of: path, with: original) }, found: found)
        return (Int(max(0, n)), true)
    }

    /// How rustls was found, for the log and `check`: the functions and the calling convention.
    public static func rustlsFound(_ info: oisp_rustls_info) -> String {
        let compiler = withUnsafeBytes(of: info.compiler) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let abi = info.abi == OISP_RUSTLS_ABI_SRET.rawValue ? "result by pointer" : "result in registers"
        return "Writer::write ×\(info.nwrite), Reader::read ×\(info.nread)\(info.nwritev > 0 ? ", Writer::write_vectored ×\(info.nwritev)" : "") in the symbol table, \(abi)\(compiler.isEmpty ? "" : ", " + compiler)"
    }

    /// The exec gate's question: probes the file an exec waits for (`fd`, the gate's copy).
    func probeHeldExec(fd: Int32, pid: Int32) -> Bool {
        let name = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "/proc/\(pid)/exe"
        return attach(fd: fd, name: name, urgent: true, held: true).settled
    }

    private func record(path: String, key: String, stack: String, functions n: Int, problem: String?, found: String? = nil) {
        lock.lock()
        if n > 0 {
            probedFiles[key] = n
            attachedPaths.append(path)
            targetList.append(Target(path: path, stack: stack, functions: n, found: found))
        }
        if let problem { attachErrors.append(problem) }
        let report = targetReport
        lock.unlock()
        if n > 0 || problem != nil { report?(Target(path: path, stack: stack, functions: n, found: found), problem) }
    }

    /// Told of every file probed after start (and of every problem), e.g. to log it.
    public var onTarget: (@Sendable (Target, String?) -> Void)? {
        get { lock.withLock { targetReport } }
        set { lock.withLock { targetReport = newValue } }
    }
    private var targetReport: (@Sendable (Target, String?) -> Void)?

    /// Serialises every attach (the poll thread's and the BoringSSL search's).
    private let attachLock = NSLock()
    private let inspectQueue = DispatchQueue(label: "oisp-tls-inspect", qos: .utility)
    /// Searches for binaries exec'd while the sensor runs: their own queue, so a program just
    /// started (a Bun or Electron app making its first call) never waits behind the search of
    /// every large binary that was already running at start.
    private let execInspectQueue = DispatchQueue(label: "oisp-tls-inspect-exec", qos: .userInitiated)

    /// Finds SSL_write/SSL_read of a static, stripped BoringSSL by its own error reports (see
    /// Sources/COISPBPF/include/oisp_boringssl.h) and probes them; a binary where that is not
    /// certain is reported, never probed at a guess.
    func attachBoringSSL(path: String, name: String, key: String, inode: String, owner: UInt64) {
        guard lock.withLock({ !stopped }) else { return }
        var err = [CChar](repeating: 0, count: 512)
        func text() -> String { String(cString: err).replacingOccurrences(of: path, with: name) }
        var idBuf = [CChar](repeating: 0, count: 41)
        var st = stat()
        let id = oisp_boringssl_build_id(path, &idBuf, idBuf.count) == 0 && stat(path, &st) == 0 ? "\(String(cString: idBuf)):\(st.st_size)" : ""
        let offsets: (write: UInt64, read: UInt64, library: UInt32, writeArgs: UInt32), found: String?
        if !id.isEmpty, let known = lock.withLock({ boringByBuildID[id] }) {
            switch known {
            case .found(let w, let r, let lib, let args): offsets = (w, r, lib, args)
            case .none: return
            case .strippedOpenSSL(let why):
                record(path: name, key: key, stack: "openssl", functions: 0,
                       problem: "static OpenSSL in \(name) not covered: \(why) (a copy of a file searched before, by build id)")
                return
            }
            found = "build id seen before"
        } else {
            var info = oisp_boringssl_info()
            let r = oisp_boringssl_inspect(path, &info, &err, err.count)
            if r == OISP_BORINGSSL_ERR_NO_BORINGSSL.rawValue {
                if !id.isEmpty { lock.withLock { boringByBuildID[id] = BoringSearch.none } }
                return
            }
            let openssl = info.library == OISP_TLS_LIBRARY_OPENSSL.rawValue
            guard r == OISP_BORINGSSL_OK.rawValue else {
                if openssl {
                    let why = text().replacingOccurrences(of: "\(name): ", with: "")
                    if !id.isEmpty { lock.withLock { boringByBuildID[id] = .strippedOpenSSL(why) } }
                    record(path: name, key: key, stack: "openssl", functions: 0, problem: "static OpenSSL in \(name) not covered: \(why)")
                } else {
                    record(path: name, key: key, stack: "boringssl", functions: 0, problem: "static BoringSSL in \(name) not covered: \(text())")
                }
                return
            }
            offsets = (info.write.entry, info.read.entry, info.library, info.write_args)
            if !id.isEmpty { lock.withLock { boringByBuildID[id] = .found(write: offsets.write, read: offsets.read, library: offsets.library, writeArgs: offsets.writeArgs) } }
            found = openssl ? "ssl_write_internal, ssl_read_internal by their error reports (\(info.write_args == 5 ? "OpenSSL 3.3+ arguments" : "OpenSSL 3.0–3.2 arguments"))" : nil
        }
        let n = attachLock.withLock { () -> Int32 in
            // not stopped, and the file not rewritten (and its probes detached) during the search
            guard lock.withLock({ !stopped && inodes[inode]?.owner == owner }) else { return 0 }
            oisp_bpf_set_owner(bpf, owner)
            return oisp_bpf_attach_offsets(bpf, path, offsets.write, offsets.read, offsets.library, offsets.writeArgs, &err, err.count)
        }
        let stack = offsets.library == OISP_TLS_LIBRARY_OPENSSL.rawValue ? "openssl" : "boringssl"
        record(path: name, key: key, stack: stack, functions: n > 0 ? 2 : 0, problem: n < 0 ? text() : nil, found: found)
    }

    /// Waits until background inspections queued so far are done (tests, `check`).
    public func waitForInspections() { inspectQueue.sync {}; execInspectQueue.sync {} }

    /// Plain-HTTP connections opened before start: established TCP sockets with a listed local or
    /// remote port, found through /proc (each network namespace's table read once).
    func seedPlainConnections() {
        let ports = Set(options.plainPorts.map(Int.init))
        guard !ports.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        var tables: [String: Set<String>] = [:] // netns → socket inodes on a listed port
        let me = getpid()
        for e in entries {
            guard let pid = Int32(e), pid != me, options.targetPID == 0 || UInt32(pid) == options.targetPID else { continue }
            let sockets = ProcSockets.of(pid: Int64(pid))
            guard !sockets.isEmpty else { continue }
            let ns = ProcFS.link("/proc/\(pid)/ns/net") ?? "?"
            if tables[ns] == nil { tables[ns] = Self.listedSockets(pid: pid, ports: ports) }
            for (fd, inode) in sockets where tables[ns]!.contains(inode) { _ = oisp_bpf_plain_add(bpf, UInt32(pid), fd) }
        }
    }

    /// Inodes of established TCP sockets whose local or remote port is in `ports`.
    static func listedSockets(pid: Int32, ports: Set<Int>) -> Set<String> {
        var out = Set<String>()
        for file in ["tcp", "tcp6"] {
            guard let text = ProcFS.text("/proc/\(pid)/net/\(file)") else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 9, f[3] == "01" else { continue }
                let lport = f[1].split(separator: ":").last.flatMap { Int($0, radix: 16) } ?? 0
                let rport = f[2].split(separator: ":").last.flatMap { Int($0, radix: 16) } ?? 0
                if ports.contains(lport) || ports.contains(rport) { out.insert(String(f[9])) }
            }
        }
        return out
    }

    /// Probes a process's executable (static OpenSSL, Go crypto/tls), once per file.
    func attachExecutable(pid: Int32) {
        if let exe = ProcFS.link("/proc/\(pid)/exe") {
            attach(path: "/proc/\(pid)/root\(exe)", urgent: true)
        }
    }

    /// Looks at one process: its executable (static OpenSSL, e.g. node; unless `executable` is
    /// false: just attached at its exec) and mapped libssl.
    func scan(pid: Int32, executable: Bool = true) {
        let root = "/proc/\(pid)"
        if executable, let exe = ProcFS.link("\(root)/exe") {
            // Through /proc/<pid>/root so binaries inside containers resolve.
            attach(path: "\(root)/root\(exe)")
        }
        guard let maps = ProcFS.read("\(root)/maps") else { return }
        var seen = Set<String>()
        for path in Self.tlsLibraries(inMaps: maps) where seen.insert(path).inserted { attach(path: "\(root)/root\(path)") }
    }

    /// The TLS libraries a /proc/<pid>/maps text names, read as bytes: every process is looked at
    /// every few seconds, so no line becomes a String unless its file name is one of them.
    static func tlsLibraries(inMaps maps: Data) -> [String] {
        maps.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [String] in
            let b = raw.bindMemory(to: UInt8.self)
            var out: [String] = []
            var start = 0
            let n = b.count
            while start < n {
                var end = start
                while end < n && b[end] != 10 { end += 1 }
                // the path starts at the line's first '/', its name after the last one
                var first = -1, last = -1
                for k in start..<end where b[k] == 47 { if first < 0 { first = k }; last = k }
                if last >= 0 {
                    let name = UnsafeBufferPointer(rebasing: b[(last + 1)..<end])
                    func has(_ p: StaticString) -> Bool {
                        name.count >= p.utf8CodeUnitCount && memcmp(name.baseAddress!, p.utf8Start, p.utf8CodeUnitCount) == 0
                    }
                    if has("libssl") || has("libgnutls") || has("libnspr4") {
                        let path = String(decoding: UnsafeBufferPointer(rebasing: b[first..<end]), as: UTF8.self)
                        if !path.hasSuffix("(deleted)") { out.append(path) }
                    }
                }
                start = end + 1
            }
            return out
        }
    }

    func scanAllProcesses() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        let me = getpid()
        for e in entries { if let pid = Int32(e), pid != me { scan(pid: pid) } }
        lastFullScan = DispatchTime.now().uptimeNanoseconds
    }

    /// Starts the polling thread and the decode thread; `handler` receives records in batches,
    /// in kernel order, on the decode thread. The poll thread only moves records off the ring
    /// buffer (and attaches probes to new executables), so slow decoding cannot become ring-buffer
    /// loss or delay an attach.
    public func start(handler: @escaping ([CaptureRecord]) -> Void) {
        self.handler = handler
        running = true
        let w = Thread { [self] in self.decodeLoop() }
        w.name = "oisp-decode"
        worker = w
        w.start()
        let t = Thread { [self] in self.pollLoop() }
        t.name = "oisp-capture"
        thread = t
        t.start()
    }

    private func decodeLoop() {
        while true {
            handoff.lock()
            while queued.isEmpty && !pollDone { handoff.wait() }
            if queued.isEmpty && pollDone { handoff.unlock(); return }
            let work = queued
            queued.removeAll(keepingCapacity: true)
            queuedBytes = 0
            handoff.unlock()
            for b in work { handler?(b.records) }
        }
    }

    private func handOff(_ records: [CaptureRecord], bytes: Int) {
        handoff.lock()
        if queuedBytes + bytes > options.queueMaxBytes && !queued.isEmpty {
            dropped += UInt64(records.count)
        } else {
            queued.append((records, bytes))
            queuedBytes += bytes
            handoff.signal()
        }
        handoff.unlock()
    }

    /// Stops polling, lets the decode thread finish what was handed to it, and detaches everything.
    public func stop() {
        let g = lock.withLock { () -> ExecGate? in defer { gate = nil }; return gate }
        g?.stop()
        stopPolling()
        inspectQueue.sync {}
        execInspectQueue.sync {}
        attachLock.lock()
        defer { attachLock.unlock() }
        closeLock.lock()
        defer { closeLock.unlock() }
        if !closed {
            closed = true
            oisp_bpf_close(bpf)
        }
    }

    /// Stops reading the ring buffer and hands the last records on; the probes stay attached
    /// until `stop()`. Detaching waits for a kernel RCU grace period per link (seconds with many
    /// probes): a shutdown with a budget stops polling first and detaches last.
    public func stopPolling() {
        lock.lock()
        running = false
        lock.unlock()
        while thread?.isFinished == false { usleep(10_000) }
        handoff.lock()
        pollDone = true
        handoff.signal()
        handoff.unlock()
        while worker?.isFinished == false { usleep(10_000) }
        lock.withLock { stopped = true }
    }

    private static let sample: oisp_bpf_sample_fn = { ctx, data, len in
        let me = Unmanaged<BPFCapture>.fromOpaque(ctx!).takeUnretainedValue()
        if let r = CaptureRecord.decode(UnsafeRawBufferPointer(start: data, count: len)) {
            if case .exec(let pid, _, _, _, _, _) = r, me.options.ssl {
                // the executable at once, before the batch is handed on: a short-lived program
                // (a Go CLI) reaches its first TLS write within milliseconds of exec
                me.attachExecutable(pid: Int32(pid))
                let now = DispatchTime.now().uptimeNanoseconds
                // The new image's libraries are mapped by the dynamic loader shortly after exec.
                me.pendingScans.append((Int32(pid), now, false))
                me.pendingScans.append((Int32(pid), now + 30_000_000, true))
                me.pendingScans.append((Int32(pid), now + 300_000_000, true))
            }
            if case .exec(let pid, _, _, _, _, _) = r { me.onExec?(Int64(pid)) } // after the attach: it must not wait
            if case .sslData(let d) = r { me.batchBytes += d.bytes.count + 96 } else { me.batchBytes += 96 }
            me.batch.append(r)
        }
        return 0
    }

    private func pollLoop() {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        while lock.withLock({ running }) {
            let n = oisp_bpf_poll(bpf, options.pollTimeoutMs, BPFCapture.sample, ctx)
            if n < 0 && n != -EINTR { usleep(100_000) }
            if !batch.isEmpty {
                handOff(batch, bytes: batchBytes)
                batch = []
                batchBytes = 0
            }
            if options.ssl {
                let now = DispatchTime.now().uptimeNanoseconds
                var due: [(pid: Int32, exe: Bool)] = []
                pendingScans.removeAll { item in
                    if item.at <= now { due.append((item.pid, item.exe)); return true }
                    return false
                }
                for d in due { scan(pid: d.pid, executable: d.exe) }
                if now - lastFullScan > 5_000_000_000 { scanAllProcesses() }
            }
        }
    }
}
