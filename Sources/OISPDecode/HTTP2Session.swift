import NIOCore
import NIOHPACK
import OISPEvent

/// HTTP/2 framing for one connection (RFC 9113): the client preface, frames in both directions,
/// HEADERS + CONTINUATION decoded with swift-nio-http2's HPACK (one decoder per direction),
/// DATA per stream, END_STREAM → the exchange completes. Requests over h2 decode exactly as
/// over HTTP/1.1.
final class HTTP2Session {
    unowned let connection: Connection
    private var buffers: [Bool: [UInt8]] = [true: [], false: []]
    private var hpack: [Bool: HPACKDecoder]
    private var headerBlock: [Bool: (stream: UInt32, bytes: [UInt8], endStream: Bool)] = [:]
    private var streams: [UInt32: AIExchange] = [:]
    /// Frames beyond this are treated as corruption (peers rarely raise SETTINGS_MAX_FRAME_SIZE past 16 KiB).
    static let maxFrame = 4 << 20

    init(connection: Connection) {
        self.connection = connection
        hpack = [true: HPACKDecoder(allocator: ByteBufferAllocator()), false: HPACKDecoder(allocator: ByteBufferAllocator())]
    }

    func feed(_ bytes: [UInt8], isWrite: Bool, ts: Timestamp) throws -> [OISPEvent] {
        buffers[isWrite]!.append(contentsOf: bytes)
        var out: [OISPEvent] = []
        var buf = buffers[isWrite]!
        var pos = 0
        defer { buffers[isWrite] = pos > 0 ? Array(buf[pos...]) : buf }
        while buf.count - pos >= 9 {
            let len = Int(buf[pos]) << 16 | Int(buf[pos + 1]) << 8 | Int(buf[pos + 2])
            let type = buf[pos + 3], flags = buf[pos + 4]
            let stream = (UInt32(buf[pos + 5]) << 24 | UInt32(buf[pos + 6]) << 16 | UInt32(buf[pos + 7]) << 8 | UInt32(buf[pos + 8])) & 0x7fff_ffff
            guard len <= HTTP2Session.maxFrame else { throw HTTPParseError(reason: "HTTP/2 frame length \(len) too large") }
            guard buf.count - pos >= 9 + len else { break }
            let payload = Array(buf[(pos + 9)..<(pos + 9 + len)])
            pos += 9 + len
            try out.take(frame(type: type, flags: flags, stream: stream, payload: payload, isWrite: isWrite, ts: ts))
        }
        return out
    }

    private func unpad(_ p: [UInt8], flags: UInt8, priority: Bool = false) throws -> [UInt8] {
        var start = 0, end = p.count
        if flags & 0x8 != 0 {
            guard !p.isEmpty else { throw HTTPParseError(reason: "padded frame without pad length") }
            let pad = Int(p[0]); start = 1
            guard pad <= end - start else { throw HTTPParseError(reason: "HTTP/2 padding longer than frame") }
            end -= pad
        }
        if priority {
            guard end - start >= 5 else { throw HTTPParseError(reason: "HEADERS priority block truncated") }
            start += 5
        }
        return Array(p[start..<end])
    }

