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
        for h in headers where HTTPHead.asciiCaseInsensitiveEqual(h.name, name) { return h.value }
        return nil
    }

    /// Header names are ASCII: compared byte by byte, without Foundation's locale-aware compare
    /// (which the decoder would otherwise run on every chunk of a streamed answer).
    static func asciiCaseInsensitiveEqual(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                guard x.count == y.count else { return false }
                for i in 0..<x.count {
                    let p = x[i], q = y[i]
                    if p == q { continue }
                    if p | 0x20 != q | 0x20 || !((p | 0x20) >= 97 && (p | 0x20) <= 122) { return false }
                }
                return true
            }
        }
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
    /// Body bytes capture left out (`HTTP1Parser.skip`): the body goes on after them.
    case gap(Int)
    case end
}

/// Malformed input: the connection's state is reset and counted.
public struct HTTPParseError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

extension String {
    /// A request target without its query (`/v1/x?key=…` → `/v1/x`); itself when it has none.
    var withoutQuery: String {
        guard let q = utf8.firstIndex(of: UInt8(ascii: "?")) else { return self }
        return String(self[..<q])
    }
}
