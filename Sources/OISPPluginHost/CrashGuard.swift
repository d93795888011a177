import Foundation
import Logging
import OISPPipeline
#if canImport(Glibc)
import Glibc
#endif

/// An exporter instance refused because its plugin crashed the sensor `crash_limit` runs in a row.
public struct PluginCrashRefusal: Error, CustomStringConvertible {
    public let exporter: String
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// The crash marker of one in-process plugin instance: a page of `<state_dir>/<instance>.crash`,
/// mapped shared. Before each export call the host counts the call in (`enter`), after it counts
/// it out (`leave`): two stores into the mapped page, no system call. A segfault in the plugin
/// kills the process with the count still up; the page is the file's page cache, so it outlives
/// the process (not a power cut — nothing here needs to: a power cut is not a plugin crash), and
/// the next start finds it: the plugin is named in the log, its runs-in-a-row count goes up, and
/// at `crash_limit` the instance is refused with that reason (`oisp plugins list` shows it) while
/// the other exporters run. A run that ends without a crash in this plugin resets the count; a
/// refused instance stays refused until its plugin file changes or the marker is deleted.
/// A normal exit (also with a hung call abandoned at the shutdown deadline) clears the count.
/// A fault handler (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) records the signal on the page of
/// the call running on the faulting thread, so a crash is pinned on that plugin alone; with no
/// signal recorded anywhere (SIGKILL, an OOM kill, a fault the handler missed) every call in
/// flight counts.
public final class CrashGuard: @unchecked Sendable {
    static let pageSize = 4096
    static let magic: UInt64 = 0x3147_5243_5053_494F // "OISPCRG1" little-endian
    // layout of the page
    static let oMagic = 0, oInCall = 8, oCrashes = 12, oBatch = 16, oSize = 24, oMtime = 32, oInode = 40, oSignal = 48, oText = 64

    public let file: String
    public let exporter: String
    public let pluginName: String
    public let pluginPath: String
    /// Runs in a row that ended in a crash in this plugin, as counted at this start.
    public let crashesInARow: Int
    public let limit: Int
    private let page: UnsafeMutableRawPointer
    private let lock = NSLock()

    /// On probation: it crashed the sensor in the run before (and is still below the limit).
    public var onProbation: Bool { crashesInARow > 0 }

    private init(file: String, exporter: String, plugin: LoadedPlugin, page: UnsafeMutableRawPointer, crashes: Int, limit: Int) {
        self.file = file; self.exporter = exporter; pluginName = plugin.name; pluginPath = plugin.path
        self.page = page; crashesInARow = crashes; self.limit = limit
    }

    /// Before an export call (per batch, never per record).
    @inline(__always) public func enter(batch: UInt64) {
        pthread_setspecific(CrashGuard.threadKey, page) // the fault handler's clue: no system call
        lock.lock()
        page.storeBytes(of: page.load(fromByteOffset: Self.oInCall, as: UInt32.self) &+ 1, toByteOffset: Self.oInCall, as: UInt32.self)
        page.storeBytes(of: batch, toByteOffset: Self.oBatch, as: UInt64.self)
        lock.unlock()
    }

    /// After the export call returned.
    @inline(__always) public func leave() {
        pthread_setspecific(CrashGuard.threadKey, nil)
        lock.lock()
        let n = page.load(fromByteOffset: Self.oInCall, as: UInt32.self)
        page.storeBytes(of: n > 0 ? n - 1 : 0, toByteOffset: Self.oInCall, as: UInt32.self)
        lock.unlock()
    }

    fileprivate func clearAtExit() {
        page.storeBytes(of: 0, toByteOffset: Self.oInCall, as: UInt32.self)
    }

    // MARK: process-wide registry (one guard per marker file, whatever reloads do)

    private static let registryLock = NSLock()
    private nonisolated(unsafe) static var opened: [String: Result<CrashGuard, PluginCrashRefusal>] = [:]
    private static let atExitOnce: Void = {
        atexit {
            // a normal exit is no crash, even with a hung call still running in a plugin
            let gs = CrashGuard.registryLock.withLock { CrashGuard.opened.values.compactMap { try? $0.get() } }
            for g in gs { g.clearAtExit() }
        }
    }()

    /// The marker file of `exporter` in `stateDir`.
    public static func markerPath(stateDir: String, exporter: String) -> String {
        (stateDir as NSString).appendingPathComponent("\(exporter.replacingOccurrences(of: "/", with: "_")).crash")
    }

    // MARK: the fault handler

