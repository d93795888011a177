import COISPExporterABI
import Foundation
import Logging
import Metrics
import OISPConfig
import OISPEvent
import OISPPipeline

/// Per-instance state behind the host API table given to a plugin (`host_ctx`).
final class HostContext {
    let exporter: String
    var logger: Logger
    let lock = NSLock()
    var counters: [String: UInt64] = [:]
    /// `oisp_plugin_<name>_total{exporter}`, made on a name's first use.
    var metrics: [String: Counter] = [:]
    var refusedNames: Set<String> = []
    init(exporter: String, logger: Logger) {
        self.exporter = exporter
        self.logger = logger
        self.logger[metadataKey: "exporter"] = "\(exporter)"
    }
}

private let hostLog: @convention(c) (UnsafeMutableRawPointer?, oisp_log_level, UnsafePointer<CChar>?, Int) -> Void = { ctx, level, msg, len in
    guard let ctx, let msg else { return }
    let c = Unmanaged<HostContext>.fromOpaque(ctx).takeUnretainedValue()
    let text = String(decoding: UnsafeRawBufferPointer(start: msg, count: max(0, len)), as: UTF8.self)
    let l: Logger.Level
    switch level {
    case OISP_LOG_TRACE: l = .trace
    case OISP_LOG_DEBUG: l = .debug
    case OISP_LOG_INFO: l = .info
    case OISP_LOG_WARN: l = .warning
    default: l = .error
    }
    c.logger.log(level: l, "\(text)", metadata: ["source": "plugin"])
}

private let hostCounterAdd: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UInt64) -> Void = { ctx, name, delta in
    guard let ctx, let name else { return }
    let c = Unmanaged<HostContext>.fromOpaque(ctx).takeUnretainedValue()
    let n = String(cString: name)
    // the header's promise: [a-z0-9_] names, exposed as oisp_plugin_<name>_total{exporter="<instance>"}
    guard !n.isEmpty, n.utf8.count <= 64, n.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }) else {
        let first = c.lock.withLock { c.refusedNames.insert(n).inserted }
        if first { c.logger.warning("plugin counter name refused (expected [a-z0-9_], at most 64 characters)", metadata: ["name": "\(n)"]) }
        return
    }
    let counter: Counter = c.lock.withLock {
        c.counters[n, default: 0] &+= delta
        if let m = c.metrics[n] { return m }
        let m = Counter(label: "oisp_plugin_\(n)_total", dimensions: [("exporter", c.exporter)])
        c.metrics[n] = m
        return m
    }
    counter.increment(by: Int(clamping: delta))
}

private let hostNow: @convention(c) (UnsafeMutableRawPointer?) -> Int64 = { _ in Timestamp.now().nanoseconds }

/// Names of the ABI's result codes (host side: the header declares no function a plugin would
/// have to find in the host).
public enum PluginResult {
    /// "OK", "RETRY", "PERMANENT", "INVALID_CONFIG", or "UNKNOWN(<code>)".
    public static func name(_ rc: oisp_export_result) -> String {
        switch rc {
        case OISP_EXPORT_OK: return "OK"
        case OISP_EXPORT_RETRY: return "RETRY"
        case OISP_EXPORT_PERMANENT: return "PERMANENT"
        case OISP_EXPORT_INVALID_CONFIG: return "INVALID_CONFIG"
        default: return "UNKNOWN(\(rc.rawValue))"
        }
    }
}

/// Error from a plugin's `on_create`.
public struct PluginCreateError: Error, CustomStringConvertible {
    public let exporter: String
    public let path: String
    public let code: String
    public let message: String
    public var description: String { "exporter \(exporter) (\(path)): create failed (\(code)): \(message)" }
}

