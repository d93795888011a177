import Foundation
import CZlibCrypto

/// Content-Encoding: gzip and deflate (zlib), br (brotli) and zstd, bounded in output size.
public enum BodyCodecs {
    public struct DecompressError: Error, CustomStringConvertible { public let description: String }

    /// Inflates gzip or zlib/raw deflate data. Output is capped at `limit` bytes.
    public static func inflate(_ input: [UInt8], gzip: Bool, limit: Int = 64 << 20) throws -> [UInt8] {
        // 16+MAX_WBITS: gzip; 32+MAX_WBITS: auto-detect zlib/gzip; -MAX_WBITS: raw deflate
        // (some servers send raw deflate for "deflate").
        if let out = try inflate(input, windowBits: gzip ? 16 + 15 : 32 + 15, limit: limit) { return out }
        if !gzip, let out = try inflate(input, windowBits: -15, limit: limit) { return out }
        throw DecompressError(description: "zlib inflate failed: not \(gzip ? "gzip" : "deflate") data")
    }

    /// nil on a data error (so the caller can try another format); throws on other failures.
    static func inflate(_ input: [UInt8], windowBits: Int32, limit: Int) throws -> [UInt8]? {
        var strm = z_stream()
        guard inflateInit2_(&strm, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DecompressError(description: "zlib init failed")
        }
        defer { inflateEnd(&strm) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        let rc: Int32 = input.withUnsafeMutableBufferPointer { ib in
            strm.next_in = ib.baseAddress
            strm.avail_in = UInt32(ib.count)
            var rc: Int32 = Z_OK
            repeat {
                rc = chunk.withUnsafeMutableBufferPointer { cb in
                    strm.next_out = cb.baseAddress
                    strm.avail_out = UInt32(cb.count)
                    return CZlibCrypto.inflate(&strm, Z_NO_FLUSH)
                }
                out.append(contentsOf: chunk[0..<(chunk.count - Int(strm.avail_out))])
                if out.count > limit { return Z_MEM_ERROR }
            } while rc == Z_OK && (strm.avail_in > 0 || strm.avail_out == 0)
            return rc
        }
        if rc == Z_DATA_ERROR { return nil }
        guard rc == Z_STREAM_END || rc == Z_OK || rc == Z_BUF_ERROR else { throw DecompressError(description: "zlib inflate failed (\(rc))") }
        return out
    }

    /// Decodes brotli data (`Content-Encoding: br`: what Chromium/Electron and Bun accept, and
    /// CDNs in front of AI APIs send). Output is capped at `limit` bytes.
    public static func brotli(_ input: [UInt8], limit: Int = 64 << 20) throws -> [UInt8] {
        guard let st = BrotliDecoderCreateInstance(nil, nil, nil) else { throw DecompressError(description: "brotli init failed") }
        defer { BrotliDecoderDestroyInstance(st) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let result: BrotliDecoderResult = input.withUnsafeBufferPointer { ib in
            var availIn = ib.count
            var nextIn = ib.baseAddress
            while true {
                var availOut = chunk.count
                let r = chunk.withUnsafeMutableBufferPointer { cb -> BrotliDecoderResult in
                    var nextOut = cb.baseAddress
                    return BrotliDecoderDecompressStream(st, &availIn, &nextIn, &availOut, &nextOut, nil)
                }
                out.append(contentsOf: chunk[0..<(chunk.count - availOut)])
                if out.count > limit { return BROTLI_DECODER_RESULT_ERROR }
                if r != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT { return r }
            }
        }
        guard result == BROTLI_DECODER_RESULT_SUCCESS else {
            throw DecompressError(description: result == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT ? "brotli data cut short" : "brotli data invalid or over the limit")
        }
        return out
    }

    /// Decodes zstd data (`Content-Encoding: zstd`, one or more frames). Output is capped at
    /// `limit` bytes.
    public static func zstd(_ input: [UInt8], limit: Int = 64 << 20) throws -> [UInt8] {
        guard let ds = ZSTD_createDStream() else { throw DecompressError(description: "zstd init failed") }
        defer { ZSTD_freeDStream(ds) }
        ZSTD_initDStream(ds)
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let last: Int = try input.withUnsafeBufferPointer { ib in
            var inb = ZSTD_inBuffer(src: ib.baseAddress, size: ib.count, pos: 0)
            while true {
                let (r, produced) = chunk.withUnsafeMutableBufferPointer { cb -> (Int, Int) in
                    var outb = ZSTD_outBuffer(dst: cb.baseAddress, size: cb.count, pos: 0)
                    return (ZSTD_decompressStream(ds, &outb, &inb), outb.pos)
                }
                if ZSTD_isError(r) != 0 { throw DecompressError(description: "zstd: \(String(cString: ZSTD_getErrorName(r)))") }
                out.append(contentsOf: chunk[0..<produced])
                if out.count > limit { throw DecompressError(description: "zstd output over the limit") }
                // all input taken and the output not full: everything decodable is out
                if inb.pos == inb.size && produced < chunk.count { return r }
            }
        }
        if last != 0 { throw DecompressError(description: "zstd data cut short") } // 0: the last frame ended
        return out
    }

    /// A body decoded by its Content-Encoding (encodings listed in the order applied, so undone
    /// last first); nil when an encoding is unknown or the data does not decode.
    public static func decode(_ body: [UInt8], contentEncoding: String) -> [UInt8]? {
        var out = body
        for e in contentEncoding.lowercased().split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }).reversed() {
            switch e {
            case "", "identity": continue
            case "gzip", "x-gzip": guard let o = try? inflate(out, gzip: true) else { return nil }; out = o
            case "deflate": guard let o = try? inflate(out, gzip: false) else { return nil }; out = o
            case "br": guard let o = try? brotli(out) else { return nil }; out = o
            case "zstd": guard let o = try? zstd(out) else { return nil }; out = o
            default: return nil
            }
        }
        return out
    }

