/// The head of an HTTP message (HTTP/1.1 start line + headers, or HTTP/2 pseudo-headers + headers).
public struct HTTPHead: Sendable, Equatable {
    public var isRequest: Bool
    public var method: String = ""
    /// Request target (path + query).
    public var path: String = ""
    public var status: Int = 0
    public var version: String = "HTTP/1.1"
    public var headers: [(name: String, value: String)] = []

    public init(isRequest: Bool) { self.isRequest = isRequest }

    /// First value of a header, case-insensitively.
    public func header(_ name: String) -> String? {
        for h in headers where h.name.caseInsensitiveCompare(name) == .orderedSame { return h.value }
        return nil
    }

    /// Host from `Host` or `:authority`.
    public var authority: String? { header(":authority") ?? header("host") }

    public var contentType: String { (header("content-type") ?? "").lowercased() }

    public static func == (a: HTTPHead, b: HTTPHead) -> Bool {
        a.isRequest == b.isRequest && a.method == b.method && a.path == b.path && a.status == b.status
            && a.headers.map { "\($0.name.lowercased()):\($0.value)" } == b.headers.map { "\($0.name.lowercased()):\($0.value)" }
    }
}

import Foundation

/// What a message parser reports, in order.
public enum HTTPParseEvent: Sendable {
    case head(HTTPHead)
    case body([UInt8])
    case end
}

/// Malformed input: the connection's state is reset and counted.
public struct HTTPParseError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
