// The C table glue of every Swift exporter: the one `oisp_exporter_plugin` table, instance
// boxes, the result mapping to the ABI (status->accepted, retry_after_ms, rejected), error text
// kept per calling thread (the ABI's last_error rule), and the concurrency capability.
import COISPExporterABI
import Foundation
import OISPJSON

/// An exporter that takes the batch as the host hands it (no copy): the pointers are valid for
/// the call only. For exporters that parse the JSON in place (OTLP). `Exporter` is the simpler
/// protocol with copied `Record`s.
public protocol BatchExporter: AnyObject {
    /// One batch. With `concurrent: true` in `makePluginTable`, called on several threads at once.
    func export(batch: UnsafePointer<oisp_batch>) -> ExportResult
    func flush() -> ExportResult
    /// Called from `on_destroy`, after every other call: stop the threads the exporter started.
    func close()
}

/// Error text of the calling thread's last failed call: the host reads `last_error` on that
/// same thread right after the call (ABI 1.2), so concurrent calls never see each other's text.
private let threadError: pthread_key_t = {
    var k = pthread_key_t()
    pthread_key_create(&k) { free($0) }
    return k
}()

/// Sets (or, with nil, clears) the calling thread's error text, which `last_error` returns.
public func setThreadError(_ s: String?) {
    free(pthread_getspecific(threadError))
    pthread_setspecific(threadError, s.map { UnsafeRawPointer(strdup($0)) })
}

/// The calling thread's error text, if a call on it failed.
public func threadErrorText() -> String? {
    pthread_getspecific(threadError).map { String(cString: $0.assumingMemoryBound(to: CChar.self)) }
}

/// The batch's records as views for the call (with their fields when the host handed them over).
public func records(of batch: UnsafePointer<oisp_batch>) -> [Record] {
    var recs: [Record] = []
    recs.reserveCapacity(batch.pointee.count)
    let b = batch.pointee
    let hasFields = b.struct_size >= MemoryLayout<oisp_batch>.offset(of: \.fields)! + MemoryLayout<UnsafeRawPointer>.size && b.fields != nil
    for k in 0..<b.count { recs.append(Record(b.records[k], fields: hasFields ? b.fields[k] : nil)) }
    return recs
}

/// Adapts a `Record` exporter to the batch interface: records are views of the batch, for the call.
final class RecordExporter: BatchExporter {
    let inner: Exporter
    init(_ e: Exporter) { inner = e }
    func export(batch: UnsafePointer<oisp_batch>) -> ExportResult {
        let recs = records(of: batch)
        return inner.export(recs, batchID: batch.pointee.batch_id, attempt: Int(batch.pointee.attempt))
    }
    func flush() -> ExportResult { inner.flush() }
    func close() { inner.close() }
}

final class Box {
    var exporter: BatchExporter?
}

nonisolated(unsafe) var batchFactory: ((Config, PluginHost) throws -> BatchExporter)?
nonisolated(unsafe) var optionTable: [Option] = []

private func box(_ p: OpaquePointer?) -> Box { Unmanaged<Box>.fromOpaque(UnsafeRawPointer(p!)).takeUnretainedValue() }

private let kitCreate: @convention(c) (UnsafePointer<oisp_exporter_config>?, UnsafePointer<oisp_host_api>?,
                                       UnsafeMutablePointer<OpaquePointer?>?) -> oisp_export_result = { cfg, host, out in
    setThreadError(nil)
    let b = Box()
    out?.pointee = OpaquePointer(Unmanaged.passRetained(b).toOpaque())
    guard let cfg, let factory = batchFactory else { setThreadError("no configuration"); return OISP_EXPORT_INVALID_CONFIG }
    var entries: [(String, String)] = []
    for k in 0..<cfg.pointee.entry_count {
        entries.append((String(cString: cfg.pointee.entries[k].key), String(cString: cfg.pointee.entries[k].value)))
    }
    let json = JSONAny.object(Data(bytes: cfg.pointee.json, count: cfg.pointee.json_len)) ?? [:]
    let name = cfg.pointee.instance_name.map { String(cString: $0) } ?? "exporter"
    do {
        b.exporter = try factory(Config(entries: entries, json: json, options: optionTable), PluginHost(api: host, instanceName: name))
        return OISP_EXPORT_OK
    } catch {
        setThreadError("\(error)")
        return OISP_EXPORT_INVALID_CONFIG
    }
}

