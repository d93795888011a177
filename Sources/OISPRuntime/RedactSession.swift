import Foundation
import OISPEvent
import OISPRedact

/// `redact`'s data path: JSONL from any writer → parse → redact → the sensor's JSON form, one
/// line each, streamed (a block of input at a time, never the whole file) and spread over the
/// cores with the output in input order.
public struct RedactSession {
    public struct Counts {
        public var lines = 0, redacted = 0, bad = 0
        /// A signal stopped the reading before the end of input.
        public var stopped = false
    }

    public let redactor: Redactor
    public init(redactor: Redactor) { self.redactor = redactor }

    /// Reads `reader` to its end (or until `stop`), hands each block's output to `write` in order,
    /// and each invalid line's number and error to `skipped` (blank lines are skipped silently;
    /// both are counted as lines, so a number matches what an editor shows).
    public func run(_ reader: LineReader, stop: @escaping () -> Bool, write: ([UInt8]) throws -> Void,
                    skipped: (Int, Error) -> Void) throws -> Counts {
        var c = Counts()
        let workers = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        final class Share: @unchecked Sendable {
            var out: [UInt8] = []
            var lines = 0, redacted = 0
            var errors: [(Int, Error)] = []
        }
        while !stop(), let block = try reader.next(stop: stop) {
            let chunks = LineReader.shares(of: block, count: workers)
            let shares = chunks.map { _ in Share() }
            let redactor = self.redactor
            DispatchQueue.concurrentPerform(iterations: shares.count) { i in
                let s = shares[i]
                s.out.reserveCapacity(chunks[i].count + 256)
                LineReader.forEachLine(in: chunks[i]) { line in
                    s.lines += 1
                    if LineReader.isBlank(line) { return }
                    do {
                        let e = try OISPEvent(jsonBytes: line)
                        // written, redacted, straight onto the share's output
                        var w = JSONWriter(capacity: 0)
                        swap(&w.bytes, &s.out)
                        redactor.write(e, into: &w)
                        w.bytes.append(0x0A)
                        swap(&w.bytes, &s.out)
                        s.redacted += 1
                    } catch {
                        s.errors.append((s.lines, error))
                    }
                }
            }
            for s in shares {
                for (rel, e) in s.errors { skipped(c.lines + rel, e) }
                c.lines += s.lines
                c.redacted += s.redacted
                c.bad += s.errors.count
                if !s.out.isEmpty { try write(s.out) }
            }
        }
        c.stopped = !reader.atEOF
        return c
    }
}