/// A plugin instance driven as an `ExportSink` by the pipeline.
public final class PluginSink: ExportSink, @unchecked Sendable {
    public let plugin: LoadedPlugin
    public let exporterName: String
    private let instance: OpaquePointer
    private let context: HostContext
    private let hostAPI: UnsafeMutablePointer<oisp_host_api>
    private var typeCStrings: [String: UnsafeMutablePointer<CChar>] = [:]
    private let typeLock = NSLock()
    /// Record tables reused across calls (one per call in flight), so a batch allocates nothing.
    private let recordTables = TablePool()
    /// ABI 1.3 field names, static C strings by `RecordField` tag.
    static let fieldNames: [UnsafePointer<CChar>] = RecordField.allCases.map { UnsafePointer(strdup($0.name)!) }
    private static let emptyBytes: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return UnsafePointer(p)
    }()

    /// Counts each export call in and out of the instance's crash marker (see `CrashGuard`).
    public var crashGuard: CrashGuard?

    /// The plugin declared OISP_EXPORTER_CAP_CONCURRENT_EXPORT: `on_export` is thread-safe.
    public var acceptsConcurrentExports: Bool { plugin.acceptsConcurrentExportsDeclared }
    public var wantsRecordFields: Bool { plugin.wantsRecordFields }
    public var wantsCallFields: Bool { plugin.wantsCallFields }
    private var closed = false
    /// Result codes outside the ABI's already logged for this instance (each once).
    private var unknownCodes: Set<UInt32> = []
    private let unknownLock = NSLock()

    /// Creates an instance of `plugin` with the exporter's own settings.
    /// - Throws: `PluginCreateError` with the plugin's own error text.
    public init(plugin: LoadedPlugin, exporterName: String, settings: JSONObject, logger: Logger) throws {
        self.plugin = plugin
        self.exporterName = exporterName
        context = HostContext(exporter: exporterName, logger: logger)
        let hostAPI = UnsafeMutablePointer<oisp_host_api>.allocate(capacity: 1)
        self.hostAPI = hostAPI
        hostAPI.initialize(to: oisp_host_api(struct_size: MemoryLayout<oisp_host_api>.size,
                                             host_ctx: Unmanaged.passRetained(context).toOpaque(),
                                             callback_log: hostLog, callback_counter_add: hostCounterAdd,
                                             callback_now_ns: hostNow))
        // Config strings live until on_create returns.
        let json = JSONValue.object(settings).jsonString()
        let scalars = PluginSink.flatten(settings)
        var cstrs: [UnsafeMutablePointer<CChar>] = []
        defer { cstrs.forEach { free($0) } }
        func dup(_ s: String) -> UnsafeMutablePointer<CChar> { let p = strdup(s)!; cstrs.append(p); return p }
        let entries = scalars.map { oisp_config_entry(key: dup($0.0), value: dup($0.1)) }
        let namePtr = dup(exporterName)
        let jsonPtr = dup(json)
        var out: OpaquePointer?
        let table = plugin.table
        let rc = entries.withUnsafeBufferPointer { eb -> oisp_export_result in
            var cfg = oisp_exporter_config(struct_size: MemoryLayout<oisp_exporter_config>.size,
                                           instance_name: namePtr, json: jsonPtr, json_len: strlen(jsonPtr),
                                           entries: eb.baseAddress, entry_count: eb.count)
            return table.pointee.on_create(&cfg, hostAPI, &out)
        }
        guard rc == OISP_EXPORT_OK, let inst = out else {
            var msg = "no error text"
            if let inst = out {
                if let e = plugin.table.pointee.last_error(inst) { msg = String(cString: e) }
                plugin.table.pointee.on_destroy(inst)
            }
            Unmanaged<HostContext>.fromOpaque(hostAPI.pointee.host_ctx).release()
            hostAPI.deallocate()
            throw PluginCreateError(exporter: exporterName, path: plugin.path,
                                    code: PluginResult.name(rc), message: msg)
        }
        instance = inst
    }

    /// The config as flat key/value text for C plugins: scalars as they are, arrays of scalars
    /// comma-joined, nested tables as `parent.child` keys (e.g. `headers.x-cluster`,
    /// `librdkafka.queue.buffering.max.ms`).
    static func flatten(_ o: JSONObject, prefix: String = "") -> [(String, String)] {
        var out: [(String, String)] = []
        for (k, v) in o {
            let key = prefix.isEmpty ? k : "\(prefix).\(k)"
            switch v {
            case .string(let s): out.append((key, s))
            case .int(let i): out.append((key, String(i)))
            case .double(let d): out.append((key, String(d)))
            case .bool(let b): out.append((key, b ? "true" : "false"))
            case .array(let a):
                let parts = a.compactMap { e -> String? in
                    switch e {
                    case .string(let s): return s
                    case .int(let i): return String(i)
                    case .double(let d): return String(d)
                    case .bool(let b): return b ? "true" : "false"
                    default: return nil
                    }
                }
                if parts.count == a.count { out.append((key, parts.joined(separator: ","))) }
            case .object(let sub): out += flatten(sub, prefix: key)
            case .null: break
            }
        }
        return out
    }

    /// Counters the plugin added through the host API.
    public var pluginCounters: [String: UInt64] { context.lock.withLock { context.counters } }

    private func lastError() -> String {
        plugin.table.pointee.last_error(instance).map { String(cString: $0) } ?? "no error text"
    }

    private func cType(_ t: String) -> UnsafeMutablePointer<CChar> {
        typeLock.lock(); defer { typeLock.unlock() }
        if let p = typeCStrings[t] { return p }
        let p = strdup(t)!
        typeCStrings[t] = p
        return p
    }

    public func export(_ batch: ExportBatch) -> ExportOutcome {
        // The record table points straight into each record's own bytes (json ‖ id ‖ partition
        // key, one block per record): `batch` holds every record, and records are immutable,
        // so each block stays where it is, unchanged, for the whole call — the lifetime the ABI
        // promises. Nothing is copied; records are read in place by index, never copied as
        // values, so there is no reference counting per record either.
        var status = oisp_export_status(struct_size: MemoryLayout<oisp_export_status>.size, accepted: 0, retry_after_ms: 0, rejected: 0)
        let rc: oisp_export_result = batch.records.withContiguousStorageIfAvailable { rs -> oisp_export_result in
            // event types repeat: one C string lookup per distinct type, not per record
            var lastType = "", lastC: UnsafeMutablePointer<CChar>? = nil
            var recs = recordTables.take(capacity: rs.count)
            defer { recordTables.give(recs) }
            // ABI 1.3: each record's fields, pointing into its bytes like the rest (records carry
            // them only when some exporter asked: OISP_EXPORTER_CAP_RECORD_FIELDS)
            // a batch whose records were written without fields (before the exporter came, or
            // `plugins test`) gets none: the plugin then reads the JSON
            let withFields = wantsRecordFields && rs.allSatisfy(\.carriesFields)
            // a plugin that did not ask for the call fields gets the 1.3 list
            let callFields = plugin.wantsCallFields
            var items: [oisp_field] = []
            var spans: [(start: Int, count: Int)] = []
            if withFields { items.reserveCapacity(rs.count * 8); spans.reserveCapacity(rs.count) }
            for k in rs.indices {
                let base = rs[k].storage.withUnsafeBufferPointer { UnsafePointer($0.baseAddress) } ?? PluginSink.emptyBytes
                let jlen = rs[k].jsonCount, idlen = rs[k].idCount, fs = rs[k].fieldsStart
                let json = oisp_bytes(ptr: base, len: jlen)
                let id = oisp_bytes(ptr: base + jlen, len: idlen)
                let pk = oisp_bytes(ptr: base + jlen + idlen, len: fs - jlen - idlen)
                if lastC == nil || rs[k].eventType != lastType { lastType = rs[k].eventType; lastC = cType(lastType) }
                recs.append(oisp_record(struct_size: MemoryLayout<oisp_record>.size, event_type: lastC,
                                        timestamp_ns: rs[k].timestampNs, partition_key: pk, event_id: id,
                                        flags: rs[k].flags, reserved0: 0,
                                        json: json))
                if withFields {
                    let start = items.count
                    rs[k].forEachField { f, r in
                        if f.callField && !callFields { return }
                        items.append(oisp_field(name: PluginSink.fieldNames[Int(f.rawValue)], value: oisp_bytes(ptr: base + r.lowerBound, len: r.count))) }
                    spans.append((start, items.count - start))
                }
            }
            return recs.withUnsafeBufferPointer { rb in
                items.withUnsafeBufferPointer { ib in
                    let fields = spans.map { sp in oisp_record_fields(items: ib.baseAddress.map { UnsafePointer($0 + sp.start) }, count: sp.count) }
                    return fields.withUnsafeBufferPointer { fb in
                        var b = oisp_batch(struct_size: MemoryLayout<oisp_batch>.size, batch_id: batch.id,
                                           attempt: UInt32(batch.attempt), reserved0: 0, records: rb.baseAddress, count: rb.count,
                                           record_offset: batch.records.startIndex, fields: withFields ? fb.baseAddress : nil)
                        crashGuard?.enter(batch: batch.id); defer { crashGuard?.leave() }
                        return plugin.table.pointee.on_export(instance, &b, &status)
                    }
                }
            }
        }!
        switch rc {
        case OISP_EXPORT_OK: return status.rejected > 0 ? .okRejecting(rejected: Int(status.rejected), message: lastError()) : .ok
        case OISP_EXPORT_RETRY:
            return .retry(accepted: Int(status.accepted), retryAfterMs: status.retry_after_ms > 0 ? Int(status.retry_after_ms) : nil,
                          message: lastError(), rejected: Int(status.rejected))
        case OISP_EXPORT_PERMANENT, OISP_EXPORT_INVALID_CONFIG:
            return .permanent(message: "\(PluginResult.name(rc)): \(lastError())")
        default:
            noteUnknown(rc, from: "on_export")
            return .permanent(message: "\(PluginResult.name(rc)): \(lastError())")
        }
    }

    public func flush(timeoutMs: Int) -> ExportOutcome {
        guard let f = plugin.table.pointee.on_flush else { return .ok }
        let rc = f(instance, UInt32(clamping: timeoutMs))
        switch rc {
        case OISP_EXPORT_OK: return .ok
        case OISP_EXPORT_RETRY: return .retry(accepted: 0, retryAfterMs: nil, message: lastError())
        case OISP_EXPORT_PERMANENT, OISP_EXPORT_INVALID_CONFIG: return .permanent(message: lastError())
        default:
            noteUnknown(rc, from: "on_flush")
            return .permanent(message: "\(PluginResult.name(rc)): \(lastError())")
        }
    }

    /// The ABI's rule for a result code it does not define: treated as PERMANENT, logged once
    /// per instance and code.
    private func noteUnknown(_ rc: oisp_export_result, from call: String) {
        guard unknownLock.withLock({ unknownCodes.insert(rc.rawValue).inserted }) else { return }
        context.logger.error("plugin returned a result code the ABI does not define; treated as PERMANENT (logged once)",
                             metadata: ["plugin": "\(plugin.name)", "call": "\(call)", "code": "\(rc.rawValue)"])
    }

    public func close() {
        guard !closed else { return }
        closed = true
        plugin.table.pointee.on_destroy(instance)
        Unmanaged<HostContext>.fromOpaque(hostAPI.pointee.host_ctx).release()
        hostAPI.deallocate()
        for p in typeCStrings.values { free(p) }
        typeCStrings = [:]
    }
}

/// A few emptied `oisp_record` arrays kept for reuse (a call takes one, or makes its own).
private final class TablePool: @unchecked Sendable {
    private var free: [[oisp_record]] = []
    private let lock = NSLock()

    func take(capacity: Int) -> [oisp_record] {
        var t = lock.withLock { free.popLast() } ?? []
        t.reserveCapacity(capacity)
        return t
    }

    func give(_ t: [oisp_record]) {
        var t = t
        t.removeAll(keepingCapacity: true)
        lock.withLock { if free.count < 8 { free.append(t) } }
    }
}
