#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Reads JSONL input (a file, a pipe, stdin) in blocks of complete lines: one set of rules for
/// `replay`, `redact` and `bench`. A UTF-8 byte order mark at the start (files saved by some
/// Windows tools) is not part of line 1; the last line may lack its newline; a line longer than
/// the buffer grows it. Waits for input in 100 ms steps, so a stop request ends the wait even on
/// an idle pipe.
public final class LineReader {
    public struct ReadError: Error, CustomStringConvertible {
        public let errno: Int32
        public init(errno: Int32) { self.errno = errno }
        public var description: String { String(cString: strerror(errno)) }
    }

    public let fd: Int32
    private var buf: UnsafeMutableRawBufferPointer
    private var have = 0
    /// Bytes at the front handed out by the last `next` (dropped at the next call).
    private var handedOut = 0
    private var atStart = true
    /// The input has ended (everything read was handed out, or will be by the next call).
    public private(set) var atEOF = false

    public init(fd: Int32, blockBytes: Int = 4 << 20) {
        self.fd = fd
        buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(4096, blockBytes), alignment: 16)
    }

    deinit { buf.deallocate() }

    /// The next block of complete lines, each ending in a newline (the input's last line may
    /// not); nil at the end of input, or when `stop` says so while waiting. The bytes are valid
    /// until the next call.
    public func next(stop: () -> Bool = { false }) throws -> UnsafeBufferPointer<UInt8>? {
        if handedOut > 0 {
            memmove(buf.baseAddress!, buf.baseAddress! + handedOut, have - handedOut)
            have -= handedOut
            handedOut = 0
        }
        while true {
            let bytes = buf.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if !atStart {
                // complete lines end at the last newline (at the end of input: everything)
                var usable = have
                if !atEOF {
                    while usable > 0 && bytes[usable - 1] != 0x0A { usable -= 1 }
                }
                if usable > 0 {
                    handedOut = usable
                    return UnsafeBufferPointer(start: bytes, count: usable)
                }
                if atEOF { return nil }
            }
            if stop() { return nil }
            if have == buf.count { // one line longer than the buffer: grow it
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buf.count * 2, alignment: 16)
                bigger.copyMemory(from: UnsafeRawBufferPointer(buf))
                buf.deallocate()
                buf = bigger
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 100)
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let n = read(fd, buf.baseAddress! + have, buf.count - have)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw ReadError(errno: errno)
            }
            if n == 0 { atEOF = true } else { have += n }
            if atStart && (have >= 3 || atEOF) {
                let b = buf.baseAddress!.assumingMemoryBound(to: UInt8.self)
                if have >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
                    memmove(b, b + 3, have - 3)
                    have -= 3
                }
                atStart = false
            }
        }
    }

    /// Each line of `block` without its newline (and a carriage return before it), in order.
    public static func forEachLine(in block: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        guard let base = block.baseAddress else { return }
        var start = 0
        while start < block.count {
            let nl = memchr(base + start, 0x0A, block.count - start)
            let end = nl.map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? block.count
            var n = end - start
            if n > 0 && base[start + n - 1] == 0x0D { n -= 1 }
            try body(UnsafeBufferPointer(start: base + start, count: n))
            start = end + 1
        }
    }

    /// `block` cut at line boundaries into at most `count` shares of about equal size, in order
    /// (one per worker; a share is never empty).
    public static func shares(of block: UnsafeBufferPointer<UInt8>, count: Int) -> [UnsafeBufferPointer<UInt8>] {
        guard let base = block.baseAddress, !block.isEmpty else { return [] }
        var cuts = [0]
        for k in 1..<max(1, count) {
            let want = max(cuts.last!, block.count * k / count)
            guard want < block.count, let nl = memchr(base + want, 0x0A, block.count - want) else { break }
            let at = base.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
            if at < block.count && at > cuts.last! { cuts.append(at) }
        }
        cuts.append(block.count)
        return (0..<(cuts.count - 1)).map { UnsafeBufferPointer(start: base + cuts[$0], count: cuts[$0 + 1] - cuts[$0]) }
    }

    /// Whether a line holds only spaces and tabs (skipped, but counted).
    public static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }
}
