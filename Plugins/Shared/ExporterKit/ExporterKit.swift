// The kit's core: what an exporter is (Exporter; BatchExporter in PluginTable.swift), the
// records it gets, what it returns, the host's services and its config. The kit is plugin-side
// code shared (statically) by the Swift exporters: table glue (PluginTable.swift), option table
// (Options.swift), HTTP client (HTTPClient.swift), compression, JSON bytes, clock. Plugins see
// only the C header; the kit is plugin code, not the sensor core.
import COISPExporterABI
import Foundation
import OISPJSON

/// One record handed to an exporter. It reads the host's bytes where they lie (no copy): they
/// live for the `export` call only, like the C ABI's `oisp_batch`. An exporter that keeps a
/// record past the call (to resend it later) keeps `owned()`, a copy that lives as long as it.
public struct Record {
    public let eventType: String
    public let timestampNs: Int64
    /// OISP_RECORD_FLAG_* bits.
    public let flags: UInt32
    let jsonBytes: UnsafeRawBufferPointer
    let idBytes: UnsafeRawBufferPointer
    let keyBytes: UnsafeRawBufferPointer
    /// ABI 1.3 fields (see `oisp_field`): each name (the host's static string) and its value.
    let fieldList: [(name: UnsafePointer<CChar>, value: UnsafeRawBufferPointer)]
    /// Whether the host handed fields over (ABI 1.3): then a field it left out is not in the event.
    public let hasFields: Bool
    /// The copy an owned record reads from (nil: the host's bytes, for the call).
    let keep: OwnedBytes?

    /// The JSON, copied (`withJSON` reads it without a copy).
    public var json: Data { Data(jsonBytes) }
    /// The JSON's length in bytes.
    public var jsonCount: Int { jsonBytes.count }
    public var eventID: String { String(decoding: idBytes, as: UTF8.self) }
    public var partitionKey: String { String(decoding: keyBytes, as: UTF8.self) }
    /// The JSON bytes, for the time of `body` (no copy).
    public func withJSON<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(jsonBytes) }

    init(_ r: oisp_record, fields: oisp_record_fields? = nil) {
        func bytes(_ b: oisp_bytes) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: b.ptr, count: b.ptr == nil ? 0 : b.len) }
        eventType = r.event_type.map { String(cString: $0) } ?? ""
        timestampNs = r.timestamp_ns
        flags = r.flags
        jsonBytes = bytes(r.json)
        idBytes = bytes(r.event_id)
        keyBytes = bytes(r.partition_key)
        var list: [(UnsafePointer<CChar>, UnsafeRawBufferPointer)] = []
        if let f = fields, let items = f.items, f.count > 0 {
            list.reserveCapacity(f.count)
            for k in 0..<f.count { list.append((items[k].name, bytes(items[k].value))) }
        }
        fieldList = list
        hasFields = fields != nil
        keep = nil
    }

    private init(copying r: Record) {
        let total = r.jsonBytes.count + r.idBytes.count + r.keyBytes.count + r.fieldList.reduce(0) { $0 + $1.value.count }
        let store = OwnedBytes(count: total)
        var at = 0
        func put(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
            let dst = UnsafeMutableRawBufferPointer(rebasing: store.buffer[at..<(at + b.count)])
            if b.count > 0 { dst.copyMemory(from: b) }
            at += b.count
            return UnsafeRawBufferPointer(dst)
        }
        eventType = r.eventType
        timestampNs = r.timestampNs
        flags = r.flags
        jsonBytes = put(r.jsonBytes)
        idBytes = put(r.idBytes)
        keyBytes = put(r.keyBytes)
        fieldList = r.fieldList.map { ($0.name, put($0.value)) } // names are the host's static strings
        hasFields = r.hasFields
        keep = store
    }

    /// A copy that outlives the `export` call (the host's bytes do not).
    public func owned() -> Record { keep != nil ? self : Record(copying: self) }

    /// The value of an ABI 1.3 field (`"host.name"`, `"process.pid"`, …: see `oisp_field`), or
    /// nil when the record has none (or the host is older than 1.3).
    public func field(_ name: String) -> String? {
        for f in fieldList where strcmp(f.name, name) == 0 { return String(decoding: f.value, as: UTF8.self) }
        return nil
    }
    /// The event as plain Swift values (lazily decoded).
    public var object: [String: Any] { JSONAny.object(json) ?? [:] }
}

