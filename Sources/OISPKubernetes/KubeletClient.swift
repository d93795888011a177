import COISPHTTP
import Foundation
import OISPConfig

/// Why a fetch of pod metadata failed: enough for a warning a user can act on.
public struct PodSourceFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var url: String
    /// The HTTP status, or nil when there was no answer.
    public var status: Int?
    public var message: String
    public init(url: String, status: Int?, message: String) { self.url = url; self.status = status; self.message = message }

    public var description: String {
        if let status { return "\(url): HTTP \(status) \(message)" }
        return "\(url): \(message)"
    }
}

/// The kubelet's read-only pod list, `GET <kubelet_url>/pods`, with the service account's token.
/// The kubelet authorises it as `nodes/proxy` get (ClusterRole rule `nodes/proxy: get`).
public final class KubeletClient: @unchecked Sendable {
    public let url: String
    let config: SensorConfig.Kubernetes
    private var handle: OpaquePointer?
    private let lock = NSLock()
    static let maxBodyBytes = 256 << 20
    static let timeoutMs = 10_000

    public init(config: SensorConfig.Kubernetes) {
        self.config = config
        url = config.kubeletURL + "/pods"
    }

    deinit { if let handle { oisp_http_free(handle) } }

    /// The token file's contents, read now (projected service-account tokens are rotated).
    func token() -> Result<String, PodSourceFailure> {
        guard let d = FileManager.default.contents(atPath: config.tokenFile) else {
            return .failure(PodSourceFailure(url: url, status: nil, message: "token_file \(config.tokenFile) cannot be read"))
        }
        return .success(String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// One GET of `/pods`, blocking up to 10 s; call it off the capture path.
    /// - Returns: the pods, or why not (URL, HTTP status, reason).
    public func fetch() -> Result<[PodMetadata], PodSourceFailure> {
        lock.lock(); defer { lock.unlock() }
        let tok: String
        switch token() {
        case .success(let t): tok = t
        case .failure(let f): return .failure(f)
        }
        if handle == nil { handle = oisp_http_new() }
        guard let handle else { return .failure(PodSourceFailure(url: url, status: nil, message: "libcurl could not be initialised")) }
        var rs = oisp_http_response()
        defer { oisp_http_response_free(&rs) }
        let rc: Int32 = url.withCString { u in
            ("Authorization: Bearer " + tok).withCString { auth in
                withOptional(config.caFile) { ca in
                    var headers: [UnsafePointer<CChar>?] = tok.isEmpty ? [] : [auth]
                    return headers.withUnsafeMutableBufferPointer { hb in
                        var rq = oisp_http_request()
                        rq.method = nil
                        rq.url = u
                        rq.headers = UnsafePointer(hb.baseAddress)
                        rq.header_count = hb.count
                        rq.ca_file = ca
                        rq.insecure_skip_verify = config.tlsVerify ? 0 : 1
                        rq.timeout_ms = KubeletClient.timeoutMs
                        rq.max_body_bytes = KubeletClient.maxBodyBytes
                        return "GET".withCString { m in
                            rq.method = m
                            return oisp_http_perform(handle, &rq, &rs)
                        }
                    }
                }
            }
        }
        if rc != 0 {
            let err = withUnsafeBytes(of: rs.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .failure(PodSourceFailure(url: url, status: rs.status == 0 ? nil : Int(rs.status), message: err))
        }
        let body = UnsafeBufferPointer(start: rs.body, count: rs.body_len)
        guard rs.status == 200 else {
            let reason: String
            switch rs.status {
            case 401: reason = "Unauthorized (the token in \(config.tokenFile) was refused)"
            case 403: reason = "Forbidden (the service account needs the ClusterRole rule nodes/proxy: get)"
            default: reason = String(decoding: body.prefix(200), as: UTF8.self)
            }
            return .failure(PodSourceFailure(url: url, status: Int(rs.status), message: reason))
        }
        do { return .success(try PodMetadata.parsePodList(body)) } catch {
            return .failure(PodSourceFailure(url: url, status: 200, message: "\(error)"))
        }
    }
}

func withOptional<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}
