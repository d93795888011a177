// The reference exporter written in Swift: appends each event as one JSON line to a file.
// It sees only the C header (COISPExporterABI), never the sensor's Swift modules.
//
// [export.file]
// enabled = true
// path = "/var/log/oisp/events.jsonl"   # required
import COISPExporterABI
#if canImport(Glibc)
import Glibc
#endif

private final class FileExporterInstance {
    var fd: Int32 = -1
    var path = ""
    var error: UnsafeMutablePointer<CChar>?
    var host: UnsafePointer<oisp_host_api>?
    var buffer: [UInt8] = []

    func setError(_ s: String) {
        free(error)
        error = strdup(s)
    }

    func log(_ level: oisp_log_level, _ s: String) {
        guard let host else { return }
        var m = s
        m.withUTF8 { b in
            b.withMemoryRebound(to: CChar.self) { host.pointee.callback_log(host.pointee.host_ctx, level, $0.baseAddress, $0.count) }
        }
    }
}

private func instance(_ p: OpaquePointer?) -> FileExporterInstance {
    Unmanaged<FileExporterInstance>.fromOpaque(UnsafeRawPointer(p!)).takeUnretainedValue()
}

private let onCreate: @convention(c) (UnsafePointer<oisp_exporter_config>?, UnsafePointer<oisp_host_api>?,
                                      UnsafeMutablePointer<OpaquePointer?>?) -> oisp_export_result = { cfg, host, out in
    let inst = FileExporterInstance()
    inst.host = host
    out?.pointee = OpaquePointer(Unmanaged.passRetained(inst).toOpaque())
    guard let cfg else { inst.setError("no configuration"); return OISP_EXPORT_INVALID_CONFIG }
    var path: String?
    for i in 0..<cfg.pointee.entry_count {
        let e = cfg.pointee.entries[i]
        if String(cString: e.key) == "path" { path = String(cString: e.value) }
    }
    guard let path, !path.isEmpty else {
        inst.setError("key 'path': required (the file to append events to)")
        return OISP_EXPORT_INVALID_CONFIG
    }
    inst.path = path
    inst.fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
    guard inst.fd >= 0 else {
        inst.setError("cannot open \(path): \(String(cString: strerror(errno)))")
        return OISP_EXPORT_INVALID_CONFIG
    }
    inst.log(OISP_LOG_INFO, "file exporter writing to \(path)")
    return OISP_EXPORT_OK
}

private let onExport: @convention(c) (OpaquePointer?, UnsafePointer<oisp_batch>?,
                                      UnsafeMutablePointer<oisp_export_status>?) -> oisp_export_result = { p, batch, status in
    let inst = instance(p)
    guard let batch else { return OISP_EXPORT_OK }
    inst.buffer.removeAll(keepingCapacity: true)
    for i in 0..<batch.pointee.count {
        let r = batch.pointee.records[i]
        if r.json.len > 0 { inst.buffer.append(contentsOf: UnsafeBufferPointer(start: r.json.ptr, count: r.json.len)) }
        inst.buffer.append(0x0A)
    }
    var done = 0
    while done < inst.buffer.count {
        let n = inst.buffer.withUnsafeBytes { write(inst.fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            inst.setError("write \(inst.path): \(String(cString: strerror(errno)))")
            return OISP_EXPORT_RETRY
        }
        done += n
    }
    return OISP_EXPORT_OK
}

private let onFlush: @convention(c) (OpaquePointer?, UInt32) -> oisp_export_result = { p, _ in
    let inst = instance(p)
    if inst.fd >= 0 { fsync(inst.fd) }
    return OISP_EXPORT_OK
}

private let onDestroy: @convention(c) (OpaquePointer?) -> Void = { p in
    guard let p else { return }
    let u = Unmanaged<FileExporterInstance>.fromOpaque(UnsafeRawPointer(p))
    let inst = u.takeUnretainedValue()
    if inst.fd >= 0 { close(inst.fd) }
    free(inst.error)
    u.release()
}

private let lastError: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>? = { p in
    guard let p else { return nil }
    return UnsafePointer(instance(p).error)
}

private let pluginTable: UnsafeMutablePointer<oisp_exporter_plugin> = {
    let t = UnsafeMutablePointer<oisp_exporter_plugin>.allocate(capacity: 1)
    t.initialize(to: oisp_exporter_plugin(
        struct_size: MemoryLayout<oisp_exporter_plugin>.size,
        abi_major: UInt32(OISP_EXPORTER_ABI_MAJOR), abi_minor: UInt32(OISP_EXPORTER_ABI_MINOR),
        name: UnsafePointer(strdup("file")), version: UnsafePointer(strdup("0.1.0")),
        description: UnsafePointer(strdup("Appends each event as one JSON line to a file (Swift reference plugin)")),
        config_schema: UnsafePointer(strdup(#"{"type":"object","required":["path"],"additionalProperties":false,"properties":{"path":{"type":"string","description":"File to append events to, one JSON line each"}}}"#)),
        capabilities: 0,
        on_create: onCreate, on_export: onExport, on_flush: onFlush, on_destroy: onDestroy, last_error: lastError,
        min_host_abi: oisp_abi_version(major: 1, minor: 0))) // uses nothing newer than 1.0
    return t
}()

@_cdecl("oisp_exporter_entry")
public func oispExporterEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    guard hostMajor == UInt32(OISP_EXPORTER_ABI_MAJOR) else { return nil }
    return UnsafePointer(pluginTable)
}
