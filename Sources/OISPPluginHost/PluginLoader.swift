import CLTDL
import COISPExporterABI
import Foundation

/// The host's exporter ABI version.
public let hostABIMajor = UInt32(OISP_EXPORTER_ABI_MAJOR)
public let hostABIMinor = UInt32(OISP_EXPORTER_ABI_MINOR)

/// A plugin file that passed every load-time check: its table is valid for the process's life.
public final class LoadedPlugin: @unchecked Sendable {
    public let path: String
    public let name: String
    public let version: String
    public let description: String?
    public let configSchema: String?
    public let abiMajor: UInt32
    public let abiMinor: UInt32
    /// The oldest host ABI the plugin runs on (`min_host_abi`, ABI 1.2; for older plugins the ABI
    /// they were built against), "major.minor".
    public let minHostABI: String
    let table: UnsafePointer<oisp_exporter_plugin>
    /// The plugin declares OISP_EXPORTER_CAP_CONCURRENT_EXPORT.
    public var acceptsConcurrentExportsDeclared: Bool {
        table.pointee.capabilities & UInt64(OISP_EXPORTER_CAP_CONCURRENT_EXPORT.rawValue) != 0
    }

    /// ABI 1.3: the plugin reads each record's fields (`oisp_batch.fields`).
    public var wantsRecordFields: Bool {
        table.pointee.capabilities & UInt64(OISP_EXPORTER_CAP_RECORD_FIELDS.rawValue) != 0
    }

    /// The plugin also reads the call fields (OISP_EXPORTER_CAP_CALL_FIELDS).
    public var wantsCallFields: Bool {
        wantsRecordFields && table.pointee.capabilities & UInt64(OISP_EXPORTER_CAP_CALL_FIELDS.rawValue) != 0
    }

    init(path: String, table: UnsafePointer<oisp_exporter_plugin>) {
        self.path = path
        self.table = table
        let t = table.pointee
        name = String(cString: t.name)
        version = t.version.map { String(cString: $0) } ?? "?"
        description = t.description.map { String(cString: $0) }
        configSchema = t.config_schema.map { String(cString: $0) }
        abiMajor = t.abi_major
        abiMinor = t.abi_minor
        let m = PluginLoader.neededHostABI(t)
        minHostABI = "\(m.major).\(m.minor)"
    }
}

/// Why a plugin was refused.
public struct PluginLoadError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Loads exporter plugins with libltdl. Modules are made resident: never unloaded, because the
/// Swift runtime cannot unload images and plugins may keep threads until destroy.
public enum PluginLoader {
    private static let initOnce: Void = { _ = lt_dlinit() }()
    private static let lock = NSLock()
    private static var cache: [String: LoadedPlugin] = [:]

    /// Loads (or returns the already loaded) plugin at `path`, after the ownership/permission
    /// checks, the entry symbol lookup and the ABI version check.
    public static func load(path: String) throws -> LoadedPlugin {
        _ = initOnce
        lock.lock(); defer { lock.unlock() }
        if let p = cache[path] { return p }
        if let why = PluginSecurity.check(path: path) { throw PluginLoadError(path: path, reason: "refused: \(why)") }

        var advise: lt_dladvise?
        lt_dladvise_init(&advise)
        lt_dladvise_resident(&advise)
        lt_dladvise_local(&advise)
        let handle = lt_dlopenadvise(path, advise)
        lt_dladvise_destroy(&advise)
        guard let handle else {
            let err = lt_dlerror().map { String(cString: $0) } ?? "unknown error"
            throw PluginLoadError(path: path, reason: "cannot load: \(err)")
        }
        guard let sym = lt_dlsym(handle, OISP_EXPORTER_ENTRY_SYMBOL) else {
            throw PluginLoadError(path: path, reason: "missing entry symbol \(OISP_EXPORTER_ENTRY_SYMBOL) — not an oisp exporter plugin")
        }
        let entry = unsafeBitCast(sym, to: (@convention(c) (UInt32, UInt32) -> UnsafePointer<oisp_exporter_plugin>?).self)
        guard let table = entry(hostABIMajor, hostABIMinor) else {
            throw PluginLoadError(path: path, reason: "plugin declined to serve host ABI \(hostABIMajor).\(hostABIMinor)")
        }
        let t = try PluginLoader.readTable(table, path: path)
        var missing: [String] = []
        if t.name == nil { missing.append("name") }
        if t.version == nil { missing.append("version") }
        if t.on_create == nil { missing.append("on_create") }
        if t.on_export == nil { missing.append("on_export") }
        if t.on_destroy == nil { missing.append("on_destroy") }
        if t.last_error == nil { missing.append("last_error") }
        guard missing.isEmpty else {
            throw PluginLoadError(path: path, reason: "plugin table lacks required \(missing.joined(separator: ", "))")
        }
        let copy = UnsafeMutablePointer<oisp_exporter_plugin>.allocate(capacity: 1) // lives as long as the module
        copy.initialize(to: t)
        let p = LoadedPlugin(path: path, table: UnsafePointer(copy))
        cache[path] = p
        return p
    }

