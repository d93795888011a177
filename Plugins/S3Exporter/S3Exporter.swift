// [export.s3] — Fluent Bit's `s3` output. Its options: `s3OptionTable` below (`oisp plugins
// describe s3`). Events are appended to local chunk files in store_dir first and uploads run on
// their own thread: a restart or an outage loses nothing, leftover chunks upload on start.
// Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else
// the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile from
// `profile` or AWS_PROFILE); web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, as EKS IRSA
// sets them) and `role_arn` (STS AssumeRole) give temporary credentials, refreshed before expiry
// (`sts_endpoint` or AWS_ENDPOINT_URL_STS for a private STS). Requests are signed with libcurl's
// built-in AWS SigV4.
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
    /// use_put_object = false (Fluent Bit's default): CreateMultipartUpload, UploadPart per
    /// upload_chunk_size, CompleteMultipartUpload; true: one PutObject per chunk file.
    let multipart: Bool
    let uploadChunkSize: Int
    let host: PluginHost
    var credentials: (id: String, secret: String, token: String?)
    /// Where temporary credentials come from (refreshed five minutes before they expire).
    enum Refresh {
        case none
        case webIdentity(roleArn: String, tokenFile: String, session: String)
        case assumeRole(roleArn: String, session: String, externalID: String?, base: (id: String, secret: String, token: String?))
    }
    var refresh = Refresh.none
    var expiresAt = Date.distantPast
    let stsEndpoint: String
    let stsHTTP = HTTPClient()
    var index = 0
    /// The chunk being written. Guarded by `state`, with `stopping`.
    var current: (url: URL, fd: FileHandle, opened: Date, size: Int)?
    var stopping = false
    let state = NSCondition()
    /// One upload pass at a time (the uploader thread, or `flush`); guards `index`, the
    /// credentials and the HTTP client.
    let uploading = NSLock()
    let uploaderDone = DispatchSemaphore(value: 0)

    init(config c: Config, host: PluginHost) throws {
        self.host = host
        guard let b = c.string("bucket"), !b.isEmpty else { throw ConfigError("bucket", "required") }
        bucket = b
        region = try c.setting("region")
        var ep = c.string("endpoint") ?? "https://s3.\(region).amazonaws.com"
        while ep.hasSuffix("/") { ep.removeLast() }
        endpoint = ep
        let dir = try c.setting("store_dir")
        tag = c.string("tag", default: host.instanceName)
        storeDir = URL(fileURLWithPath: dir).appendingPathComponent(tag)
        totalFileSize = try c.size("total_file_size")
        uploadTimeoutMs = try c.duration("upload_timeout")
        keyFormat = try c.setting("s3_key_format")
        gzip = try c.choice("compression") == "gzip"
        contentType = try c.setting("content_type")
        multipart = try !c.bool("use_put_object")
        uploadChunkSize = try c.size("upload_chunk_size")
        guard uploadChunkSize >= 5 << 20 && uploadChunkSize <= 50 << 20 else {
            throw ConfigError("upload_chunk_size", "expected a size from 5M (S3's smallest part) to 50M, got \(uploadChunkSize) bytes")
        }
        http.options = try httpOptions(c)
        let env = ProcessInfo.processInfo.environment
        var sts = c.string("sts_endpoint") ?? env["AWS_ENDPOINT_URL_STS"] ?? "https://sts.\(region).amazonaws.com"
        while sts.hasSuffix("/") { sts.removeLast() }
        stsEndpoint = sts
        stsHTTP.options = http.options
        let session = env["AWS_ROLE_SESSION_NAME"] ?? "oisp-sensor-\(ProcessInfo.processInfo.hostName)"
        if (env["AWS_ACCESS_KEY_ID"] ?? "").isEmpty, let tokenFile = env["AWS_WEB_IDENTITY_TOKEN_FILE"], !tokenFile.isEmpty {
            // EKS IRSA / any OIDC federation: AssumeRoleWithWebIdentity, refreshed before expiry
            guard let role = env["AWS_ROLE_ARN"], !role.isEmpty else {
                throw ConfigError("credentials", "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
            }
            guard FileManager.default.isReadableFile(atPath: tokenFile) else {
                throw ConfigError("credentials", "web identity token file \(tokenFile) (AWS_WEB_IDENTITY_TOKEN_FILE) is not readable")
            }
            refresh = .webIdentity(roleArn: role, tokenFile: tokenFile, session: session)
            credentials = ("", "", nil)
        } else {
            guard let creds = S3Output.findCredentials(profile: c.string("profile")) else {
                throw ConfigError("credentials", "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, or a shared credentials file")
            }
            credentials = creds
            if let role = c.string("role_arn"), !role.isEmpty {
                // Fluent Bit's role_arn: STS AssumeRole with the credentials found above
                refresh = .assumeRole(roleArn: role, session: session, externalID: c.string("external_id"), base: creds)
            }
        }
        if case .none = refresh {} else if let e = refreshCredentials() {
            host.warn("s3: \(e); will try again before the first upload")
        }
        do { try FileManager.default.createDirectory(at: storeDir, withIntermediateDirectories: true) } catch {
            throw ConfigError("store_dir", "cannot create \(storeDir.path): \(error)")
        }
        let leftovers = chunkFiles()
        if !leftovers.isEmpty { host.info("s3: \(leftovers.count) chunk(s) left in \(storeDir.path) from an earlier run will be uploaded") }
        let t = Thread { self.uploader() } // stopped by close() (on_destroy)
        t.name = "oisp-s3-upload"
        t.start()
    }

    /// Uploads run here, beside the export calls, as Fluent Bit's s3 output uploads on its own
    /// timer: an export returns once its events are fsync'd in the chunk, so a slow or absent S3
    /// never holds up the pipeline (nor makes an upload outlast the host's timeout for a call).
    /// Every second, or when a chunk is finished: close the current chunk when it is older than
    /// upload_timeout, then upload every finished chunk in order; after a failure, wait 1 s,
    /// 2 s, … up to a minute before the next try (the chunks stay on disk meanwhile).
    func uploader() {
        var failures = 0
        var nextTry = Date.distantPast
        while true {
            state.lock()
            if !stopping { _ = state.wait(until: Date().addingTimeInterval(1)) }
            if stopping { state.unlock(); break }
            if let c = current, Date().timeIntervalSince(c.opened) * 1000 >= Double(uploadTimeoutMs) { closeCurrent() }
            state.unlock()
            guard Date() >= nextTry else { continue }
            switch uploadFinished() {
            case .retry(let m, _, _, _), .permanent(let m):
                failures += 1
                host.count("s3_upload_failures", 1) // oisp_plugin_s3_upload_failures_total: uploads no longer fail export calls
                nextTry = Date().addingTimeInterval(min(60, pow(2, Double(min(failures, 7) - 1))))
                host.warn("s3 upload deferred (the chunks stay in \(storeDir.path)): \(m)")
            default:
                failures = 0
            }
        }
        uploaderDone.signal()
    }

    func close() {
        state.lock()
        stopping = true
        state.broadcast()
        state.unlock()
        uploaderDone.wait()
        state.lock()
        closeCurrent()
        state.unlock()
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

    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func sha256Hex(_ d: Data) -> String {
        var md = [UInt8](repeating: 0, count: 32)
        d.withUnsafeBytes { b in _ = SHA256(b.baseAddress?.assumingMemoryBound(to: UInt8.self), b.count, &md) }
        return md.map { String(format: "%02x", $0) }.joined()
    }

    /// One signed request (libcurl SigV4). S3 requires the payload hash header; curl signs it
    /// with the rest.
    func s3(_ method: String, _ url: String, headers: [String] = [], body: Data = Data()) -> HTTPClient.Response {
        var h = headers
        if let t = credentials.token { h.append("x-amz-security-token: \(t)") }
        h.append("x-amz-content-sha256: " + (body.isEmpty ? S3Output.emptySHA256 : S3Output.sha256Hex(body)))
        http.options.userpwd = "\(credentials.id):\(credentials.secret)"
        http.options.awsSigV4 = "aws:amz:\(region):s3"
        return http.request(method, url, headers: h, body: body)
    }

    /// Query values as SigV4 canonicalises them (RFC 3986 unreserved characters kept).
    static func queryEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// The text of the first `<name>` element of an S3 XML answer.
    static func xmlValue(_ body: Data, _ name: String) -> String? {
        let t = String(decoding: body, as: UTF8.self)
        guard let a = t.range(of: "<\(name)>"), let b = t.range(of: "</\(name)>", range: a.upperBound..<t.endIndex) else { return nil }
        return String(t[a.upperBound..<b.lowerBound])
    }

    static func formEncode(_ s: String) -> String { queryEncode(s) }

    /// Fetches temporary credentials from STS (AssumeRoleWithWebIdentity or AssumeRole); returns
    /// an error text, or nil when the credentials are fresh. The token and keys are never logged.
    func refreshCredentials() -> String? {
        var form = "Version=2011-06-15&DurationSeconds=3600"
        let what: String
        stsHTTP.options.userpwd = nil
        stsHTTP.options.awsSigV4 = nil
        var headers = ["Content-Type: application/x-www-form-urlencoded"]
        switch refresh {
        case .none: return nil
        case .webIdentity(let role, let file, let session):
            what = "STS AssumeRoleWithWebIdentity for \(role)"
            guard let token = try? String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
                return "\(what): cannot read the web identity token file \(file)"
            }
            form += "&Action=AssumeRoleWithWebIdentity&RoleArn=\(S3Output.formEncode(role))&RoleSessionName=\(S3Output.formEncode(session))&WebIdentityToken=\(S3Output.formEncode(token))"
        case .assumeRole(let role, let session, let ext, let base):
            what = "STS AssumeRole for \(role)"
            form += "&Action=AssumeRole&RoleArn=\(S3Output.formEncode(role))&RoleSessionName=\(S3Output.formEncode(session))"
            if let ext { form += "&ExternalId=\(S3Output.formEncode(ext))" }
            stsHTTP.options.userpwd = "\(base.id):\(base.secret)"
            stsHTTP.options.awsSigV4 = "aws:amz:\(region):sts"
            if let t = base.token { headers.append("x-amz-security-token: \(t)") }
            headers.append("x-amz-content-sha256: " + S3Output.sha256Hex(Data(form.utf8)))
        }
        let r = stsHTTP.request("POST", stsEndpoint + "/", headers: headers, body: Data(form.utf8))
        if let e = r.error { return "\(what): \(e)" }
        guard r.status == 200, let id = S3Output.xmlValue(r.body, "AccessKeyId"), let secret = S3Output.xmlValue(r.body, "SecretAccessKey") else {
            let code = S3Output.xmlValue(r.body, "Code") ?? "", msg = S3Output.xmlValue(r.body, "Message") ?? ""
            return "\(what): HTTP \(r.status) \(code) \(msg)"
        }
        credentials = (id, secret, S3Output.xmlValue(r.body, "SessionToken"))
        let exp = S3Output.xmlValue(r.body, "Expiration") ?? ""
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let g = ISO8601DateFormatter()
        expiresAt = f.date(from: exp) ?? g.date(from: exp) ?? Date().addingTimeInterval(900)
        host.info("s3: temporary credentials from \(what), valid until \(exp)")
        return nil
    }

    /// Uploads one chunk file; deletes it only after S3 confirmed the whole object.
    func upload(_ file: URL) -> ExportResult {
        if case .none = refresh {} else if Date().addingTimeInterval(300) >= expiresAt, let e = refreshCredentials() {
            return .retry(message: "s3: \(e)")
        }
        guard var body = FileManager.default.contents(atPath: file.path) else { return .ok }
        if body.isEmpty { try? FileManager.default.removeItem(at: file); return .ok }
        var headers = ["Content-Type: \(contentType)"]
        if gzip { body = gzipData(body); headers.append("Content-Encoding: gzip") }
        let key = objectKey()
        let result = multipart ? uploadMultipart(key: key, body: body, headers: headers) : putObject(key: key, body: body, headers: headers)
        if case .ok = result {
            try? FileManager.default.removeItem(at: file)
            host.count("s3_objects", 1)
            host.info("s3: uploaded \(body.count) bytes to s3://\(bucket)/\(key)\(multipart ? " (multipart)" : "")")
        }
        return result
    }

    func putObject(key: String, body: Data, headers: [String]) -> ExportResult {
        let r = s3("PUT", "\(endpoint)/\(bucket)/\(key)", headers: headers, body: body)
        return HTTPClient.classify(r, what: "PUT s3://\(bucket)/\(key)")
    }

    /// CreateMultipartUpload → UploadPart (upload_chunk_size each, the last one shorter) →
    /// CompleteMultipartUpload. Any failure aborts the upload (AbortMultipartUpload, so no
    /// orphaned parts are billed) and the chunk file stays for the next attempt.
    func uploadMultipart(key: String, body: Data, headers: [String]) -> ExportResult {
        let object = "\(endpoint)/\(bucket)/\(key)"
        let what = "multipart upload to s3://\(bucket)/\(key)"
        let created = s3("POST", object + "?uploads=", headers: headers)
        if case .ok = HTTPClient.classify(created, what: what) {} else { return HTTPClient.classify(created, what: "CreateMultipartUpload for s3://\(bucket)/\(key)") }
        guard let uploadID = S3Output.xmlValue(created.body, "UploadId"), !uploadID.isEmpty else {
            return .retry(message: "\(what): CreateMultipartUpload answered without an UploadId")
        }
        let q = "uploadId=" + S3Output.queryEncode(uploadID)
        func abort(_ r: ExportResult) -> ExportResult {
            _ = s3("DELETE", "\(object)?\(q)")
            return r
        }
        var etags: [String] = []
        var offset = 0
        while offset < body.count {
            let end = min(body.count, offset + uploadChunkSize)
            let part = body.subdata(in: offset..<end)
            let n = etags.count + 1
            let r = s3("PUT", "\(object)?partNumber=\(n)&\(q)", headers: ["Content-Type: application/octet-stream"], body: part)
            let c = HTTPClient.classify(r, what: "UploadPart \(n) of s3://\(bucket)/\(key)")
            guard case .ok = c else { return abort(c) }
            guard let etag = r.header("etag"), !etag.isEmpty else { return abort(.retry(message: "\(what): part \(n) answered without an ETag")) }
            etags.append(etag)
            offset = end
        }
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (i, e) in etags.enumerated() { xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(e)</ETag></Part>" }
        xml += "</CompleteMultipartUpload>"
        let done = s3("POST", "\(object)?\(q)", headers: ["Content-Type: application/xml"], body: Data(xml.utf8))
        let c = HTTPClient.classify(done, what: "CompleteMultipartUpload for s3://\(bucket)/\(key)")
        guard case .ok = c else { return abort(c) }
        // S3 may answer 200 and put the error in the body (documented for CompleteMultipartUpload)
        if let code = S3Output.xmlValue(done.body, "Code") {
            return abort(.retry(message: "\(what): CompleteMultipartUpload failed: \(code) \(S3Output.xmlValue(done.body, "Message") ?? "")"))
        }
        host.count("s3_parts", etags.count)
        return .ok
    }

    func closeCurrent() {
        guard let c = current else { return }
        try? c.fd.close() // every write was synchronized when it was made
        current = nil
    }

    /// Uploads every finished chunk, oldest first; stops at the first failure. The list is taken
    /// with the current chunk's name under `state`, so a chunk still being written is never sent.
    func uploadFinished() -> ExportResult {
        uploading.lock(); defer { uploading.unlock() }
        state.lock()
        let files = chunkFiles().filter { $0 != current?.url }
        state.unlock()
        for f in files {
            let r = upload(f)
            if case .ok = r { continue }
            return r
        }
        return .ok
    }

    func export(_ records: [Record], batchID: UInt64, attempt: Int) -> ExportResult {
        // durable locally; the uploader thread sends finished chunks
        state.lock(); defer { state.unlock() }
        do {
            if current == nil {
                let url = storeDir.appendingPathComponent("chunk-\(Int64(Date().timeIntervalSince1970 * 1000))-\(UUID().uuidString.prefix(6)).jsonl")
                FileManager.default.createFile(atPath: url.path, contents: nil)
                current = (url, try FileHandle(forWritingTo: url), Date(), 0)
                try current!.fd.seekToEnd()
            }
            var d: [UInt8] = []
            d.reserveCapacity(records.reduce(0) { $0 + $1.jsonCount + 1 })
            for r in records { r.withJSON { d.append(contentsOf: $0) }; d.append(10) }
            try current!.fd.write(contentsOf: d)
            try current!.fd.synchronize()
            current!.size += d.count
        } catch {
            return .retry(message: "s3: cannot write chunk in \(storeDir.path): \(error)")
        }
        if current!.size >= totalFileSize { closeCurrent(); state.broadcast() }
        return .ok
    }

    /// Everything written so far goes to S3 now, the current chunk included.
    func flush() -> ExportResult {
        state.lock()
        closeCurrent()
        state.unlock()
        return uploadFinished()
    }
}

@_cdecl("oisp_exporter_entry")
public func oispS3Entry(_ major: UInt32, _ minor: UInt32) -> UnsafePointer<oisp_exporter_plugin>? {
    guard major == UInt32(OISP_EXPORTER_ABI_MAJOR) else { return nil }
    return makePluginTable(name: "s3", version: "0.1.0", description: "Amazon S3 / S3-compatible output with a local store_dir buffer (Fluent Bit s3 options)",
                           options: s3OptionTable) { try S3Output(config: $0, host: $1) }
}

let s3OptionTable = [
    Option("bucket", .string, required: true, "Bucket name"),
    Option("region", .string, default: "us-east-1", "AWS region"),
    Option("endpoint", .string, "S3-compatible endpoint (path style); default https://s3.<region>.amazonaws.com"),
    Option("store_dir", .string, default: "/var/lib/oisp/s3", "Local buffer: events go to chunk files here first; leftovers upload on start"),
    Option("tag", .string, "Sub-directory of store_dir and $TAG of s3_key_format; default the exporter's name"),
    Option("total_file_size", .size, default: "100M", "Upload a chunk when it reaches this size"),
    Option("upload_timeout", .duration, default: "10m", "Upload a chunk at the latest this long after its first event"),
    Option("s3_key_format", .string, default: "/oisp-sensor/%Y/%m/%d/%H/%M/%S-$UUID.jsonl", "Object key: strftime fields, $UUID, $INDEX, $TAG"),
    compressionOption("compression"),
    Option("content_type", .string, default: "application/json", "Content-Type of the objects"),
    Option("use_put_object", .bool, default: "false", "One PutObject per chunk instead of a multipart upload"),
    Option("upload_chunk_size", .size, default: "5M", "Multipart part size, 5M to 50M"),
    Option("profile", .string, "Profile in the shared credentials file (else AWS_PROFILE)"),
    Option("role_arn", .string, "Role to assume with STS AssumeRole"),
    Option("external_id", .string, "External id for role_arn"),
    Option("sts_endpoint", .string, "Private STS endpoint (else AWS_ENDPOINT_URL_STS)"),
    Option("tls", .boolOrTable(tlsTableOptions), "TLS settings (the endpoint's scheme decides whether TLS is used)"),
] + httpClientOptions