/// The ABI result for an `ExportResult`, with `status` filled in and the thread's error text set.
func abiResult(_ r: ExportResult, _ status: UnsafeMutablePointer<oisp_export_status>?) -> oisp_export_result {
    switch r {
    case .ok: return OISP_EXPORT_OK
    case .okRejecting(let n, let m):
        setThreadError(m)
        // a 1.0 host cannot take a partial refusal: the batch is refused
        return setRejected(status, n) ? OISP_EXPORT_OK : OISP_EXPORT_PERMANENT
    case .retry(let m, let after, let acc, let rejected):
        setThreadError(m)
        status?.pointee.retry_after_ms = UInt64(max(0, after ?? 0))
        status?.pointee.accepted = acc
        if rejected > 0 { _ = setRejected(status, rejected) }
        return OISP_EXPORT_RETRY
    case .permanent(let m):
        setThreadError(m)
        return OISP_EXPORT_PERMANENT
    }
}

private let kitExport: @convention(c) (OpaquePointer?, UnsafePointer<oisp_batch>?,
                                       UnsafeMutablePointer<oisp_export_status>?) -> oisp_export_result = { p, batch, status in
    setThreadError(nil)
    guard let e = box(p).exporter, let batch else { return OISP_EXPORT_OK }
    return abiResult(e.export(batch: batch), status)
}

private let kitFlush: @convention(c) (OpaquePointer?, UInt32) -> oisp_export_result = { p, _ in
    setThreadError(nil)
    guard let e = box(p).exporter else { return OISP_EXPORT_OK }
    switch e.flush() {
    case .ok, .okRejecting: return OISP_EXPORT_OK
    case let r: return abiResult(r, nil)
    }
}

private let kitDestroy: @convention(c) (OpaquePointer?) -> Void = { p in
    guard let p else { return }
    let u = Unmanaged<Box>.fromOpaque(UnsafeRawPointer(p))
    u.takeUnretainedValue().exporter?.close()
    u.release()
}

private let kitLastError: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>? = { _ in
    pthread_getspecific(threadError).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) }
}

/// Builds the plugin table for a kit exporter (call from `oisp_exporter_entry`).
/// - Parameters:
///   - options: the option table; the plugin's `config_schema` is made from it.
///   - concurrent: `export` is thread-safe: declares OISP_EXPORTER_CAP_CONCURRENT_EXPORT.
///   - recordFields: the exporter reads `Record.field(_:)`: declares OISP_EXPORTER_CAP_RECORD_FIELDS.
///   - callFields: it also reads the call fields (`CallFacts`): declares OISP_EXPORTER_CAP_CALL_FIELDS.
///   - minHostABI: the oldest host ABI the exporter runs on (1.0: the kit writes 1.1's
///     `status->rejected` only when the host has it).
public func makePluginTable(name: String, version: String, description: String, options: [Option],
                            concurrent: Bool = false, recordFields: Bool = false, callFields: Bool = false,
                            minHostABI: (UInt32, UInt32) = (1, 0),
                            factory: @escaping (Config, PluginHost) throws -> BatchExporter) -> UnsafePointer<oisp_exporter_plugin> {
    batchFactory = factory
    optionTable = options
    let t = UnsafeMutablePointer<oisp_exporter_plugin>.allocate(capacity: 1)
    t.initialize(to: oisp_exporter_plugin(
        struct_size: MemoryLayout<oisp_exporter_plugin>.size,
        abi_major: UInt32(OISP_EXPORTER_ABI_MAJOR), abi_minor: UInt32(OISP_EXPORTER_ABI_MINOR),
        name: UnsafePointer(strdup(name)), version: UnsafePointer(strdup(version)),
        description: UnsafePointer(strdup(description)), config_schema: UnsafePointer(strdup(optionsSchema(options))),
        capabilities: (concurrent ? UInt64(OISP_EXPORTER_CAP_CONCURRENT_EXPORT.rawValue) : 0)
            | (recordFields || callFields ? UInt64(OISP_EXPORTER_CAP_RECORD_FIELDS.rawValue) : 0)
            | (callFields ? UInt64(OISP_EXPORTER_CAP_CALL_FIELDS.rawValue) : 0),
        on_create: kitCreate, on_export: kitExport, on_flush: kitFlush, on_destroy: kitDestroy,
        last_error: kitLastError,
        min_host_abi: oisp_abi_version(major: minHostABI.0, minor: minHostABI.1)))
    return UnsafePointer(t)
}

/// The same for a `Record` exporter (its batches copied into `Record`s).
public func makePluginTable(name: String, version: String, description: String, options: [Option],
                            concurrent: Bool = false, recordFields: Bool = false,
                            factory: @escaping (Config, PluginHost) throws -> Exporter) -> UnsafePointer<oisp_exporter_plugin> {
    makePluginTable(name: name, version: version, description: description, options: options, concurrent: concurrent,
                    recordFields: recordFields) {
        RecordExporter(try factory($0, $1)) as BatchExporter
    }
}

/// The one entry check of a kit exporter: serves hosts of this header's major.
public func servesHost(major: UInt32) -> Bool { major == UInt32(OISP_EXPORTER_ABI_MAJOR) }