    /// gzip-compresses (used by tests and exporters).
    public static func gzip(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var strm = z_stream()
        deflateInit2_(&strm, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&strm) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        input.withUnsafeMutableBufferPointer { ib in
            strm.next_in = ib.baseAddress
            strm.avail_in = UInt32(ib.count)
            var rc: Int32 = Z_OK
            repeat {
                rc = chunk.withUnsafeMutableBufferPointer { cb in
                    strm.next_out = cb.baseAddress
                    strm.avail_out = UInt32(cb.count)
                    return deflate(&strm, Z_FINISH)
                }
                out.append(contentsOf: chunk[0..<(chunk.count - Int(strm.avail_out))])
            } while rc == Z_OK
        }
        return out
    }
}

/// Incremental server-sent-events parser (text/event-stream): `event:`, `data:` (multi-line),
/// `id:`, comments; events end at a blank line. Handles CRLF, LF and split UTF-8.
public struct SSEParser {
    public struct Event: Sendable, Equatable {
        public var event: String?
        public var data: String
        public init(event: String?, data: String) { self.event = event; self.data = data }
    }
    private var line: [UInt8] = []
    private var event: String?
    /// The event's data lines so far, joined by LF as the spec says (bytes until the event ends).
    private var data: [UInt8] = []
    private var hasData = false
    private var lastWasCR = false
    public static let maxLine = 4 << 20

    public init() {}

    /// Lines are cut where CR, LF or CRLF end them; the bytes between are copied as runs, not
    /// one at a time (this runs on every chunk of every streamed answer).
    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        var out: [Event] = []
        feed(bytes) { e, d in out.append(Event(event: e, data: String(decoding: d, as: UTF8.self))) }
        return out
    }

    /// Each event as it ends: its type and its data's bytes, valid only during the call (no
    /// string made: the decoder parses the data where it lies).
    public mutating func feed(_ bytes: [UInt8], _ each: (String?, UnsafeBufferPointer<UInt8>) -> Void) {
        bytes.withUnsafeBufferPointer { u in
            var i = 0
            let n = u.count
            while i < n {
                if lastWasCR && u[i] == 10 { lastWasCR = false; i += 1; continue }
                var j = i
                while j < n, u[j] != 10, u[j] != 13 { j += 1 }
                if j > i, line.count < SSEParser.maxLine {
                    line.append(contentsOf: UnsafeBufferPointer(rebasing: u[i..<min(j, i + SSEParser.maxLine - line.count)]))
                }
                guard j < n else { lastWasCR = false; break }
                lastWasCR = u[j] == 13
                finishLine(each)
                i = j + 1
            }
        }
    }

    /// Ends the stream: a final event without a trailing blank line is still delivered.
    public mutating func finish() -> [Event] {
        var out: [Event] = []
        finish { e, d in out.append(Event(event: e, data: String(decoding: d, as: UTF8.self))) }
        return out
    }

    public mutating func finish(_ each: (String?, UnsafeBufferPointer<UInt8>) -> Void) {
        if !line.isEmpty { finishLine(each) }
        if hasData { data.withUnsafeBufferPointer { each(event, $0) } }
        data.removeAll(keepingCapacity: true); hasData = false; event = nil
    }

    private static let dataField = Array("data".utf8), eventField = Array("event".utf8)

    private mutating func finishLine(_ each: (String?, UnsafeBufferPointer<UInt8>) -> Void) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            if hasData { data.withUnsafeBufferPointer { each(event, $0) } }
            data.removeAll(keepingCapacity: true); hasData = false; event = nil
            return
        }
        if line[0] == UInt8(ascii: ":") { return }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        var v = colon < line.endIndex ? colon + 1 : colon
        if v < line.endIndex, line[v] == 32 { v += 1 }
        let field = line[..<colon]
        if field.elementsEqual(SSEParser.dataField) {
            if hasData { data.append(10) }
            data.append(contentsOf: line[v...])
            hasData = true
        } else if field.elementsEqual(SSEParser.eventField) {
            event = String(decoding: line[v...], as: UTF8.self)
        }
    }
}
