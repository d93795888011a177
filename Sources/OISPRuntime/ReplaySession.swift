import Foundation
import Logging
import OISPEvent
import OISPPipeline
import OISPRedact

/// `replay`'s data path: JSONL from any writer (the sensor's own form, or `json.dumps`-style
/// spacing and member orders) through the GenAI stage, redaction and every exporter, spread over
/// the cores with the output in file order.
public struct ReplaySession {
    /// What was read: lines, events taken, invalid lines skipped, and whether a signal stopped
    /// the reading before the end of input.
    public struct Counts {
        public var lines = 0, good = 0, bad = 0
        public var stopped = false
        /// Reading failed after `lines` (what was read before is delivered).
        public var readError: String?
    }

    public let runtime: SensorRuntime
    public let logger: Logger
    /// The input's name in messages.
    public let input: String

    public init(runtime: SensorRuntime, logger: Logger, input: String) {
        self.runtime = runtime
        self.logger = logger
        self.input = input
    }

    /// Reads `fd` to its end (or a stop request) and submits every event to the pipeline.
    public func run(fd: Int32) -> Counts {
        var lineNo = 0
        var bad = 0
        var good = 0
        let pipeline = runtime.pipeline
        let stage = runtime.redaction
        let genai = runtime.genai

        /// What one worker made of its share of complete lines.
        final class Part: @unchecked Sendable {
            var records: [ExportRecord] = []
            var lines = 0, good = 0, bad = 0
            var errors: [(line: Int, error: String)] = []
            /// AI calls, parsed here and finished after: the GenAI stage pairs each response with
            /// its request, so it takes them in file order on the reading thread; redaction and
            /// serialisation then run in parallel again (`at`: their place in `records`).
            /// A request keeps its byte-lane record (the stage only reads it); a response is redacted
            /// and serialised after the stage has added its cost.
            var deferred: [(at: Int, event: OISPEvent, record: ExportRecord?)] = []
        }
        /// Redacts (and, off the canonical lane, parses) the lines in `chunk`, in order.
        @Sendable func process(_ chunk: UnsafeBufferPointer<UInt8>, into part: Part, memo: LaneMemo) {
            var start = 0
            let base = chunk.baseAddress!
            while start < chunk.count {
                let nl = memchr(base + start, 0x0A, chunk.count - start)
                let end = nl.map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? chunk.count
                part.lines += 1
                var n = end - start
                if n > 0 && chunk[start + n - 1] == 0x0D { n -= 1 }
                let l = UnsafeBufferPointer(rebasing: chunk[start..<(start + n)])
                start = end + 1
                if l.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                do {
                    // lines in the sensor's own form are redacted where they lie; others are parsed
                    let ai = aiEventKind(l)
                    if ai != .none {
                        let e = try OISPEvent(jsonBytes: l)
                        part.deferred.append((part.records.count, e, ai == .request ? stage.record(canonical: l, memo: memo) : nil))
                        part.good += 1
                        continue
                    }
                    if let r = stage.record(canonical: l, memo: memo) {
                        part.records.append(r)
                    } else {
                        var e = try OISPEvent(jsonBytes: l)
                        if let r = pipeline.record(for: &e) { part.records.append(r) }
                    }
                    part.good += 1
                } catch {
                    part.bad += 1
                    part.errors.append((part.lines, "\(error)"))
                }
            }
        }
        // One reused buffer; each read's complete lines are split between the cores, and the
        // results are handed to the pipeline in file order.
        let workers = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        // one per share: share k is only ever worked on by one thread at a time
        nonisolated(unsafe) let memos = (0..<workers).map { _ in LaneMemo() }
        let reader = LineReader(fd: fd)
        var readError: String?
        func nextBlock() -> UnsafeBufferPointer<UInt8>? {
            do { return try reader.next(stop: { runtime.isStopRequested }) } catch { readError = "\(error)"; return nil }
        }
        while !runtime.isStopRequested, let block = nextBlock() {
            let chunks = LineReader.shares(of: block, count: workers)
            let parts = chunks.map { _ in Part() }
            if parts.count == 1 { process(chunks[0], into: parts[0], memo: memos[0]) } else {
                DispatchQueue.concurrentPerform(iterations: parts.count) { process(chunks[$0], into: parts[$0], memo: memos[$0]) }
            }
            // the AI calls: the GenAI stage in file order, then redaction and serialisation in parallel
            for p in parts { for k in p.deferred.indices { _ = genai.process(&p.deferred[k].event) } }
            let finished = parts.map { p -> UnsafeMutableBufferPointer<ExportRecord?> in
                let b = UnsafeMutableBufferPointer<ExportRecord?>.allocate(capacity: p.deferred.count)
                _ = b.initialize(from: repeatElement(nil, count: p.deferred.count))
                return b
            }
            defer { for b in finished { b.deinitialize().deallocate() } }
            let jobs = parts.indices.flatMap { pi in stride(from: 0, to: parts[pi].deferred.count, by: 64).map { (pi, $0) } }
            if !jobs.isEmpty {
                DispatchQueue.concurrentPerform(iterations: jobs.count) { j in
                    let (pi, from) = jobs[j]
                    let p = parts[pi]
                    for k in from..<min(from + 64, p.deferred.count) {
                        if let r = p.deferred[k].record { finished[pi][k] = r; continue }
                        finished[pi][k] = stage.record(for: p.deferred[k].event)
                    }
                }
            }
            for (pi, p) in parts.enumerated() {
                if !p.deferred.isEmpty {
                    var merged: [ExportRecord] = []
                    merged.reserveCapacity(p.records.count + p.deferred.count)
                    var k = 0
                    for (d, r) in zip(p.deferred, finished[pi]) {
                        while k < d.at { merged.append(p.records[k]); k += 1 }
                        if let r { merged.append(r) }
                    }
                    while k < p.records.count { merged.append(p.records[k]); k += 1 }
                    p.records = merged
                }
                for (rel, err) in p.errors {
                    logger.warning("skipping invalid line", metadata: ["file": "\(input)", "line": "\(lineNo + rel)", "error": "\(err)"])
                }
                lineNo += p.lines; good += p.good; bad += p.bad
                var i = 0
                while i < p.records.count { // slices keep the queues' blocking fair
                    let j = min(p.records.count, i + 512)
                    pipeline.submit(records: p.records[i..<j], block: true)
                    i = j
                }
            }
        }
        return Counts(lines: lineNo, good: good, bad: bad, stopped: runtime.isStopRequested && !reader.atEOF, readError: readError)
    }
}

