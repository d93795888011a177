// [export.s3] — Fluent Bit's `s3` output: bucket, region, endpoint (S3-compatible stores, path
// style), store_dir (events are appended to local chunk files first: a restart or an outage loses
// nothing, leftover chunks upload on start), total_file_size ("100M"), upload_timeout ("1m"),
// use_put_object, s3_key_format (strftime fields, $UUID, $INDEX, $TAG), compression (gzip),
// content_type. Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else
// the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile from
// `profile` or AWS_PROFILE). Requests are signed with libcurl's built-in AWS SigV4.
import COISPExporterABI
import Foundation
import OISPExporterKit
import CZlibCrypto

final class S3Output: Exporter {
    let http = HTTPClient()
    let bucket: String
    let region: String
    let endpoint: String
    let storeDir: URL
    let totalFileSize: Int
    let uploadTimeoutMs: Int
    let keyFormat: String
    let gzip: Bool
    let contentType: String
    let tag: String
    let host: PluginHost
    var credentials: (id: String, secret: String, token: String?)
    var index = 0
    var current: (url: URL, fd: FileHandle, opened: Date, size: Int)?

    init(config c: Config, host: PluginHost) throws {
        self.host = host
        guard let b = c.string("bucket"), !b.isEmpty else { throw ConfigError("bucket", "required") }
        bucket = b
        region = c.string("region", default: "us-east-1")
        var ep = c.string("endpoint") ?? "https://s3.\(region).amazonaws.com"
        while ep.hasSuffix("/") { ep.removeLast() }
        endpoint = ep
        let dir = c.string("store_dir", default: "/var/lib/oisp/s3")
        tag = c.string("tag", default: host.instanceName)
        storeDir = URL(fileURLWithPath: dir).appendingPathComponent(tag)
        totalFileSize = try c.size("total_file_size", default: 100 << 20)
        uploadTimeoutMs = try c.duration("upload_timeout", defaultMs: 600_000)
        keyFormat = c.string("s3_key_format", default: "/oisp-sensor/%Y/%m/%d/%H/%M/%S-$UUID.jsonl")
        let comp = c.string("compression", default: "none")
        guard comp == "gzip" || comp == "none" || comp.isEmpty else { throw ConfigError("compression", "expected gzip, got '\(comp)'") }
        gzip = comp == "gzip"
        contentType = c.string("content_type", default: "application/json")
        if try !c.bool("use_put_object", default: true) {
            host.warn("s3: use_put_object off (multipart upload) is not implemented; chunks up to total_file_size are uploaded with PutObject")
        }
        http.options = try httpOptions(c)
        guard let creds = S3Output.findCredentials(profile: c.string("profile")) else {
            throw ConfigError("credentials", "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a shared credentials file")
        }
        credentials = creds
        do { try FileManager.default.createDirectory(at: storeDir, withIntermediateDirectories: true) } catch {
            throw ConfigError("store_dir", "cannot create \(storeDir.path): \(error)")
        }
        let leftovers = chunkFiles()
        if !leftovers.isEmpty { host.info("s3: \(leftovers.count) chunk(s) left in \(storeDir.path) from an earlier run will be uploaded") }
    }