    /// The marker page of the plugin call running on this thread (set by `enter`).
    nonisolated(unsafe) static var threadKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()
    static let faultSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT]
    /// The handlers that were there before (the Swift runtime's backtracer, or the default),
    /// one per fault signal, in a block of their own: the handler reads no Swift array.
    nonisolated(unsafe) static let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 5)
    private static let installOnce: Void = {
        _ = threadKey
        for (i, sig) in faultSignals.enumerated() {
            var sa = sigaction()
            sa.__sigaction_handler.sa_sigaction = { sig, info, ctx in
                // async-signal-safe: a thread-specific read and two stores into a mapped page
                if let page = pthread_getspecific(CrashGuard.threadKey) {
                    page.storeBytes(of: sig, toByteOffset: CrashGuard.oSignal, as: Int32.self)
                }
                // the handler that was there decides what happens next (the fault recurs when
                // this returns, and the process dies of it as it would have)
                let k: Int = sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : sig == SIGILL ? 2 : sig == SIGFPE ? 3 : 4
                _ = sigaction(sig, CrashGuard.previous + k, nil)
                // a fault recurs by itself; a sent signal (abort, raise, kill) is sent again
                if sig == SIGABRT || (info?.pointee.si_code ?? 0) <= 0 { raise(sig) }
            }
            sa.sa_flags = SA_SIGINFO | SA_ONSTACK
            sigemptyset(&sa.sa_mask)
            _ = sigaction(sig, &sa, previous + i)
        }
    }()

    static func signalName(_ s: Int32) -> String {
        switch s {
        case SIGSEGV: return "SIGSEGV"
        case SIGBUS: return "SIGBUS"
        case SIGILL: return "SIGILL"
        case SIGFPE: return "SIGFPE"
        case SIGABRT: return "SIGABRT"
        default: return "signal \(s)"
        }
    }

    /// Whether the last run's fault handler recorded a signal on any marker in `dir` (read once
    /// per process, before this process's guards rewrite their pages).
    nonisolated(unsafe) private static var signalledDirs: [String: Bool] = [:]
    private static func dirSignalled(_ dir: String) -> Bool {
        if let v = signalledDirs[dir] { return v }
        var any = false
        for n in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where n.hasSuffix(".crash") {
            if let d = FileManager.default.contents(atPath: (dir as NSString).appendingPathComponent(n)), d.count >= pageSize {
                any = any || d.withUnsafeBytes { { (m: Marker) in m.valid && m.inCall > 0 && m.signal != 0 }(Marker(UnsafeMutableRawPointer(mutating: $0.baseAddress!))) }
            }
        }
        signalledDirs[dir] = any
        return any
    }

    /// Whether any guard opened in this process is on probation.
    public static var anyOnProbation: Bool {
        registryLock.withLock { opened.values.contains { (try? $0.get())?.onProbation ?? false } }
    }

    /// Opens (once per process) the guard of `exporter`: reads what the last run left, counts a
    /// crash when it died inside this plugin's export call, logs it, and refuses the instance at
    /// the limit (0: never). Throws `PluginCrashRefusal`.
    public static func open(stateDir: String, exporter: String, plugin: LoadedPlugin, limit: Int, logger: Logger) throws -> CrashGuard {
        _ = atExitOnce
        _ = installOnce
        let file = markerPath(stateDir: stateDir, exporter: exporter)
        registryLock.lock(); defer { registryLock.unlock() }
        if let r = opened[file] { return try r.get() }
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let fd = Glibc.open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PluginLoadError(path: file, reason: "cannot open the crash marker: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && st.st_size < pageSize { _ = ftruncate(fd, off_t(pageSize)) }
        guard let page = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), page != MAP_FAILED else {
            throw PluginLoadError(path: file, reason: "cannot map the crash marker: \(String(cString: strerror(errno)))")
        }
        let before = Marker(page)
        let signalled = dirSignalled(stateDir)
        let now = Identity(path: plugin.path)
        var crashes = before.valid ? before.crashes : 0
        let replaced = before.valid && before.identity != now
        if replaced { crashes = 0 }
        // died inside this plugin's call: its fault was seen (a signal recorded on its page), or
        // no fault was seen anywhere (a kill, or a crash the handler missed): every call in flight
        let diedInCall = before.valid && !replaced && before.inCall > 0 && (before.signal != 0 || !signalled)
        if diedInCall { crashes += 1 } else if limit == 0 || crashes < limit { crashes = 0 }
        // write the new state (the text names plugin and instance for whoever reads the file)
        page.storeBytes(of: magic, toByteOffset: oMagic, as: UInt64.self)
        page.storeBytes(of: 0, toByteOffset: oInCall, as: UInt32.self)
        page.storeBytes(of: 0, toByteOffset: oSignal, as: Int32.self)
        page.storeBytes(of: UInt32(clamping: crashes), toByteOffset: oCrashes, as: UInt32.self)
        page.storeBytes(of: now.size, toByteOffset: oSize, as: Int64.self)
        page.storeBytes(of: now.mtimeNs, toByteOffset: oMtime, as: Int64.self)
        page.storeBytes(of: now.inode, toByteOffset: oInode, as: UInt64.self)
        let text = Array("oisp crash marker: plugin=\(plugin.name) instance=\(exporter) path=\(plugin.path)\n".utf8.prefix(pageSize - oText - 1))
        text.withUnsafeBytes { page.advanced(by: oText).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        page.storeBytes(of: 0, toByteOffset: oText + text.count, as: UInt8.self)
        let md: Logger.Metadata = ["exporter": "\(exporter)", "plugin": "\(plugin.name)", "path": "\(plugin.path)", "marker": "\(file)"]
        if replaced && before.crashes > 0 {
            logger.notice("plugin file changed since it crashed the sensor; crash count reset", metadata: md)
        }
        if limit > 0 && crashes >= limit {
            munmap(page, pageSize)
            let why = "refused: plugin \(plugin.name) crashed the sensor in on_export \(crashes) runs in a row (crash_limit \(limit))"
                + "; replace the plugin file or delete \(file) to try it again"
            let r = PluginCrashRefusal(exporter: exporter, path: plugin.path, reason: why)
            opened[file] = .failure(r)
            throw r
        }
        if diedInCall {
            var m = md
            m["batch_id"] = "\(before.batch)"
            m["crashes_in_a_row"] = "\(crashes)"
            m["crash_limit"] = "\(limit)"
            let how = before.signal != 0 ? signalName(before.signal) : "no signal recorded: killed, or a crash the handler missed"
            m["signal"] = "\(how)"
            logger.error("plugin \(plugin.name) crashed the sensor during on_export in the previous run (\(how); exporter \(exporter), crash \(crashes) of \(limit) in a row before it is refused)",
                         metadata: m)
        }
        let g = CrashGuard(file: file, exporter: exporter, plugin: plugin, page: page, crashes: crashes, limit: limit)
        opened[file] = .success(g)
        return g
    }

    /// What the next start would decide, read without changing anything (`oisp plugins list`):
    /// the refusal reason, or nil.
    public static func refusal(stateDir: String, exporter: String, pluginPath: String, pluginName: String, limit: Int) -> String? {
        guard limit > 0 else { return nil }
        let file = markerPath(stateDir: stateDir, exporter: exporter)
        guard let d = FileManager.default.contents(atPath: file), d.count >= pageSize else { return nil }
        return d.withUnsafeBytes { raw -> String? in
            let m = Marker(UnsafeMutableRawPointer(mutating: raw.baseAddress!))
            guard m.valid, m.identity == Identity(path: pluginPath) else { return nil }
            let crashes = m.crashes + (m.inCall > 0 ? 1 : 0)
            guard crashes >= limit else { return nil }
            return "refused for instance \(exporter): plugin \(pluginName) crashed the sensor in on_export \(crashes) runs in a row (crash_limit \(limit))"
                + "; replace the plugin file or delete \(file) to try it again"
        }
    }

    struct Identity: Equatable {
        var size: Int64 = -1, mtimeNs: Int64 = -1, inode: UInt64 = 0
        init(size: Int64, mtimeNs: Int64, inode: UInt64) { self.size = size; self.mtimeNs = mtimeNs; self.inode = inode }
        init(path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return }
            size = Int64(st.st_size); mtimeNs = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec); inode = UInt64(st.st_ino)
        }
    }

    struct Marker {
        var valid: Bool, inCall: Int, crashes: Int, batch: UInt64, identity: Identity, signal: Int32
        init(_ p: UnsafeMutableRawPointer) {
            valid = p.load(fromByteOffset: CrashGuard.oMagic, as: UInt64.self) == CrashGuard.magic
            inCall = Int(p.load(fromByteOffset: CrashGuard.oInCall, as: UInt32.self))
            crashes = Int(p.load(fromByteOffset: CrashGuard.oCrashes, as: UInt32.self))
            batch = p.load(fromByteOffset: CrashGuard.oBatch, as: UInt64.self)
            signal = p.load(fromByteOffset: CrashGuard.oSignal, as: Int32.self)
            identity = Identity(size: p.load(fromByteOffset: CrashGuard.oSize, as: Int64.self),
                                mtimeNs: p.load(fromByteOffset: CrashGuard.oMtime, as: Int64.self),
                                inode: p.load(fromByteOffset: CrashGuard.oInode, as: UInt64.self))
        }
    }
}

/// Stands in for an exporter refused for its crashes when it has a spool: every batch "fails"
/// at once, so its events go to its spool and wait there (counted as spooled, not lost) until
/// the plugin is replaced; one log line a minute says why.
final class HeldForCrashesSink: ExportSink, @unchecked Sendable {
    let reason: String
    init(reason: String) { self.reason = reason }
    func export(_ batch: ExportBatch) -> ExportOutcome {
        .retry(accepted: 0, retryAfterMs: 60_000, message: "\(reason); events kept in the spool")
    }
    func flush(timeoutMs: Int) -> ExportOutcome { .ok }
    func close() {}
}