/// Which events the GenAI stage reads: `ai.request`, and `ai.response` / `ai.embedding`
/// (by a byte search for `"event_type":"ai.`); streamed chunks and the rest are `.none`.
public enum AIEventKind { case none, request, response }

public func aiEventKind(_ line: UnsafeBufferPointer<UInt8>) -> AIEventKind {
    let n = aiEventNeedle.count
    guard let base = line.baseAddress, line.count >= n + 3 else { return .none }
    var i = 0
    while i <= line.count - n - 3 {
        guard let q = memchr(base + i, 0x22, line.count - n - 2 - i) else { return .none }
        let at = base.distance(to: q.assumingMemoryBound(to: UInt8.self))
        if aiEventNeedle.withUnsafeBufferPointer({ memcmp(base + at, $0.baseAddress!, n) }) == 0 {
            let a = base[at + n], b = base[at + n + 1], c = base[at + n + 2]
            if a == 0x72 && b == 0x65 { return c == 0x71 ? .request : .response } // "req…", "res…"
            return a == 0x65 && b == 0x6D ? .response : .none                    // "em…"bedding
        }
        i = at + 1
    }
    return .none
}

public func isAIEvent(_ line: UnsafeBufferPointer<UInt8>) -> Bool { aiEventKind(line) != .none }
private let aiEventNeedle = Array(#""event_type":"ai."#.utf8)