    private func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8], isWrite: Bool, ts: Timestamp) throws -> [OISPEvent] {
        if let pending = headerBlock[isWrite], type != 9 {
            throw HTTPParseError(reason: "HTTP/2 header block for stream \(pending.stream) interrupted by frame type \(type)")
        }
        switch type {
        case 0: // DATA
            guard let x = streams[stream] else { return [] }
            let data = try unpad(payload, flags: flags)
            var out: [OISPEvent] = []
            if isWrite { x.requestBodyReceived(data) } else { out.take(x.responseBodyReceived(data, ts: ts)) }
            if flags & 0x1 != 0 { out.take(end(stream: stream, isWrite: isWrite, ts: ts)) }
            return out
        case 1: // HEADERS
            let block = try unpad(payload, flags: flags, priority: flags & 0x20 != 0)
            if flags & 0x4 != 0 { return try headers(stream: stream, block: block, endStream: flags & 0x1 != 0, isWrite: isWrite, ts: ts) }
            headerBlock[isWrite] = (stream, block, flags & 0x1 != 0)
            return []
        case 9: // CONTINUATION
            guard var hb = headerBlock[isWrite], hb.stream == stream else { throw HTTPParseError(reason: "unexpected CONTINUATION") }
            hb.bytes += payload
            guard hb.bytes.count <= 1 << 20 else { throw HTTPParseError(reason: "header block too large") }
            if flags & 0x4 != 0 {
                headerBlock[isWrite] = nil
                return try headers(stream: stream, block: hb.bytes, endStream: hb.endStream, isWrite: isWrite, ts: ts)
            }
            headerBlock[isWrite] = hb
            return []
        case 3: // RST_STREAM: the stream ends here, cut — a user's "stop generating", a client
            // that gave up on its body once the answer came: what was seen is still the call
            guard let x = streams.removeValue(forKey: stream) else { return [] }
            return reset(x, ts: ts)
        case 4: // SETTINGS: the sender's HEADER_TABLE_SIZE bounds the peer's encoder → our other-direction decoder
            if flags & 0x1 == 0 {
                var i = 0
                while i + 6 <= payload.count {
                    let id = UInt16(payload[i]) << 8 | UInt16(payload[i + 1])
                    let v = Int(payload[i + 2]) << 24 | Int(payload[i + 3]) << 16 | Int(payload[i + 4]) << 8 | Int(payload[i + 5])
                    if id == 1 { hpack[!isWrite]!.maxDynamicTableLength = min(v, 1 << 20) }
                    i += 6
                }
            }
            return []
        default: // PRIORITY, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, unknown: nothing to decode
            return []
        }
    }

    private func headers(stream: UInt32, block: [UInt8], endStream: Bool, isWrite: Bool, ts: Timestamp) throws -> [OISPEvent] {
        var bb = ByteBuffer(bytes: block)
        let decoded: HPACKHeaders
        do { decoded = try hpack[isWrite]!.decodeHeaders(from: &bb) } catch {
            throw HTTPParseError(reason: "HPACK: \(error)")
        }
        var head = HTTPHead(isRequest: isWrite)
        head.version = "HTTP/2"
        for (name, value, _) in decoded {
            switch name {
            case ":method": head.method = value
            case ":path": head.path = value
            case ":status": head.status = Int(value) ?? 0
            case ":authority": head.headers.append(("host", value))
            default: if !name.hasPrefix(":") { head.headers.append((name, value)) }
            }
        }
        var out: [OISPEvent] = []
        if isWrite {
            if streams[stream] == nil {
                let x = AIExchange(decoder: connection.decoder, connection: connection.id, remotePort: connection.remotePort, auth: connection.auth,
                                   plain: connection.plain)
                x.requestHeadReceived(head, ts: ts)
                streams[stream] = x
                if streams.count > 1000 { streams.remove(at: streams.startIndex) }
            }
        } else if let x = streams[stream] {
            if head.status >= 200 && x.responseHead == nil { x.responseHeadReceived(head, ts: ts) }
        }
        if endStream { out.take(end(stream: stream, isWrite: isWrite, ts: ts)) }
        return out
    }

    /// An exchange cut before it ended (a reset stream, a closed connection): its request and
    /// what came of its answer, marked incomplete.
    private func reset(_ x: AIExchange, ts: Timestamp) -> [OISPEvent] {
        var out: [OISPEvent] = []
        if x.requestEnd == nil {
            connection.decoder.counted(request: true)
            out.take(x.requestCompleted(ts: ts, truncated: true)) // with an answer that already ended
        }
        if x.responseHead != nil, x.responseEndedEarly == nil, !x.responseDone {
            connection.decoder.counted(request: false)
            out.take(x.responseCompleted(ts: ts, truncated: true))
        }
        return out
    }

    /// The connection ended (closed, its process gone): every open exchange as `reset` reports it.
    func close(ts: Timestamp) -> [OISPEvent] {
        let open = streams.sorted { $0.key < $1.key }.map(\.value)
        streams = [:]
        return open.flatMap { reset($0, ts: ts) }
    }

    private func end(stream: UInt32, isWrite: Bool, ts: Timestamp) -> [OISPEvent] {
        guard let x = streams[stream] else { return [] }
        if isWrite {
            connection.decoder.counted(request: true)
            let answered = x.responseEndedEarly != nil
            if answered { streams[stream] = nil }
            return x.requestCompleted(ts: ts, truncated: false)
        }
        connection.decoder.counted(request: false)
        let out = x.responseCompleted(ts: ts, truncated: false)
        if x.responseEndedEarly == nil { streams[stream] = nil } // else kept until the request ends
        return out
    }
}