/// The bytes of an owned record, freed with the last record that reads them.
final class OwnedBytes: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    init(count: Int) { buffer = .allocate(byteCount: max(1, count), alignment: 1) }
    deinit { buffer.deallocate() }
}

/// Writes `status->rejected` (ABI 1.1) when the host's status struct has the field; false for a
/// 1.0 host, which cannot take a partial refusal.
public func setRejected(_ status: UnsafeMutablePointer<oisp_export_status>?, _ n: Int) -> Bool {
    guard let st = status, st.pointee.struct_size >= MemoryLayout<oisp_export_status>.offset(of: \.rejected)! + MemoryLayout<Int>.size else {
        return false
    }
    st.pointee.rejected = n
    return true
}

/// What an export returns to the host.
public enum ExportResult {
    case ok
    /// Delivered, except `rejected` records the backend refused for good (ABI 1.1: the host
    /// counts them as dropped, not exported).
    case okRejecting(rejected: Int, message: String)
    /// `rejected`: how many of the `accepted` records were refused for good (ABI 1.1).
    case retry(message: String, retryAfterMs: Int? = nil, accepted: Int = 0, rejected: Int = 0)
    case permanent(message: String)
}

/// Services of the host for one instance.
public final class PluginHost {
    let api: UnsafePointer<oisp_host_api>?
    public let instanceName: String
    init(api: UnsafePointer<oisp_host_api>?, instanceName: String) { self.api = api; self.instanceName = instanceName }
    public func log(_ level: oisp_log_level, _ s: String) {
        guard let api else { return }
        var m = s
        m.withUTF8 { b in b.withMemoryRebound(to: CChar.self) { api.pointee.callback_log(api.pointee.host_ctx, level, $0.baseAddress, $0.count) } }
    }
    public func info(_ s: String) { log(OISP_LOG_INFO, s) }
    public func warn(_ s: String) { log(OISP_LOG_WARN, s) }
    public func count(_ name: String, _ n: Int) {
        guard let api, n > 0 else { return }
        api.pointee.callback_counter_add(api.pointee.host_ctx, name, UInt64(n))
    }
}

/// An exporter implemented in Swift with ExporterKit.
public protocol Exporter: AnyObject {
    init(config: Config, host: PluginHost) throws
    /// `batchID`/`attempt` let an exporter resend only what failed on the previous attempt.
    func export(_ records: [Record], batchID: UInt64, attempt: Int) -> ExportResult
    func flush() -> ExportResult
    /// Called from `on_destroy`, after every other call: stop the threads the exporter started.
    func close()
}

extension Exporter {
    public func close() {}
}

/// Config error naming the key.
public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ key: String, _ message: String) { description = "key '\(key)': \(message)" }
}

/// The exporter's `[export.<name>]` table: flat entries (nested tables as `a.b`) and the JSON,
/// read against the exporter's option table: the getters without a `default:` take the table's
/// default, so a default is written once, in the table.
public struct Config {
    public let entries: [(String, String)]
    public let json: [String: Any]
    /// The option table by key (table members as `a.b`).
    let options: [String: Option]

    public init(entries: [(String, String)], json: [String: Any], options: [Option] = []) {
        self.entries = entries
        self.json = json
        var o: [String: Option] = [:]
        func add(_ opts: [Option], _ prefix: String) {
            for x in opts {
                o[prefix + x.key] = x
                switch x.kind {
                case .table(let ms), .boolOrTable(let ms): add(ms, prefix + x.key + ".")
                default: break
                }
            }
        }
        add(options, "")
        self.options = o
    }

    /// The option table's default for `k`. A key the table does not declare, or one without a
    /// default, is a bug of the exporter: it says so instead of guessing.
    func tableDefault(_ k: String) throws -> String {
        guard let d = options[k]?.defaultValue else { throw ConfigError(k, "the exporter's option table has no default for it (exporter bug)") }
        return d
    }