    static func findCredentials(profile: String?) -> (String, String, String?)? {
        let env = ProcessInfo.processInfo.environment
        if let id = env["AWS_ACCESS_KEY_ID"], let secret = env["AWS_SECRET_ACCESS_KEY"], !id.isEmpty {
            return (id, secret, env["AWS_SESSION_TOKEN"])
        }
        let path = env["AWS_SHARED_CREDENTIALS_FILE"] ?? (env["HOME"] ?? "/root") + "/.aws/credentials"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let want = profile ?? env["AWS_PROFILE"] ?? "default"
        var section = "", id: String?, secret: String?, token: String?
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { section = line.trimmingCharacters(in: CharacterSet(charactersIn: "[]")); continue }
            guard section == want, let eq = line.firstIndex(of: "=") else { continue }
            let k = line[..<eq].trimmingCharacters(in: .whitespaces), v = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if k == "aws_access_key_id" { id = v } else if k == "aws_secret_access_key" { secret = v } else if k == "aws_session_token" { token = v }
        }
        guard let id, let secret else { return nil }
        return (id, secret, token)
    }

    func chunkFiles() -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: storeDir, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.lastPathComponent.hasPrefix("chunk-") && $0.pathExtension == "jsonl" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    func objectKey() -> String {
        index += 1
        var k = strftimeUTC(keyFormat, Int(Date().timeIntervalSince1970))
        k = k.replacingOccurrences(of: "$UUID", with: UUID().uuidString.lowercased().prefix(8).description)
        k = k.replacingOccurrences(of: "$INDEX", with: String(index))
        k = k.replacingOccurrences(of: "$TAG", with: tag)
        return k.hasPrefix("/") ? String(k.dropFirst()) : k
    }

    /// Uploads one chunk file; deletes it only after S3 said 200.
    func upload(_ file: URL) -> ExportResult {
        guard var body = FileManager.default.contents(atPath: file.path) else { return .ok }
        if body.isEmpty { try? FileManager.default.removeItem(at: file); return .ok }
        var headers = ["Content-Type: \(contentType)"]
        if gzip { body = gzipData(body); headers.append("Content-Encoding: gzip") }
        if let t = credentials.token { headers.append("x-amz-security-token: \(t)") }
        // S3 requires the payload hash header; curl then signs it with the rest (SigV4).
        var md = [UInt8](repeating: 0, count: 32)
        body.withUnsafeBytes { b in _ = SHA256(b.baseAddress?.assumingMemoryBound(to: UInt8.self), b.count, &md) }
        headers.append("x-amz-content-sha256: " + md.map { String(format: "%02x", $0) }.joined())
        let key = objectKey()
        let url = "\(endpoint)/\(bucket)/\(key)"
        http.options.userpwd = "\(credentials.id):\(credentials.secret)"
        http.options.awsSigV4 = "aws:amz:\(region):s3"
        let r = http.request("PUT", url, headers: headers, body: body)
        let result = HTTPClient.classify(r, what: "PUT s3://\(bucket)/\(key)")
        if case .ok = result {
            try? FileManager.default.removeItem(at: file)
            host.count("s3_objects", 1)
            host.info("s3: uploaded \(body.count) bytes to s3://\(bucket)/\(key)")
        }
        return result
    }

    func closeCurrent() {
        guard let c = current else { return }
        try? c.fd.synchronize()
        try? c.fd.close()
        current = nil
    }

    /// Uploads every finished chunk (and the current one when `all`); stops at the first failure.
    func uploadDue(all: Bool) -> ExportResult {
        if let c = current, all || c.size >= totalFileSize || Date().timeIntervalSince(c.opened) * 1000 >= Double(uploadTimeoutMs) {
            closeCurrent()
        }
        for f in chunkFiles() where f != current?.url {
            let r = upload(f)
            if case .ok = r { continue }
            return r
        }
        return .ok
    }

    func export(_ records: [Record], batchID: UInt64, attempt: Int) -> ExportResult {
        // 1. durable locally first
        do {
            if current == nil {
                let url = storeDir.appendingPathComponent("chunk-\(Int64(Date().timeIntervalSince1970 * 1000))-\(UUID().uuidString.prefix(6)).jsonl")
                FileManager.default.createFile(atPath: url.path, contents: nil)
                current = (url, try FileHandle(forWritingTo: url), Date(), 0)
                try current!.fd.seekToEnd()
            }
            var d = Data()
            for r in records { d.append(r.json); d.append(10) }
            try current!.fd.write(contentsOf: d)
            try current!.fd.synchronize()
            current!.size += d.count
        } catch {
            return .retry(message: "s3: cannot write chunk in \(storeDir.path): \(error)")
        }
        // 2. upload what is due; failures stay on disk and are retried on the next call
        if case .retry(let m, _, _) = uploadDue(all: false) { host.warn("s3 upload deferred: \(m)") }
        return .ok
    }

    func flush() -> ExportResult { uploadDue(all: true) }
}

@_cdecl("oisp_exporter_entry")
public func oispS3Entry(_ major: UInt32, _ minor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    guard major == UInt32(OISP_EXPORTER_ABI_MAJOR) else { return nil }
    return makePluginTable(name: "s3", version: "0.1.0", description: "Amazon S3 / S3-compatible output with a local store_dir buffer (Fluent Bit s3 options)",
                           schema: nil) { try S3Output(config: $0, host: $1) }
}
