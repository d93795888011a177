import COISPBPF
import Foundation

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
        public var pollTimeoutMs: Int32 = 100
        public var ringBufferBytes = 2 << 20
        public init(objectPath: String) { self.objectPath = objectPath }
    }

    private let options: Options
    private let bpf: OpaquePointer
    private let lock = NSLock()
    private var probedFiles: [String: Int] = [:]   // "dev:ino" → functions attached (0 = none)
    private var attachedPaths: [String] = []
    private var pendingScans: [(pid: Int32, at: UInt64)] = []
    private var lastFullScan: UInt64 = 0
    private var thread: Thread?
    private var running = false
    private var stopped = false
    private var handler: (([CaptureRecord]) -> Void)?
    private var batch: [CaptureRecord] = []
    public private(set) var attachErrors: [String] = []

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
        if options.process || options.network {
            if oisp_bpf_ensure_tracefs(&err, err.count) != 0 { throw CaptureError(String(cString: err)) }
        }
        var o = oisp_bpf_options(max_capture_bytes: UInt32(clamping: options.maxCaptureBytes), target_pid: options.targetPID,
                                 capture_ssl: options.ssl ? 1 : 0, capture_process: options.process ? 1 : 0,
                                 capture_network: options.network ? 1 : 0, wakeup_bytes: UInt32(min(256 * 1024, options.ringBufferBytes / 8)),
                                 ring_bytes: UInt32(clamping: options.ringBufferBytes),
                                 noop_ssl_probes: options.noopProbes ? 1 : 0)
        guard let b = oisp_bpf_open(options.objectPath, &o, &err, err.count) else {
            throw CaptureError(String(cString: err))
        }
        bpf = b
        if options.process || options.network {
            if oisp_bpf_attach_tracepoints(b, &err, err.count) != 0 {
                let why = String(cString: err)
                oisp_bpf_close(b)
                throw CaptureError(why)
            }
        }
        if options.ssl {
            for p in Self.systemSSLLibraries() + options.sslBinaryPaths { attach(path: p) }
            scanAllProcesses()
        }
    }

    deinit { if !stopped { oisp_bpf_close(bpf) } }

    /// Files that were found to contain SSL functions and are probed.
    public var probedPaths: [String] { lock.withLock { attachedPaths } }

    /// Records the kernel side could not deliver (ring buffer full).
    public var lostRecords: UInt64 { oisp_bpf_lost(bpf) }

    public static func systemSSLLibrariesFound() -> [String] { systemSSLLibraries() }

    static func systemSSLLibraries() -> [String] {
        let dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"]
        var out: [String] = []
        for d in dirs {
            for n in ["libssl.so.3", "libssl.so.1.1"] {
                let p = "\(d)/\(n)"
                if FileManager.default.fileExists(atPath: p) { out.append(p) }
            }
        }
        return out
    }

    private static func fileKey(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_dev):\(st.st_ino)"
    }

    /// Probes a library or executable once (by inode); returns functions attached.
    @discardableResult
    public func attach(path: String) -> Int {
        guard let key = Self.fileKey(path) else { return 0 }
        lock.lock()
        if let n = probedFiles[key] { lock.unlock(); return n }
        probedFiles[key] = 0
        lock.unlock()
        var err = [CChar](repeating: 0, count: 512)
        let n = oisp_bpf_attach_ssl(bpf, path, &err, err.count)
        lock.lock()
        defer { lock.unlock() }
        if n > 0 {
            probedFiles[key] = Int(n)
            attachedPaths.append(path)
        } else if n < 0 {
            attachErrors.append(String(cString: err))
        }
        return Int(max(0, n))
    }

    /// Looks at one process: its executable (static OpenSSL, e.g. node) and mapped libssl.
    func scan(pid: Int32) {
        let root = "/proc/\(pid)"
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/exe") {
            // Through /proc/<pid>/root so binaries inside containers resolve.
            attach(path: "\(root)/root\(exe)")
        }
        guard let maps = try? String(contentsOfFile: "\(root)/maps", encoding: .utf8) else { return }
        var seen = Set<String>()
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            guard path.contains("libssl"), !path.hasSuffix("(deleted)"), seen.insert(path).inserted else { continue }
            attach(path: "\(root)/root\(path)")
        }
    }

    func scanAllProcesses() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        let me = getpid()
        for e in entries { if let pid = Int32(e), pid != me { scan(pid: pid) } }
        lastFullScan = DispatchTime.now().uptimeNanoseconds
    }

    /// Starts the polling thread; `handler` receives records in batches, on that thread.
    public func start(handler: @escaping ([CaptureRecord]) -> Void) {
        self.handler = handler
        running = true
        let t = Thread { [self] in self.pollLoop() }
        t.name = "oisp-capture"
        thread = t
        t.start()
    }

    /// Stops polling and detaches everything.
    public func stop() {
        lock.lock()
        running = false
        lock.unlock()
        while thread?.isFinished == false { usleep(10_000) }
        if !stopped {
            stopped = true
            oisp_bpf_close(bpf)
        }
    }

    private static let sample: oisp_bpf_sample_fn = { ctx, data, len in
        let me = Unmanaged<BPFCapture>.fromOpaque(ctx!).takeUnretainedValue()
        if let r = CaptureRecord.decode(UnsafeRawBufferPointer(start: data, count: len)) {
            if case .exec(let pid, _, _, _, _, _) = r, me.options.ssl {
                let now = DispatchTime.now().uptimeNanoseconds
                // The new image's libraries are mapped by the dynamic loader shortly after exec.
                me.pendingScans.append((Int32(pid), now))
                me.pendingScans.append((Int32(pid), now + 30_000_000))
                me.pendingScans.append((Int32(pid), now + 300_000_000))
            }
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
                let b = batch
                batch.removeAll(keepingCapacity: true)
                handler?(b)
            }
            if options.ssl {
                let now = DispatchTime.now().uptimeNanoseconds
                var due: [Int32] = []
                pendingScans.removeAll { item in
                    if item.at <= now { due.append(item.pid); return true }
                    return false
                }
                for pid in due { scan(pid: pid) }
                if now - lastFullScan > 5_000_000_000 { scanAllProcesses() }
            }
        }
    }
}