    public func string(_ k: String) -> String? { entries.last { $0.0 == k }?.1 }
    public func string(_ k: String, default d: String) -> String { string(k) ?? d }
    /// The value, or the table's default.
    public func setting(_ k: String) throws -> String { try string(k) ?? tableDefault(k) }
    public func bool(_ k: String) throws -> Bool { try parseBool(k, setting(k)) }
    public func int(_ k: String) throws -> Int {
        let v = try setting(k)
        guard let i = Int(v) else { throw ConfigError(k, "expected an integer, got '\(v)'") }
        if case .int(let min?) = options[k]?.kind, i < min { throw ConfigError(k, "expected an integer of at least \(min), got \(i)") }
        return i
    }
    /// One of the table's values for `k`.
    public func choice(_ k: String) throws -> String {
        guard case .choice(let values) = options[k]?.kind else { throw ConfigError(k, "not a choice in the exporter's option table (exporter bug)") }
        return try choice(k, values, default: tableDefault(k))
    }
    public func size(_ k: String) throws -> Int { try size(k, default: sizeValue(k, tableDefault(k))) }
    public func duration(_ k: String) throws -> Int { try duration(k, defaultMs: durationValue(k, tableDefault(k))) }
    func sizeValue(_ k: String, _ v: String) throws -> Int {
        try Config(entries: [(k, v)], json: [:]).size(k, default: 0)
    }
    func durationValue(_ k: String, _ v: String) throws -> Int {
        try Config(entries: [(k, v)], json: [:]).duration(k, defaultMs: 0)
    }
    /// true/false or On/Off (`parseBool`: the one rule of every exporter and of the host).
    public func bool(_ k: String, default d: Bool) throws -> Bool {
        guard let v = string(k) else { return d }
        return try parseBool(k, v)
    }
    /// One of `values` (e.g. `compressionValues`).
    public func choice(_ k: String, _ values: [String], default d: String) throws -> String {
        guard let v = string(k) else { return d }
        guard values.contains(v) else { throw ConfigError(k, "expected one of \(values.joined(separator: ", ")), got '\(v)'") }
        return v
    }
    public func int(_ k: String, default d: Int) throws -> Int {
        guard let v = string(k) else { return d }
        guard let i = Int(v) else { throw ConfigError(k, "expected an integer, got '\(v)'") }
        return i
    }
    /// Keys under a table, e.g. `prefix("header")` for `header.Authorization`.
    public func table(_ prefix: String) -> [(String, String)] {
        entries.filter { $0.0.hasPrefix(prefix + ".") }.map { (String($0.0.dropFirst(prefix.count + 1)), $0.1) }
    }
    /// Sizes like "100M", "5K", "1G" (Fluent Bit style).
    public func size(_ k: String, default d: Int) throws -> Int {
        guard var v = string(k)?.uppercased().trimmingCharacters(in: .whitespaces) else { return d }
        var mult = 1
        if v.hasSuffix("B") { v.removeLast() }
        switch v.last {
        case "K": mult = 1 << 10; v.removeLast()
        case "M": mult = 1 << 20; v.removeLast()
        case "G": mult = 1 << 30; v.removeLast()
        default: break
        }
        guard let n = Int(v), n > 0 else { throw ConfigError(k, "expected a size like 100M, got '\(string(k)!)'") }
        return n * mult
    }
    /// Durations like "1m", "30s", "500ms", "1h" (Fluent Bit style), in milliseconds.
    public func duration(_ k: String, defaultMs d: Int) throws -> Int {
        guard let v = string(k)?.lowercased().trimmingCharacters(in: .whitespaces) else { return d }
        let units: [(String, Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (u, m) in units where v.hasSuffix(u) {
            if let n = Double(v.dropLast(u.count)) { return Int(n * Double(m)) }
        }
        if let n = Int(v) { return n * 1000 }
        throw ConfigError(k, "expected a duration like 1m, 30s or 500ms, got '\(v)'")
    }
}