    /// The oldest host ABI a (host-side copy of a) table runs on: its `min_host_abi`, or — unset
    /// ({0, 0}, or a 1.0/1.1 table, which has no such field) — the ABI it was built against.
    static func neededHostABI(_ t: oisp_exporter_plugin) -> oisp_abi_version {
        t.min_host_abi.major == 0 && t.min_host_abi.minor == 0 ? oisp_abi_version(major: t.abi_major, minor: t.abi_minor) : t.min_host_abi
    }

    /// Size of the ABI 1.0 plugin table: everything up to and including `last_error`. No plugin
    /// table of major 1 can be smaller.
    public static let pluginTableSize10 = MemoryLayout<oisp_exporter_plugin>.offset(of: \oisp_exporter_plugin.last_error)!
        + MemoryLayout<UnsafeRawPointer>.size

    /// The plugin's table as this host knows it, read by the ABI's growth rule: the plugin's
    /// `struct_size` says how much of it exists; only that much is read (a table from an older
    /// plugin is shorter than this host's struct, and what follows it in the plugin's memory is
    /// not ours to read), and the fields it does not cover keep their zero defaults. A newer
    /// plugin's longer table is read up to this host's size. Refused: a different major (named,
    /// both versions) and a table shorter than ABI 1.0's (named, both sizes).
    static func readTable(_ table: UnsafePointer<oisp_exporter_plugin>, path: String) throws -> oisp_exporter_plugin {
        let raw = UnsafeRawPointer(table)
        let size = raw.loadUnaligned(as: Int.self) // struct_size: first member of every version
        let versionsEnd = MemoryLayout<oisp_exporter_plugin>.offset(of: \oisp_exporter_plugin.abi_minor)! + MemoryLayout<UInt32>.size
        guard size >= versionsEnd else {
            throw PluginLoadError(path: path, reason: "plugin table is \(size) bytes, too small to hold its ABI version; the ABI \(hostABIMajor).0 table is \(pluginTableSize10) bytes")
        }
        let major = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_exporter_plugin>.offset(of: \oisp_exporter_plugin.abi_major)!, as: UInt32.self)
        let minor = raw.loadUnaligned(fromByteOffset: MemoryLayout<oisp_exporter_plugin>.offset(of: \oisp_exporter_plugin.abi_minor)!, as: UInt32.self)
        guard major == hostABIMajor else {
            throw PluginLoadError(path: path, reason: "ABI major mismatch: plugin built for ABI \(major).\(minor), host supports \(hostABIMajor).\(hostABIMinor)")
        }
        guard size >= pluginTableSize10 else {
            throw PluginLoadError(path: path, reason: "plugin table is \(size) bytes (struct_size), smaller than the ABI \(hostABIMajor).0 table (\(pluginTableSize10) bytes); host ABI \(hostABIMajor).\(hostABIMinor) table is \(MemoryLayout<oisp_exporter_plugin>.size) bytes")
        }
        var t = oisp_exporter_plugin()
        withUnsafeMutableBytes(of: &t) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: min(size, MemoryLayout<oisp_exporter_plugin>.size)))
        }
        t.struct_size = MemoryLayout<oisp_exporter_plugin>.size // the copy is the host's, defaults included
        // ABI 1.2: the plugin states the oldest host it runs on; a table without it (1.0, 1.1) or
        // with {0, 0} needs the ABI it was built against
        let needs = neededHostABI(t)
        guard needs.major == hostABIMajor, needs.minor <= hostABIMinor else {
            let declared = needs.major == t.abi_major && needs.minor == t.abi_minor && t.min_host_abi.major == 0
                ? "built for ABI \(t.abi_major).\(t.abi_minor)" : "built for ABI \(t.abi_major).\(t.abi_minor), declares min_host_abi \(needs.major).\(needs.minor)"
            throw PluginLoadError(path: path, reason: "plugin needs host ABI \(needs.major).\(needs.minor) or newer (\(declared)); this host is ABI \(hostABIMajor).\(hostABIMinor)")
        }
        return t
    }
}
