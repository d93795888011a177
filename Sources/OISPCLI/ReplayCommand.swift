import ArgumentParser
import Foundation
import OISPEvent
import OISPPipeline

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

    @Option(name: .long, help: "Seconds to wait for exporters to deliver before giving up on shutdown.")
    var shutdownTimeout: Double = 30

    func run() throws {
        var config = try global.loadConfig()
        capture.apply(to: &config)
        let logger = global.logger(for: config)
        let runtime = try SensorRuntime(config: config, logger: logger, output: output)
        runtime.markReady()
        runtime.overrides = { [capture] in capture.apply(to: &$0) }
        runtime.handleSignals()

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
        var batch: [ExportRecord] = []
        batch.reserveCapacity(256)
        let pipeline = runtime.pipeline
        let stage = runtime.redaction
        func consume(_ line: UnsafeBufferPointer<UInt8>) {
            lineNo += 1
            var n = line.count
            if n > 0 && line[n - 1] == 0x0D { n -= 1 }
            let l = UnsafeBufferPointer(rebasing: line[0..<n])
            if l.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            do {
                // lines in the sensor's own form are redacted where they lie; others are parsed
                if let r = stage.record(canonical: l) {
                    batch.append(r)
                } else {
                    var e = try OISPEvent(jsonBytes: l)
                    if let r = pipeline.record(for: &e) { batch.append(r) }
                }
                good += 1
            } catch {
                bad += 1
                logger.warning("skipping invalid line", metadata: ["file": "\(input)", "line": "\(lineNo)", "error": "\(error)"])
            }
            if batch.count >= 256 { pipeline.submit(records: batch, block: true); batch.removeAll(keepingCapacity: true) }
        }
        // One reused buffer, lines handed on in place: no copy per line or per read.
        var buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
        defer { buf.deallocate() }
        var have = 0
        var eof = false
        while !eof && !runtime.isStopRequested {
            if have == buf.count { // one line longer than the buffer: grow it
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buf.count * 2, alignment: 16)
                bigger.copyMemory(from: UnsafeRawBufferPointer(buf))
                buf.deallocate()
                buf = bigger
            }
            let n = read(fd, buf.baseAddress! + have, buf.count - have)
            if n < 0 {
                if errno == EINTR { continue }
                printError("error: reading \(input): \(String(cString: strerror(errno)))")
                break
            }
            if n == 0 { eof = true } else { have += n }
            let bytes = buf.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var start = 0
            while start < have, let nl = memchr(bytes + start, 0x0A, have - start) {
                let end = bytes.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                consume(UnsafeBufferPointer(start: bytes + start, count: end - start))
                start = end + 1
            }
            if eof && start < have { consume(UnsafeBufferPointer(start: bytes + start, count: have - start)); start = have }
            if start > 0 {
                memmove(bytes, bytes + start, have - start)
                have -= start
            }
        }
        if !batch.isEmpty { pipeline.submit(records: batch, block: true) }
        let stats = runtime.finish(timeout: shutdownTimeout)
        logger.info("replay finished", metadata: ["events": "\(good)", "invalid_lines": "\(bad)"])
        let lost = stats.exporters.values.reduce(0) { $0 + $1.droppedTotal }
        if !runtime.failures.isEmpty || lost > 0 { throw ExitCode(lost > 0 ? 75 : 0) }
        if bad > 0 && good == 0 { throw ExitCode(65) } // EX_DATAERR
    }
}
