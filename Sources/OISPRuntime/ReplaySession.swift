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

    /// Reads `fd` to its end (or a stop request) and submits every event to the pipeline. Each
    /// block of complete lines is parsed in parallel (a share per core), goes through the stages
    /// in file order (the GenAI stage pairs each response with its request), and is written —
    /// redacted as it is written — in parallel again; records reach the exporters in file order.
    public func run(fd: Int32) -> Counts {
        var lineNo = 0
        var bad = 0
        var good = 0
        let pipeline = runtime.pipeline

        /// What one worker made of its share of complete lines.
        final class Part: @unchecked Sendable {
            var events: [OISPEvent] = []
            var lines = 0, bad = 0
            var errors: [(line: Int, error: String)] = []
        }
        @Sendable func parse(_ chunk: UnsafeBufferPointer<UInt8>, into part: Part) {
            LineReader.forEachLine(in: chunk) { l in
                part.lines += 1
                if LineReader.isBlank(l) { return }
                do { part.events.append(try OISPEvent(jsonBytes: l)) } catch {
                    part.bad += 1
                    part.errors.append((part.lines, "\(error)"))
                }
            }
        }
        let workers = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        // a block's events are held as trees until written: 1 MiB blocks keep that small
        let reader = LineReader(fd: fd, blockBytes: 1 << 20)
        var readError: String?
        func nextBlock() -> UnsafeBufferPointer<UInt8>? {
            do { return try reader.next(stop: { runtime.isStopRequested }) } catch { readError = "\(error)"; return nil }
        }
        while !runtime.isStopRequested, let block = nextBlock() {
            let chunks = LineReader.shares(of: block, count: workers)
            let parts = chunks.map { _ in Part() }
            if parts.count == 1 { parse(chunks[0], into: parts[0]) } else {
                DispatchQueue.concurrentPerform(iterations: parts.count) { parse(chunks[$0], into: parts[$0]) }
            }
            // the stages in file order; a dropped event leaves a hole (nil) that is skipped
            var keep: [[Bool]] = []
            for p in parts { keep.append(p.events.indices.map { pipeline.runStages(&p.events[$0]) }) }
            // written in parallel, each job into its own slots of one buffer per share (never two
            // threads modifying one Swift array)
            let slots = parts.map { p -> UnsafeMutableBufferPointer<ExportRecord?> in
                let b = UnsafeMutableBufferPointer<ExportRecord?>.allocate(capacity: p.events.count)
                _ = b.initialize(from: repeatElement(nil, count: p.events.count))
                return b
            }
            defer { for b in slots { b.deinitialize().deallocate() } }
            let jobs = parts.indices.flatMap { pi in stride(from: 0, to: parts[pi].events.count, by: 64).map { (pi, $0) } }
            let write = { (j: Int) in
                let (pi, from) = jobs[j]
                let p = parts[pi]
                for k in from..<min(from + 64, p.events.count) where keep[pi][k] { slots[pi][k] = pipeline.write(p.events[k]) }
            }
            if jobs.count == 1 || workers == 1 { for j in jobs.indices { write(j) } } else if !jobs.isEmpty {
                DispatchQueue.concurrentPerform(iterations: jobs.count, execute: write)
            }
            for (pi, p) in parts.enumerated() {
                for (rel, err) in p.errors {
                    logger.warning("skipping invalid line", metadata: ["file": "\(input)", "line": "\(lineNo + rel)", "error": "\(err)"])
                }
                lineNo += p.lines; good += p.events.count; bad += p.bad
                let records = slots[pi].compactMap { $0 }
                var i = 0
                while i < records.count { // slices keep the queues' blocking fair
                    let j = min(records.count, i + 512)
                    pipeline.submit(records: records[i..<j], block: true)
                    i = j
                }
            }
        }
        return Counts(lines: lineNo, good: good, bad: bad, stopped: runtime.isStopRequested && !reader.atEOF, readError: readError)
    }
}

