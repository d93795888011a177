import ArgumentParser
import Foundation
import Logging
import OISPEvent
import OISPPipeline
import OISPRedact

/// `replay`: re-emit recorded JSONL through the pipeline (redaction included) and the exporters.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-emit recorded OISP events (JSONL) through redaction and every enabled exporter.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var capture: CaptureOptions

    @Option(name: [.short, .long], help: "Recorded events, one JSON object per line ('-' for stdin).")
    var input: String

    @Option(name: [.short, .long], help: "Also write the events to this JSONL file ('-' for stdout).")
    var output: String?

    @Option(name: .long, help: "Seconds exporters get to deliver once the input ends or a signal comes, before the rest is spooled or counted as dropped (default: [pipeline] shutdown_timeout_ms).")
    var shutdownTimeout: Double?

    func validate() throws {
        if let t = shutdownTimeout, !(t >= 0) { throw ValidationError("--shutdown-timeout must be a number of seconds >= 0") }
    }

    func run() throws {
        var config = try global.loadConfig()
        capture.apply(to: &config)
        let logger = global.logger(for: config)
        let runtime = try SensorRuntime(config: config, logger: logger, output: output)
        runtime.markReady()
        runtime.overrides = { [capture] in capture.apply(to: &$0) }
        runtime.handleSignals()
        // start-up touched code and constants (config parsing, plugin loading) the read loop does
        // not need again: hand those file pages back before the steady part, as `record` does
        releaseStartupPages()

        let fd: Int32
        if input == "-" { fd = STDIN_FILENO } else {
            fd = open(input, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                printError("error: cannot open \(input) for reading: \(String(cString: strerror(errno)))")
                throw ExitCode(66) // EX_NOINPUT
            }
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        var lineNo = 0
        var bad = 0
        var good = 0
        let pipeline = runtime.pipeline
        let stage = runtime.redaction
        let genai = runtime.genai
        let file = input

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
        var buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
        defer { buf.deallocate() }
        var have = 0
        var eof = false
        var atStart = true
        while !eof && !runtime.isStopRequested {
            if have == buf.count { // one line longer than the buffer: grow it
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buf.count * 2, alignment: 16)
                bigger.copyMemory(from: UnsafeRawBufferPointer(buf))
                buf.deallocate()
                buf = bigger
            }
            // wait for input in short steps: a signal stops reading even from an idle pipe
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 100)
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let n = read(fd, buf.baseAddress! + have, buf.count - have)
            if n < 0 {
                if errno == EINTR { continue }
                printError("error: reading \(input): \(String(cString: strerror(errno)))")
                break
            }
            if n == 0 { eof = true } else { have += n }
            let bytes = buf.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if atStart && (have >= 3 || eof) {
                // a UTF-8 byte order mark (files saved by some Windows tools) is not part of line 1
                if have >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF {
                    memmove(bytes, bytes + 3, have - 3)
                    have -= 3
                }
                atStart = false
            }
            if atStart { continue }
            // complete lines end at the last newline (at end of input: everything)
            var usable = 0
            if eof { usable = have } else {
                var k = have
                while k > 0 && bytes[k - 1] != 0x0A { k -= 1 }
                usable = k
            }
            if usable == 0 { continue }
            // cut into one share per worker at line boundaries
            var cuts = [0]
            for k in 1..<workers {
                let want = max(cuts.last!, usable * k / workers)
                if want >= usable { break }
                guard let nl = memchr(bytes + want, 0x0A, usable - want) else { break }
                let at = bytes.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
                if at < usable && at > cuts.last! { cuts.append(at) }
            }
            cuts.append(usable)
            let parts = (0..<(cuts.count - 1)).map { _ in Part() }
            let chunks = (0..<(cuts.count - 1)).map { UnsafeBufferPointer(start: bytes + cuts[$0], count: cuts[$0 + 1] - cuts[$0]) }
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
                        var e = p.deferred[k].event
                        if stage.process(&e) { finished[pi][k] = ExportRecord(event: e) }
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
                    logger.warning("skipping invalid line", metadata: ["file": "\(file)", "line": "\(lineNo + rel)", "error": "\(err)"])
                }
                lineNo += p.lines; good += p.good; bad += p.bad
                var i = 0
                while i < p.records.count { // slices keep the queues' blocking fair
                    let j = min(p.records.count, i + 512)
                    pipeline.submit(records: p.records[i..<j], block: true)
                    i = j
                }
            }
            if usable > 0 {
                memmove(bytes, bytes + usable, have - usable)
                have -= usable
            }
        }
        let stopped = runtime.isStopRequested && !eof
        let stats = runtime.finish(budget: shutdownTimeout)
        var extra: Logger.Metadata = ["events": "\(good)", "invalid_lines": "\(bad)"]
        if stopped { extra["input"] = "stopped at a signal after line \(lineNo) (the rest was not read)" }
        let status = runtime.logFinalLine("replay", stats, extra: extra, failure: bad > 0 && good == 0 ? 65 : 0) // 65: EX_DATAERR
        if status != 0 { throw ExitCode(status) }
    }
}

/// Which events the GenAI stage reads: `ai.request`, and `ai.response` / `ai.embedding`
/// (by a byte search for `"event_type":"ai.`); streamed chunks and the rest are `.none`.
enum AIEventKind { case none, request, response }

func aiEventKind(_ line: UnsafeBufferPointer<UInt8>) -> AIEventKind {
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

func isAIEvent(_ line: UnsafeBufferPointer<UInt8>) -> Bool { aiEventKind(line) != .none }
private let aiEventNeedle = Array(#""event_type":"ai."#.utf8)
